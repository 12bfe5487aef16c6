namespace Headroom.Runtimes;

/// <summary>
/// A job's state as Headroom reports it, whatever runtime runs it (the issue-4 state machine):
/// queued → scheduled → starting → running → succeeded | failed | cancelled | preempted (→ queued
/// again when it requeues) | lost (its node died; requeued when allowed).
/// </summary>
public enum RuntimeJobState
{
    /// <summary>Waiting; no placement yet.</summary>
    Queued,

    /// <summary>A placement is planned (nodes chosen), not started yet.</summary>
    Scheduled,

    /// <summary>Nodes allocated, the workload is being launched.</summary>
    Starting,

    Running,
    Succeeded,
    Failed,
    Cancelled,

    /// <summary>Stopped to make room for higher-tier work; it is queued again if it may be requeued.</summary>
    Preempted,

    /// <summary>Its node died or the runtime no longer knows it.</summary>
    Lost,
}

/// <summary>A mapped state and why, in words an operator or tenant can read.</summary>
public sealed record RuntimeJobStatus(RuntimeJobState State, string Reason)
{
    public bool IsTerminal => State is RuntimeJobState.Succeeded or RuntimeJobState.Failed or RuntimeJobState.Cancelled
        or RuntimeJobState.Preempted or RuntimeJobState.Lost;
}
