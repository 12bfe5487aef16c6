using System.Text.Json;
using Headroom.Core.Fleet;
using Headroom.Core.Pricing;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Publishes spot prices, on the replica that holds the control-loop lease. Each pass measures every pool (region × GPU
/// model) of the fleet: total = the GPUs of its ready nodes, used = the milli-GPUs jobs hold on them; computes the
/// price with <see cref="SpotPricing.Point"/> and stores a point only when the price differs from the pool's last one,
/// so the history is the list of moments the price moved. Points are only ever inserted: the rater prices spot usage
/// from them, never from the formula, so a bill recomputed later finds the same prices.
/// </summary>
internal sealed partial class SpotPricer(Database database, Leadership leadership, HeadroomSettings settings, TimeProvider time, ILogger<SpotPricer> logger)
    : LeaderLoop(leadership, time, logger)
{
    private static readonly string Ready = NodeState.Ready.ToCode();
    private static readonly string[] Holding = [JobState.Scheduled.ToCode(), JobState.Starting.ToCode(), JobState.Running.ToCode()];

    protected override TimeSpan Period => settings.SchedulerPeriod;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => PublishAsync(cancellationToken);

    /// <summary>One pass; returns how many points it stored.</summary>
    internal async Task<int> PublishAsync(CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, cancellationToken);
        if (sheet.Versions.Count == 0)
            return 0;
        var now = Time.GetUtcNow();
        var nodes = await db.Nodes.AsNoTracking().Where(n => n.GpuCount > 0)
            .Select(n => new { n.Name, n.Region, n.GpuModel, n.GpuCount, n.State }).ToListAsync(cancellationToken);
        var poolOf = nodes.ToDictionary(n => n.Name, n => new SpotPool(n.Region, n.GpuModel), StringComparer.Ordinal);
        var total = nodes.Where(n => n.State == Ready).GroupBy(n => poolOf[n.Name]).ToDictionary(g => g.Key, g => g.Sum(n => n.GpuCount * 1000L));
        var used = new Dictionary<SpotPool, long>();
        var placements = await db.Jobs.AsNoTracking().Where(j => j.Placement != null && Holding.Contains(j.State)).Select(j => j.Placement!).ToListAsync(cancellationToken);
        foreach (var placement in placements.SelectMany(p => JsonSerializer.Deserialize<List<PlacementView>>(p, Json.Options) ?? []))
        {
            if (poolOf.TryGetValue(placement.Node, out var pool))
                used[pool] = used.GetValueOrDefault(pool) + ((long)placement.Gpus.Count * placement.GpuMilli);
        }
        var last = (await db.SpotPricePoints.AsNoTracking()
                .GroupBy(p => new { p.Region, p.GpuModel })
                .Select(g => g.OrderByDescending(p => p.Time).First())
                .ToListAsync(cancellationToken))
            .ToDictionary(p => new SpotPool(p.Region, p.GpuModel));

        var stored = 0;
        foreach (var pool in poolOf.Values.Distinct())
        {
            var point = SpotPricing.Point(sheet, pool, Math.Min(used.GetValueOrDefault(pool), total.GetValueOrDefault(pool)), total.GetValueOrDefault(pool), now);
            // A pool without a spot rate in the version in force has no spot price: nothing to publish.
            if (!point.Succeeded)
                continue;
            var previous = last.GetValueOrDefault(pool);
            if (previous is not null && (previous.PerGpuHour == point.Value.PerGpuHour || previous.Time >= point.Value.Time))
                continue;
            db.SpotPricePoints.Add(SpotPoints.ToRow(point.Value));
            stored++;
        }
        // Another replica that briefly believed it led may have stored the same second: the key refuses the copy.
        if (stored > 0 && !await Persist.TrySaveAsync(db, cancellationToken))
            return 0;
        if (stored > 0)
            LogPublished(logger, stored);
        return stored;
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Information, Message = "Published {Count} spot prices")]
    private static partial void LogPublished(ILogger logger, int count);
}

/// <summary>Stored spot points as the core's history.</summary>
internal static class SpotPoints
{
    public static SpotPricePointRow ToRow(SpotPricePoint p) => new()
    {
        Region = p.Pool.Region,
        GpuModel = p.Pool.GpuModel,
        Time = p.Time,
        PerGpuHour = Money.Normalize(p.PerGpuHour),
        UsedMilliGpus = p.UsedMilliGpus,
        TotalMilliGpus = p.TotalMilliGpus,
        SheetVersion = p.SheetVersion,
    };

    public static SpotPricePoint ToPoint(SpotPricePointRow r) =>
        new(r.Time, new SpotPool(r.Region, r.GpuModel), Money.Normalize(r.PerGpuHour), r.UsedMilliGpus, r.TotalMilliGpus, r.SheetVersion);

    /// <summary>
    /// The spot history up to <paramref name="until"/> (all of it when null). Stored points were appended in order and
    /// keyed by second, so loading them cannot fail.
    /// </summary>
    public static async Task<SpotPriceHistory> LoadAsync(HeadroomDb db, DateTimeOffset? until, CancellationToken cancellationToken)
    {
        var query = db.SpotPricePoints.AsNoTracking();
        if (until is { } end)
            query = query.Where(p => p.Time < end);
        var rows = await query.ToListAsync(cancellationToken);
        var loaded = SpotPriceHistory.Load(rows.Select(ToPoint));
        return loaded.Succeeded
            ? loaded.Value
            : throw new InvalidOperationException("The stored spot prices do not load: " + string.Join("; ", loaded.Problems));
    }
}
