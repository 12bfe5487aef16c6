using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Coordination;

/// <summary>
/// A control loop that runs on the lease holder only: it forgets idempotency records past their
/// retention, and rate-limit windows and in-flight leases that no longer count. Each pass is counted in <c>headroom_control_loop_passes_total</c> with this replica's
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

    protected override async Task RunPassAsync(CancellationToken cancellationToken)
    {
        var cutoff = Time.GetUtcNow() - settings.IdempotencyRetention;
        await using var db = database.Open();
        var removed = await db.IdempotencyRecords.Where(r => r.CreatedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        if (removed > 0)
            LogForgot(logger, removed);
        await rateLimits.PruneAsync(Time.GetUtcNow(), cancellationToken);
        Interlocked.Increment(ref _passes);
        s_passes.WithLabels("housekeeping").Inc();
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Forgot {Count} idempotency records past retention")]
    private static partial void LogForgot(ILogger logger, int count);
}
