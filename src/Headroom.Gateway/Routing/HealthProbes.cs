using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headroom.Gateway.Routing;

public static class HealthProbeServiceCollectionExtensions
{
    /// <summary>Probes every replica of <paramref name="models"/> each <paramref name="interval"/>, taking failing ones out of rotation and passing ones back in.</summary>
    public static IServiceCollection AddGatewayHealthProbes(this IServiceCollection services, ModelRegistry models, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return services.AddHostedService(sp => new HealthProbes(
            models, interval, sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<HealthProbes>>()));
    }
}

internal sealed partial class HealthProbes(ModelRegistry models, TimeSpan interval, TimeProvider time, ILogger<HealthProbes> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await models.RefreshHealthAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    ProbeRoundFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    [LoggerMessage(5010, LogLevel.Warning, "A round of replica health probes failed")]
    private static partial void ProbeRoundFailed(ILogger logger, Exception exception);
}
