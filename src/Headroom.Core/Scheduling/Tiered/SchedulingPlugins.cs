namespace Headroom.Core.Scheduling.Tiered;

/// <summary>
/// The scheduler's extension points by name, in the order they run for each pending workload:
/// filters (each node must pass all, in config order) → score (ranks the survivors and picks the
/// gang's nodes, topology first) → preempt (only when no set of nodes passed).
/// </summary>
public static class SchedulingPlugins
{
    public const string Schedulable = "schedulable";
    public const string Region = "region";
    public const string GpuModel = "gpu-model";
    public const string Reservation = "reservation";
    public const string Quota = "quota";
    public const string OnDemandCap = "on-demand-cap";
    public const string Resources = "resources";

    public const string BestFit = "best-fit";
    public const string Spread = "spread";

    public const string CheapestVictims = "cheapest-victims";
    public const string NoPreemption = "none";

    /// <summary>Every filter, in the default order: cheap static checks first, then admission, then capacity.</summary>
    public static IReadOnlyList<string> FilterNames { get; } = [Schedulable, Region, GpuModel, Reservation, Quota, OnDemandCap, Resources];
}
