using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Workloads;

/// <summary>
/// Where a job stands. Persisted and sent by code (<see cref="WorkloadCodes"/>), frozen by a test.
/// <code>
///   queued → scheduled → starting → running → succeeded | failed | cancelled
///                                      │
///                                      ├→ preempted ─(requeue)→ queued (next attempt)
///                                      └→ lost ──────(requeue)→ queued (next attempt)
/// </code>
/// A queued job can also be cancelled. Every transition is recorded as an event with a reason.
/// </summary>
public enum JobState
{
    Queued,
    Scheduled,
    Starting,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Preempted,
    Lost,
}

public static class WorkloadCodes
{
    public static string ToCode(this JobState state) => state switch
    {
        JobState.Queued => "queued",
        JobState.Scheduled => "scheduled",
        JobState.Starting => "starting",
        JobState.Running => "running",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        JobState.Cancelled => "cancelled",
        JobState.Preempted => "preempted",
        JobState.Lost => "lost",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static string ToCode(this Tier tier) => tier switch
    {
        Tier.Spot => "spot",
        Tier.OnDemand => "on-demand",
        Tier.Reserved => "reserved",
        Tier.Internal => "internal",
        _ => throw new ArgumentOutOfRangeException(nameof(tier)),
    };

    public static string ToCode(this CheckpointPolicy policy) => policy switch
    {
        CheckpointPolicy.None => "none",
        CheckpointPolicy.Requeue => "requeue",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    public static bool TryParseJobState(string? code, out JobState state) => TryParse(code, out state);

    public static bool TryParseTier(string? code, out Tier tier) => TryParse(code, out tier);

    public static bool TryParseCheckpoint(string? code, out CheckpointPolicy policy) => TryParse(code, out policy);

    /// <summary>Succeeded, failed and cancelled are final; preempted and lost are final unless the job is requeued.</summary>
    public static bool IsFinal(this JobState state) =>
        state is JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Preempted or JobState.Lost;

    /// <summary>The codes of the states that are not final: queued, or holding capacity.</summary>
    public static IReadOnlyList<string> ActiveCodes { get; } = [.. Enum.GetValues<JobState>().Where(s => !s.IsFinal()).Select(s => s.ToCode())];

    /// <summary>States in which a job holds capacity on the fleet.</summary>
    public static bool HoldsCapacity(this JobState state) => state is JobState.Scheduled or JobState.Starting or JobState.Running;

    private static bool TryParse<T>(string? code, out T value) where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            var text = candidate switch
            {
                JobState s => s.ToCode(),
                Tier t => t.ToCode(),
                CheckpointPolicy c => c.ToCode(),
                _ => null,
            };
            if (text == code)
            {
                value = candidate;
                return true;
            }
        }
        value = default;
        return false;
    }
}
