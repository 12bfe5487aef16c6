using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Coordination;

/// <summary>
/// A control loop that runs on the lease holder only: it forgets idempotency records past their
/// retention, rate-limit windows and in-flight leases that no longer count, request logs past their project's retention
/// (all of them once a project keeps none), and token journal rows metered into the ledger longer ago than
/// <see cref="HeadroomSettings.TokenJournalRetention"/> (an unmetered row is never deleted: it is a call not yet billed). Each pass is counted in <c>headroom_control_loop_passes_total</c> with this replica's
/// id, which is how an operator (and the replica test) sees which replica runs the loops.
/// </summary>
internal sealed partial class Housekeeping(
    Database database, Leadership leadership, Models.ModelRateLimits rateLimits, HeadroomSettings settings, TimeProvider time, ILogger<Housekeeping> logger)
    : LeaderLoop(leadership, time, logger)
{
    private static readonly Prometheus.Counter s_passes = Prometheus.Metrics.CreateCounter(
        "headroom_control_loop_passes_total", "Passes of the leader-only control loops run by this replica.", "loop");

    private long _passes;

    /// <summary>Passes this replica has run; only ever grows on the lease holder.</summary>
    public long Passes => Interlocked.Read(ref _passes);

    protected override TimeSpan Period => settings.LeaseTtl / 3;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => PassAsync(cancellationToken);

    /// <summary>One pass; tests run it with their own clock.</summary>
    internal async Task PassAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var cutoff = now - settings.IdempotencyRetention;
        await using var db = database.Open();
        var removed = await db.IdempotencyRecords.Where(r => r.CreatedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        if (removed > 0)
            LogForgot(logger, removed);
        await rateLimits.PruneAsync(now, cancellationToken);
        var logs = await Models.RequestLogs.PruneAsync(db, now, cancellationToken);
        var meteredBefore = now - settings.TokenJournalRetention;
        var journal = await db.TokenJournal.Where(r => r.MeteredAt != null && r.MeteredAt < meteredBefore).ExecuteDeleteAsync(cancellationToken);
        if (logs + journal > 0)
            LogPruned(logger, logs, journal);
        Interlocked.Increment(ref _passes);
        s_passes.WithLabels("housekeeping").Inc();
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Forgot {Count} idempotency records past retention")]
    private static partial void LogForgot(ILogger logger, int count);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Deleted {Logs} request logs past their project's retention and {Journal} metered token journal rows")]
    private static partial void LogPruned(ILogger logger, int logs, int journal);
}
