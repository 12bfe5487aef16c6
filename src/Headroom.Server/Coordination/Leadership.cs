using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Coordination;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Coordination;

/// <summary>
/// Holds the <c>control-loop</c> lease for this replica: tries to take it, renews it every third of
/// its time to live, and gives it up on a clean stop. Loops that must run on one replica at a time
/// (scheduler cycle, reconcilers) run only while <see cref="IsLeader"/> is true, and stop their
/// step when <see cref="Epoch"/> changes under them.
/// </summary>
internal sealed partial class Leadership(Database database, HeadroomSettings settings, TimeProvider time, ILogger<Leadership> logger) : BackgroundService
{
    public const string LeaseName = "control-loop";
    private volatile bool _isLeader;
    private long _epoch;

    public bool IsLeader => _isLeader;
    public long Epoch => Interlocked.Read(ref _epoch);
    public string ReplicaId => settings.ReplicaId;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = settings.LeaseTtl / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            try
            {
                var state = await Leases.TryAcquireAsync(database, LeaseName, settings.ReplicaId, settings.LeaseTtl, now, stoppingToken);
                if (state.Held != _isLeader)
                {
                    if (state.Held)
                        LogGained(logger, LeaseName, state.Epoch);
                    else
                        LogLost(logger, LeaseName, state.Holder);
                }
                Interlocked.Exchange(ref _epoch, state.Epoch);
                _isLeader = state.Held;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Without the database a replica cannot know it still holds the lease; it must stop leading
                // before the lease can expire and another replica take over.
                if (_isLeader)
                    LogLost(logger, LeaseName, "unknown (store unreachable)");
                _isLeader = false;
                LogRenewFailed(logger, ex);
            }

            try
            {
                await Task.Delay(period, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_isLeader)
        {
            _isLeader = false;
            await Leases.ReleaseAsync(database, LeaseName, settings.ReplicaId, time.GetUtcNow(), cancellationToken);
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Took lease {Lease} (epoch {Epoch}); this replica runs the control loops")]
    private static partial void LogGained(ILogger logger, string lease, long epoch);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Lost lease {Lease}; now held by {Holder}")]
    private static partial void LogLost(ILogger logger, string lease, string holder);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Could not renew the lease")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception);
}
