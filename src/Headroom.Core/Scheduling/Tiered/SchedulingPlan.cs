using System.Collections.Immutable;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>Start a pending workload on these nodes (one allocation per gang member).</summary>
public sealed record StartDecision(string WorkloadId, ImmutableArray<Allocation> Allocations);

/// <summary>Warn a running workload that it is preempted; it is stopped at <see cref="Deadline"/>.</summary>
public sealed record NoticeDecision(string WorkloadId, DateTimeOffset Deadline, string PreemptedFor, bool Requeue);

/// <summary>Why a running workload is stopped now.</summary>
public enum StopCause
{
    NoticeExpired = 0,
    MaxDurationReached = 1,
    /// <summary>A reserved workload whose block has ended or was cancelled: reserved work runs only inside its block.</summary>
    ReservationEnded = 2,
}

/// <summary>Stop a running workload now; with <see cref="Requeue"/> it goes back to the queue from its checkpoint.</summary>
public sealed record StopDecision(string WorkloadId, StopCause Cause, bool Requeue);

/// <summary>One reason a workload waits, as data: a stable code and a sentence for people.</summary>
public sealed record PendingReason(string Code, string Message);

/// <summary>A workload that stays queued, its 1-based position among the pending, and why.</summary>
public sealed record PendingDecision(string WorkloadId, int QueuePosition, ImmutableArray<PendingReason> Reasons);

/// <summary>The outcome of one scheduling cycle: what to start, warn, stop, and why the rest wait.</summary>
public sealed record SchedulingPlan(
    ImmutableArray<StartDecision> Starts,
    ImmutableArray<NoticeDecision> Notices,
    ImmutableArray<StopDecision> Stops,
    ImmutableArray<PendingDecision> Pending);
