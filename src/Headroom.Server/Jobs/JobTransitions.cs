using Headroom.Core.Workloads;
using Headroom.Store;
using Headroom.Store.Jobs;

namespace Headroom.Server.Jobs;

/// <summary>
/// The one way a job changes state: the row and its event change together, in the caller's unit of
/// work, and the version moves so a concurrent writer working from the old state is refused.
/// </summary>
internal static class JobTransitions
{
    public static void Move(HeadroomDb db, JobRow job, JobState to, string reason, DateTimeOffset now)
    {
        db.JobEvents.Add(new JobEventRow
        {
            JobId = job.Id, OrgId = job.OrgId, Attempt = job.Attempt, Time = now, FromState = job.State, ToState = to.ToCode(), Reason = reason,
            // The attempt's placement travels with its start: metering prices the attempt by it after a requeue cleared the row's.
            Placement = to == JobState.Running && job.State != to.ToCode() ? job.Placement : null,
        });
        job.State = to.ToCode();
        job.StateReason = reason;
        job.UpdatedAt = now;
        job.Version++;
        if (to.IsFinal())
        {
            job.EndedAt = now;
            job.QueuePosition = null;
        }
    }

    /// <summary>Puts a preempted or lost job back in the queue as its next attempt, from its checkpoint.</summary>
    public static void Requeue(HeadroomDb db, JobRow job, string reason, DateTimeOffset now)
    {
        Move(db, job, JobState.Queued, reason, now);
        job.Attempt++;
        job.Placement = null;
        job.Runtime = null;
        job.RuntimeHandle = null;
        job.NoticeDeadline = null;
        job.EndedAt = null;
        job.ExitCode = null;
    }
}
