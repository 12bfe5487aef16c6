using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Models;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Moves model calls from the token journal into the usage ledger, on the replica that holds the control-loop lease.
/// A call's journal row was made durable before its response completed (<c>Models/CallJournal</c>); each pass appends, for
/// every row not yet metered, an <c>input_tokens</c> event with id <c>{request id}:input_tokens</c> and (when the
/// call generated any) an <c>output_tokens</c> event with id <c>{request id}:output_tokens</c>, then marks the row
/// metered. The ledger refuses an id it holds, so a pass cut short after appending and before marking, repeated after
/// a crash or on another replica, adds nothing. On SQLite each pass first drains this replica's spool, which appends
/// the spooled calls' events itself (<c>CallJournal</c>): what is left here is rows an earlier version wrote unmetered.
/// </summary>
internal sealed partial class TokenMeter(
    Database database, Leadership leadership, UsageWriter writer, Models.CallJournal journal, BackgroundLane lane, HeadroomSettings settings, TimeProvider time,
    ILogger<TokenMeter> logger)
    : LeaderLoop(leadership, time, logger)
{
    // Small enough that a batch holds SQLite's one write lock for milliseconds, not the calls' own journal commits.
    private const int Batch = 200;

    protected override TimeSpan Period => settings.SchedulerPeriod;

    // Its work follows the call rate: on the background lane, below the requests' priority.
    protected override Task RunPassAsync(CancellationToken cancellationToken) => lane.RunAsync(() => MeterAsync(cancellationToken), cancellationToken);

    /// <summary>
    /// One pass over every unmetered call; returns how many calls it metered. Each batch of calls is appended to the
    /// ledger and marked metered in one transaction, so a batch counts whole or not at all.
    /// </summary>
    internal async Task<int> MeterAsync(CancellationToken cancellationToken)
    {
        // The calls still in this replica's spool (SQLite) first, metered as they are moved, so a pass meters every call
        // answered before it.
        await journal.DrainAsync(cancellationToken);
        var metered = 0;
        while (true)
        {
            var count = await MeterBatchAsync(cancellationToken);
            metered += count;
            if (count < Batch)
                break;
        }
        if (metered > 0)
            LogMetered(logger, metered);
        return metered;
    }

    private async Task<int> MeterBatchAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            // A turn per batch, so calls' records are committed between the batches of a long pass.
            using var turn = await database.WriteTurnAsync(cancellationToken);
            await using var db = database.Open();
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            var rows = await db.TokenJournal.AsNoTracking().Where(r => r.MeteredAt == null)
                .OrderBy(r => r.ServedAt).ThenBy(r => r.RequestId).Take(Batch).ToListAsync(cancellationToken);
            if (rows.Count == 0)
                return 0;
            var requestIds = rows.Select(r => r.RequestId).ToList();
            var now = Time.GetUtcNow();
            try
            {
                await writer.AddManyInTransactionAsync(db, [.. rows.SelectMany(Events)], cancellationToken);
                await db.TokenJournal.Where(r => EF.Parameter(requestIds).Contains(r.RequestId)) // one list parameter, as in UsageWriter
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.MeteredAt, now), cancellationToken);
                await tx.CommitAsync(cancellationToken);
                return rows.Count;
            }
            catch (Exception e) when (Api.Persist.IsUniqueViolation(e) && attempt < 8)
            {
                // Another writer appended to one of these orgs' chains first (a job's usage), or another pass stored these
                // calls' events between our check and our insert (a replica that has just lost the lease, a direct call on
                // PostgreSQL): read the rows and the tails again.
            }
        }
    }

    /// <summary>The usage events of one call: its input tokens, and its output tokens when there are any.</summary>
    internal static IEnumerable<UsageEvent> Events(TokenJournalRow row)
    {
        Tier? tier = row.DedicatedTier is { } code && WorkloadCodes.TryParseTier(code, out var t) ? t : null;
        var dimensions = new UsageDimensions(tier, Region: row.Region, Model: row.Model, ApiKeyId: row.ApiKeyId, Batch: row.Batch);
        yield return new UsageEvent(row.RequestId + ":input_tokens", row.OrgId, row.ProjectId, Meter.InputTokens, row.InputTokens,
            dimensions, row.ServedAt, row.ServedAt, Estimated: row.Estimated);
        if (row.OutputTokens > 0)
        {
            yield return new UsageEvent(row.RequestId + ":output_tokens", row.OrgId, row.ProjectId, Meter.OutputTokens, row.OutputTokens,
                dimensions, row.ServedAt, row.ServedAt, Estimated: row.Estimated);
        }
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Debug, Message = "Metered the tokens of {Count} model calls")]
    private static partial void LogMetered(ILogger logger, int count);
}
