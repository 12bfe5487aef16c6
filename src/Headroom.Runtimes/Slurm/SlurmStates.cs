using Headroom.Core.Workloads;

namespace Headroom.Runtimes.Slurm;

/// <summary>
/// Slurm's job states and pending reasons in Headroom's words. Pure: it sees one snapshot of one job.
///
/// Preemption with requeue is mostly invisible in a snapshot: a preempted spot job shows RUNNING (with a
/// PreemptTime) through its grace, then COMPLETING, then PENDING with reason BeginTime and a higher restart
/// count. So preemption is told by <see cref="SlurmJobObservation.Restarts"/> growing between two
/// observations, and the states here say what the job does now.
/// </summary>
public static class SlurmStates
{
    /// <param name="state">Slurm's base state (<c>JobState</c>; flags such as <c>+COMPLETING</c> are ignored).</param>
    /// <param name="reason">Slurm's reason (<c>Reason</c>, pending jobs mostly); null or <c>None</c> when there is none.</param>
    /// <param name="plannedNodes">Whether the backfill scheduler already planned the pending job onto nodes (<c>SchedNodeList</c>).</param>
    /// <param name="noticeGiven">Whether Slurm started preempting the running job (<c>PreemptTime</c> set): it is in its grace time.</param>
    /// <returns>The state and why; null for a state this table does not know (a newer Slurm): the caller
    /// keeps the job's last known state rather than invent one.</returns>
    public static RuntimeJobStatus? Map(string state, string? reason = null, bool plannedNodes = false, bool noticeGiven = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        var baseState = state.Split('+', ',')[0].Trim().ToUpperInvariant();
        reason = reason is null or "None" or "(null)" or "" ? null : reason;
        return baseState switch
        {
            "PENDING" when reason is "BeginTime" => Queued("requeued or deferred: waiting for its earliest start time"),
            "PENDING" when plannedNodes => new(JobState.Scheduled, "planned onto nodes; waiting for them to free up"),
            "PENDING" => Queued(PendingReason(reason)),
            "REQUEUED" or "REQUEUE_FED" => Queued("requeued"),
            "REQUEUE_HOLD" => Queued("requeued and held"),
            "RESV_DEL_HOLD" => Queued("held: its reservation was deleted"),
            "CONFIGURING" => new(JobState.Starting, "nodes allocated; being configured"),
            "RUNNING" when reason is "Prolog" => new(JobState.Starting, "nodes allocated; prolog running"),
            "RUNNING" when noticeGiven => Running("preemption notice given; running out its grace time"),
            "RUNNING" or "SIGNALING" or "STAGE_OUT" or "RESIZING" => Running("running"),
            "STOPPED" => Running("stopped (SIGSTOP); still holding its nodes"),
            "COMPLETING" => Running("ended; Slurm is cleaning up its processes"),
            "SUSPENDED" => new(JobState.Preempted, "suspended"),
            "PREEMPTED" => new(JobState.Preempted, "preempted by higher-tier work"),
            "COMPLETED" => new(JobState.Succeeded, "exited 0"),
            "FAILED" => Failed(reason is null ? "exited non-zero" : "exited non-zero: " + reason),
            "TIMEOUT" => Failed("reached its max duration"),
            "DEADLINE" => Failed("reached its deadline"),
            "OUT_OF_MEMORY" => Failed("ran out of memory"),
            "SPECIAL_EXIT" => Failed("exited with Slurm's special exit code"),
            "CANCELLED" => new(JobState.Cancelled, "cancelled"),
            "REVOKED" => new(JobState.Cancelled, "revoked by another cluster of the federation"),
            "NODE_FAIL" => new(JobState.Lost, "a node of the job failed"),
            "BOOT_FAIL" => new(JobState.Lost, "a node of the job failed to boot"),
            _ => null,
        };
    }

    private static RuntimeJobStatus Queued(string reason) => new(JobState.Queued, reason);

    private static RuntimeJobStatus Running(string reason) => new(JobState.Running, reason);

    private static RuntimeJobStatus Failed(string reason) => new(JobState.Failed, reason);

    private static string PendingReason(string? reason) => reason switch
    {
        null => "waiting to be scheduled",
        "Resources" => "waiting for GPUs to free up",
        "Priority" => "higher-priority jobs are ahead of it",
        "ReqNodeNotAvail" or "NodeDown" => "its planned nodes are unavailable",
        "PartitionDown" or "PartitionInactive" => "its partition is not accepting work",
        "PartitionNodeLimit" or "PartitionTimeLimit" or "PartitionConfig" => "its partition's limits do not allow it",
        "JobHeldUser" or "JobHeldAdmin" => "held",
        "Dependency" => "waiting for a job it depends on",
        "DependencyNeverSatisfied" => "a job it depends on failed",
        "BadConstraints" => "no node can satisfy it",
        "launch failed requeued held" => "its launch failed; requeued and held",
        _ => "pending: " + reason,
    };
}
