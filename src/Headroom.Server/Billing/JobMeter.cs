using System.Text.Json;
using Headroom.Core.Metering;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Meters the GPU time of jobs, on the replica that holds the control-loop lease. Each pass finds job attempts that
/// have left <c>running</c> (their ending event is recorded) and have no usage event yet, and appends one
/// <see cref="UsageEvent.GpuTime"/> per attempt to the org's ledger:
/// <list type="bullet">
/// <item>from the attempt's <c>running</c> event to the event that took it out of running;</item>
/// <item>milli-GPUs, GPU model and region from the attempt's placement (kept on its running event) and its nodes;</item>
/// <item><c>not_charged_from</c> at the attempt's <c>notice: ...</c> event when it was preempted;</item>
/// <item>idempotency id <c>{job id}:{attempt}</c>, so a pass repeated after a crash or on another replica adds nothing.</item>
/// </list>
/// An attempt that never reached running has no ending event from running and is never charged.
/// </summary>
internal sealed partial class JobMeter(
    Database database, Leadership leadership, UsageWriter writer, HeadroomSettings settings, TimeProvider time, ILogger<JobMeter> logger)
    : LeaderLoop(leadership, time, logger)
{
    private const int Batch = 200;
    private static readonly string Running = JobState.Running.ToCode();
    private const string NoticePrefix = "notice: ";
    private readonly HashSet<string> _unmeasurable = [];

    protected override TimeSpan Period => settings.SchedulerPeriod;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => MeterAsync(cancellationToken);

    /// <summary>One pass: meters every finished, unmetered attempt; returns how many usage events it appended.</summary>
    internal async Task<int> MeterAsync(CancellationToken cancellationToken)
    {
        var appended = 0;
        long after = 0;
        while (true)
        {
            await using var db = database.Open();
            // Ending events: the one transition out of running an attempt has. Those whose attempt is already in the
            // ledger are skipped in SQL, so a pass over a metered history reads nothing else.
            var endings = await db.JobEvents.AsNoTracking()
                .Where(e => e.Id > after && e.FromState == Running && e.ToState != Running)
                .Where(e => !db.UsageEntries.Any(u => u.Id == e.JobId + ":" + e.Attempt.ToString()))
                .OrderBy(e => e.Id).Take(Batch).ToListAsync(cancellationToken);
            foreach (var ending in endings)
            {
                if (await MeasureAsync(db, ending, cancellationToken) is { } usage && await writer.AppendAsync(usage, cancellationToken))
                    appended++;
            }
            if (endings.Count < Batch)
                break;
            after = endings[^1].Id;
        }
        if (appended > 0)
            LogMetered(logger, appended);
        return appended;
    }

    /// <summary>The usage event of the attempt that <paramref name="ending"/> ends, or null when it cannot be measured (logged).</summary>
    private async Task<UsageEvent?> MeasureAsync(HeadroomDb db, JobEventRow ending, CancellationToken cancellationToken)
    {
        var id = $"{ending.JobId}:{ending.Attempt}";
        var job = await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == ending.JobId, cancellationToken);
        var events = await db.JobEvents.AsNoTracking()
            .Where(e => e.JobId == ending.JobId && e.Attempt == ending.Attempt && e.Id <= ending.Id)
            .OrderBy(e => e.Id).ToListAsync(cancellationToken);
        var started = events.FirstOrDefault(e => e.ToState == Running && e.FromState != Running);
        if (job is null || started is null || !WorkloadCodes.TryParseTier(job.Tier, out var tier))
        {
            LogUnmeasurable(id, "its job, running event or tier is missing");
            return null;
        }
        // Older events carry no placement; the job row still has it while this is the job's current attempt.
        var placementJson = started.Placement ?? (job.Attempt == ending.Attempt ? job.Placement : null);
        var placement = placementJson is null ? null : JsonSerializer.Deserialize<List<PlacementView>>(placementJson, Json.Options);
        if (placement is not { Count: > 0 })
        {
            LogUnmeasurable(id, "its placement is unknown");
            return null;
        }
        // A gang is placed in one pool (region × GPU model): the first node names it.
        var node = await db.Nodes.AsNoTracking().SingleOrDefaultAsync(n => n.Name == placement[0].Node, cancellationToken);
        if (node is null)
        {
            LogUnmeasurable(id, $"node {placement[0].Node} is no longer in the fleet");
            return null;
        }
        var milliGpus = placement.Sum(p => (long)p.Gpus.Count * p.GpuMilli);
        var notice = events.FirstOrDefault(e => e.FromState == Running && e.ToState == Running && e.Reason.StartsWith(NoticePrefix, StringComparison.Ordinal));
        var usage = UsageEvent.GpuAttempt(id, job.OrgId, job.ProjectId, milliGpus, tier, node.GpuModel, node.Region, started.Time, ending.Time, notice?.Time);
        if (usage.Validate() is { Count: > 0 } problems)
        {
            LogUnmeasurable(id, string.Join(" ", problems));
            return null;
        }
        return usage;
    }

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Metered {Count} job attempts")]
    private static partial void LogMetered(ILogger logger, int count);

    /// <summary>Says once per replica why an attempt cannot be metered; it stays a candidate, so a fix to its data meters it.</summary>
    private void LogUnmeasurable(string attemptId, string reason)
    {
        lock (_unmeasurable)
        {
            if (!_unmeasurable.Add(attemptId))
                return;
        }
        LogUnmeasurable(logger, attemptId, reason);
    }

    [LoggerMessage(EventId = 6102, Level = LogLevel.Warning, Message = "Job attempt {AttemptId} cannot be metered: {Reason}")]
    private static partial void LogUnmeasurable(ILogger logger, string attemptId, string reason);

}
