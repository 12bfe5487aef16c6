using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Batches;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Batches;

/// <summary>
/// Follows each open batch through its spot job, on the replica that holds the control-loop lease:
/// <list type="bullet">
/// <item>past <c>expires_at</c> (24 h after creation) a batch not yet done is <c>expired</c> and its job cancelled;</item>
/// <item><c>validating</c> becomes <c>in_progress</c> once the job has run;</item>
/// <item><c>cancelling</c> becomes <c>cancelled</c> once the job has ended;</item>
/// <item>a job that ended without its worker posting the results (failed, cancelled by hand) fails the batch.</item>
/// </list>
/// Every step is a conditional update on the status read, so it never undoes the API's or the worker's. The batch's
/// key is revoked when it ends.
/// </summary>
internal sealed partial class BatchLoop(Database database, HotRows rows, Leadership leadership, HeadroomSettings settings, TimeProvider time, ILogger<BatchLoop> logger)
    : LeaderLoop(leadership, time, logger)
{
    protected override TimeSpan Period => settings.SchedulerPeriod;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => PassAsync(cancellationToken);

    internal async Task PassAsync(CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var open = BatchStatus.Open;
        var batches = await db.Batches.AsNoTracking().Where(b => open.Contains(b.Status)).OrderBy(b => b.Id).ToListAsync(cancellationToken);
        foreach (var batch in batches)
        {
            var now = Time.GetUtcNow();
            var job = batch.JobId is null ? null : await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == batch.JobId, cancellationToken);
            WorkloadCodes.TryParseJobState(job?.State ?? "", out var state);
            var ended = job is null || state.IsFinal();
            if (now >= batch.ExpiresAt && batch.Status is BatchStatus.Validating or BatchStatus.InProgress)
            {
                if (await MoveAsync(db, batch, BatchStatus.Expired, now, cancellationToken))
                {
                    if (job is not null)
                        await StopJobAsync(db, job.Id, $"batch {batch.Id} expired", now, cancellationToken);
                    await RevokeKeyAsync(db, rows, batch, now, cancellationToken);
                    LogEnded(logger, batch.Id, BatchStatus.Expired, "its 24 h window passed");
                }
            }
            else if (batch.Status == BatchStatus.Cancelling && ended)
            {
                if (await MoveAsync(db, batch, BatchStatus.Cancelled, now, cancellationToken))
                {
                    await RevokeKeyAsync(db, rows, batch, now, cancellationToken);
                    LogEnded(logger, batch.Id, BatchStatus.Cancelled, "its job stopped");
                }
            }
            else if (batch.Status is BatchStatus.Validating or BatchStatus.InProgress && ended)
            {
                // Read again: the worker posts its results and then exits, so a succeeded job may have completed the batch since.
                var reason = $"its job {batch.JobId} ended {job?.State ?? "missing"} ({job?.StateReason}) without results";
                var errors = BatchView.WriteErrors([new(null, "batch_worker_failed", reason, null)]);
                if (await db.Batches.Where(b => b.Id == batch.Id && b.Status == batch.Status)
                        .ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, BatchStatus.Failed).SetProperty(b => b.FailedAt, now).SetProperty(b => b.Errors, errors), cancellationToken) > 0)
                {
                    await RevokeKeyAsync(db, rows, batch, now, cancellationToken);
                    LogEnded(logger, batch.Id, BatchStatus.Failed, reason);
                }
            }
            else if (batch.Status == BatchStatus.Validating && job?.StartedAt is not null)
            {
                await MoveAsync(db, batch, BatchStatus.InProgress, now, cancellationToken);
            }
        }
    }

    /// <summary>Moves a batch from the status read to <paramref name="to"/>, stamping the time of <paramref name="to"/>; false when it had moved meanwhile.</summary>
    private static async Task<bool> MoveAsync(HeadroomDb db, BatchRow batch, string to, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var query = db.Batches.Where(b => b.Id == batch.Id && b.Status == batch.Status);
        return to switch
        {
            BatchStatus.InProgress => await query.ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, to).SetProperty(b => b.InProgressAt, now), cancellationToken),
            BatchStatus.Expired => await query.ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, to).SetProperty(b => b.ExpiredAt, now), cancellationToken),
            BatchStatus.Cancelled => await query.ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, to).SetProperty(b => b.CancelledAt, now), cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(to), to, "not a status the loop moves to"),
        } > 0;
    }

    /// <summary>Stops a batch's job the way <c>POST /v1/jobs/{id}/cancel</c> does: a queued job at once, a started one by the scheduler.</summary>
    internal static async Task StopJobAsync(HeadroomDb db, string jobId, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            db.ChangeTracker.Clear();
            var job = await db.Jobs.AsTracking().SingleOrDefaultAsync(j => j.Id == jobId, cancellationToken);
            if (job is null || !WorkloadCodes.TryParseJobState(job.State, out var state) || state.IsFinal())
                return;
            if (state == JobState.Queued)
                JobTransitions.Move(db, job, JobState.Cancelled, reason, now);
            else
            {
                job.CancelRequested = true;
                job.Version++;
            }
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return;
            }
            catch (DbUpdateConcurrencyException)
            {
                // The scheduler moved the job meanwhile: read it again.
            }
        }
    }

    internal static async Task RevokeKeyAsync(HeadroomDb db, HotRows rows, BatchRow batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await db.ApiKeys.Where(k => k.Id == batch.ApiKeyId && k.RevokedAt == null).ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, now), cancellationToken);
        rows.KeysChanged();
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Batch {BatchId} is {Status}: {Reason}")]
    private static partial void LogEnded(ILogger logger, string batchId, string status, string reason);
}
