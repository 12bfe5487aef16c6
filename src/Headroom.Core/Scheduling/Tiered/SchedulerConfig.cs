using System.Collections.Immutable;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>A pool: one GPU model in one region.</summary>
public readonly record struct Pool(string Region, string GpuModel);

/// <summary>A quota key; <see cref="GpuModel"/> "*" covers every model.</summary>
public readonly record struct QuotaKey(string Org, Tier Tier, string GpuModel);

/// <summary>
/// The scheduler's settings, immutable. <see cref="Validate"/> lists every problem at once so
/// the server can refuse to start with all of them shown.
/// </summary>
public sealed record SchedulerConfig
{
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(120);

    /// <summary>Notice before a preempted workload of this tier is stopped; tiers not listed get <see cref="DefaultGrace"/>.</summary>
    public ImmutableDictionary<Tier, TimeSpan> Grace { get; init; } = ImmutableDictionary<Tier, TimeSpan>.Empty;

    /// <summary>A spot workload younger than this is not preempted (no thrash loops).</summary>
    public TimeSpan SpotMinimumRunTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Milli-GPUs that may be sold on-demand per pool; pools not listed have no cap.</summary>
    public ImmutableDictionary<Pool, long> OnDemandCaps { get; init; } = ImmutableDictionary<Pool, long>.Empty;

    /// <summary>Milli-GPUs per org × tier × model; keys not listed have no quota.</summary>
    public ImmutableDictionary<QuotaKey, long> Quotas { get; init; } = ImmutableDictionary<QuotaKey, long>.Empty;

    /// <summary>Filters in the order they run; each rejects a node with a reason.</summary>
    public ImmutableArray<string> Filters { get; init; } = [.. SchedulingPlugins.FilterNames];

    /// <summary>How candidate nodes are ranked.</summary>
    public string Score { get; init; } = SchedulingPlugins.BestFit;

    /// <summary>How victims are chosen when nothing fits; "none" turns preemption off.</summary>
    public string Preempt { get; init; } = SchedulingPlugins.CheapestVictims;

    public TimeSpan GraceFor(Tier tier) => Grace.TryGetValue(tier, out var grace) ? grace : DefaultGrace;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var f in Filters.Where(f => !SchedulingPlugins.FilterNames.Contains(f)))
            errors.Add($"filters: unknown filter '{f}' (known: {string.Join(", ", SchedulingPlugins.FilterNames)})");
        if (Score is not (SchedulingPlugins.BestFit or SchedulingPlugins.Spread))
            errors.Add($"score: unknown plugin '{Score}' (known: {SchedulingPlugins.BestFit}, {SchedulingPlugins.Spread})");
        if (Preempt is not (SchedulingPlugins.CheapestVictims or SchedulingPlugins.NoPreemption))
            errors.Add($"preempt: unknown plugin '{Preempt}' (known: {SchedulingPlugins.CheapestVictims}, {SchedulingPlugins.NoPreemption})");
        foreach (var (tier, grace) in Grace.Where(g => g.Value < TimeSpan.Zero))
            errors.Add($"grace: {tier} must not be negative");
        if (SpotMinimumRunTime < TimeSpan.Zero)
            errors.Add("spot_minimum_run_time must not be negative");
        foreach (var (pool, cap) in OnDemandCaps.Where(c => c.Value < 0))
            errors.Add($"on_demand_caps: {pool.Region}/{pool.GpuModel} must not be negative");
        foreach (var (key, quota) in Quotas.Where(q => q.Value < 0))
            errors.Add($"quotas: {key.Org}/{key.Tier}/{key.GpuModel} must not be negative");
        return errors;
    }
}
