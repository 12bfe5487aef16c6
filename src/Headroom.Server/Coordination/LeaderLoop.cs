using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Coordination;

/// <summary>
/// A control loop that must run on one replica at a time: every <see cref="Period"/> it runs one pass, but only
/// while this replica holds the control-loop lease. A failed pass is logged and the next one tries again; the
/// state it works from is in the store, so nothing is lost between passes or across a change of leader.
/// </summary>
internal abstract partial class LeaderLoop(Leadership leadership, TimeProvider time, ILogger logger) : BackgroundService
{
    /// <summary>The clock the loop paces itself with; passes read "now" from it too.</summary>
    protected TimeProvider Time { get; } = time;

    protected abstract TimeSpan Period { get; }

    protected abstract Task RunPassAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Period, Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            if (!leadership.IsLeader)
                continue;
            try
            {
                await RunPassAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogPassFailed(logger, GetType().Name, ex);
            }
        }
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Error, Message = "A pass of the {Loop} control loop failed; the next pass retries")]
    private static partial void LogPassFailed(ILogger logger, string loop, Exception exception);
}
