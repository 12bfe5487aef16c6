using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>A spot pool: the GPUs of one model in one region.</summary>
public sealed record SpotPool(string Region, string GpuModel)
{
    public override string ToString() => $"{Region}/{GpuModel}";
}

/// <summary>
/// A published spot price: from <see cref="Time"/> (a whole second, UTC) until the pool's next point, spot GPU time
/// in <see cref="Pool"/> costs <see cref="PerGpuHour"/>. <see cref="UsedMilliGpus"/> and
/// <see cref="TotalMilliGpus"/> are the utilization it was computed from, kept so anyone can recompute it.
/// </summary>
public sealed record SpotPricePoint(
    DateTimeOffset Time, SpotPool Pool, decimal PerGpuHour, long UsedMilliGpus = 0, long TotalMilliGpus = 0, int SheetVersion = 0)
{
    /// <summary>The code a rated charge cites as its price source.</summary>
    public string Source => $"spot@{Time.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}";
}

/// <summary>The published spot price formula (see <see cref="SpotFormula"/> and Pricing/README.md).</summary>
public static class SpotPricing
{
    /// <summary>The places a spot price keeps.</summary>
    public const int PriceDecimals = BillingMath.PriceDecimals;

    /// <summary>
    /// The spot price of <paramref name="pool"/> under <paramref name="version"/> for the given integer utilization:
    /// u = used / total (1 when the pool has no capacity, capped at 1), then
    /// clamp(base × (1 + slope × (u − knee)), base × floor, base × ceiling), rounded half-even to 6 places, where base
    /// is the version's spot rate for the pool. Not found when the version has no spot rate for the pool.
    /// </summary>
    public static PriceLookup Price(PriceSheetVersion version, SpotPool pool, long usedMilliGpus, long totalMilliGpus)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfNegative(usedMilliGpus);
        ArgumentOutOfRangeException.ThrowIfNegative(totalMilliGpus);
        var baseRate = version.GpuHourly(pool.GpuModel, Tier.Spot, pool.Region);
        if (!baseRate.Found)
        {
            return baseRate;
        }
        var f = version.Spot;
        // u − knee as one fraction of integers and exact decimals; decimal division rounds at 28 digits, far below
        // the 6 places kept, and is deterministic, which is what recomputation needs.
        var utilization = totalMilliGpus == 0 || usedMilliGpus >= totalMilliGpus ? 1m : (decimal)usedMilliGpus / totalMilliGpus;
        var raw = baseRate.Rate * (1m + (f.Slope * (utilization - f.Knee)));
        var clamped = Math.Clamp(raw, baseRate.Rate * f.FloorFactor, baseRate.Rate * f.CeilingFactor);
        return PriceLookup.Of(Math.Round(clamped, PriceDecimals, MidpointRounding.ToEven), version.Source);
    }

    /// <summary>
    /// The point to publish for <paramref name="pool"/> at <paramref name="now"/> (floored to the second) under the
    /// price sheet version in force then, or the reason there is none.
    /// </summary>
    public static PricingResult<SpotPricePoint> Point(PriceSheet sheet, SpotPool pool, long usedMilliGpus, long totalMilliGpus, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(sheet);
        var time = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        if (sheet.VersionAt(time) is not { } version)
        {
            return PricingResult<SpotPricePoint>.Failure([new("time", $"No price sheet version is in force at {time:O}.")]);
        }
        var price = Price(version, pool, usedMilliGpus, totalMilliGpus);
        return price.Found
            ? PricingResult<SpotPricePoint>.Success(new(time, pool, price.Rate, usedMilliGpus, totalMilliGpus, version.Number))
            : PricingResult<SpotPricePoint>.Failure([new("pool", price.Reason)]);
    }
}

/// <summary>
/// Every spot price ever published, per pool in time order. Immutable: <see cref="Append"/> returns a new history, and
/// only after the pool's last point, so a published price is never rewritten.
/// </summary>
public sealed class SpotPriceHistory
{
    private readonly ImmutableDictionary<SpotPool, ImmutableList<SpotPricePoint>> _pools;

    private SpotPriceHistory(ImmutableDictionary<SpotPool, ImmutableList<SpotPricePoint>> pools) => _pools = pools;

    public static SpotPriceHistory Empty { get; } = new(ImmutableDictionary<SpotPool, ImmutableList<SpotPricePoint>>.Empty);

    public IEnumerable<SpotPool> Pools => _pools.Keys;

    public IReadOnlyList<SpotPricePoint> PointsOf(SpotPool pool) => _pools.TryGetValue(pool, out var points) ? points : [];

    /// <summary>Adds <paramref name="point"/>, which must be on a whole second, after the pool's last point, and non-negative.</summary>
    public PricingResult<SpotPriceHistory> Append(SpotPricePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        var problems = Check(point, "");
        if (problems.Count > 0)
        {
            return PricingResult<SpotPriceHistory>.Failure(problems);
        }
        var points = PointsOf(point.Pool);
        if (points.Count > 0 && points[^1].Time >= point.Time)
        {
            return PricingResult<SpotPriceHistory>.Failure(
                [new("time", $"{point.Time:O} is not after the pool's last point at {points[^1].Time:O}; spot history only grows.")]);
        }
        var list = _pools.TryGetValue(point.Pool, out var existing) ? existing : [];
        return PricingResult<SpotPriceHistory>.Success(new(_pools.SetItem(point.Pool, list.Add(Normalize(point)))));
    }

    /// <summary>Rebuilds a history from stored points in any order; two points of one pool at the same second are a problem.</summary>
    public static PricingResult<SpotPriceHistory> Load(IEnumerable<SpotPricePoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var problems = new List<PricingProblem>();
        var byPool = new Dictionary<SpotPool, List<SpotPricePoint>>();
        var index = 0;
        foreach (var point in points)
        {
            var own = point is null ? [new PricingProblem($"points[{index}]", "required.")] : Check(point, $"points[{index}].");
            problems.AddRange(own);
            if (own.Count == 0)
            {
                if (!byPool.TryGetValue(point!.Pool, out var list))
                {
                    byPool[point.Pool] = list = [];
                }
                list.Add(Normalize(point));
            }
            index++;
        }
        var builder = ImmutableDictionary.CreateBuilder<SpotPool, ImmutableList<SpotPricePoint>>();
        foreach (var (pool, list) in byPool)
        {
            list.Sort((a, b) => a.Time.CompareTo(b.Time));
            for (var i = 1; i < list.Count; i++)
            {
                if (list[i].Time == list[i - 1].Time)
                {
                    problems.Add(new("points", $"Pool {pool} has two points at {list[i].Time:O}."));
                }
            }
            builder.Add(pool, [.. list]);
        }
        return problems.Count > 0
            ? PricingResult<SpotPriceHistory>.Failure(problems)
            : PricingResult<SpotPriceHistory>.Success(new(builder.ToImmutable()));
    }

    /// <summary>The spot price in force for <paramref name="pool"/> at <paramref name="time"/>: the last point at or before it.</summary>
    public PriceLookup RateAt(SpotPool pool, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var points = PointsOf(pool);
        var index = IndexAt(points, time.ToUnixTimeSeconds());
        return index < 0
            ? PriceLookup.Missing(PriceLookupStatus.NoSpotPrice, $"No spot price was published for {pool} at or before {time:O}.")
            : PriceLookup.Of(points[index].PerGpuHour, points[index].Source);
    }

    /// <summary>
    /// Whether this history and <paramref name="other"/> hold the same points, pool by pool, before <paramref name="time"/>:
    /// GPU time that ends by then rates the same with either (see <see cref="Rater.SpotReadUntil"/>).
    /// </summary>
    public bool AgreesBefore(SpotPriceHistory other, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Pools.Union(other.Pools).All(pool =>
            PointsOf(pool).TakeWhile(p => p.Time < time).SequenceEqual(other.PointsOf(pool).TakeWhile(p => p.Time < time)));
    }

    /// <summary>Index of the point in force at <paramref name="second"/>, or -1.</summary>
    internal static int IndexAt(IReadOnlyList<SpotPricePoint> points, long second)
    {
        int lo = 0, hi = points.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (points[mid].Time.ToUnixTimeSeconds() <= second)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    private static List<PricingProblem> Check(SpotPricePoint point, string prefix)
    {
        var problems = new List<PricingProblem>();
        if (point.Pool is null || string.IsNullOrWhiteSpace(point.Pool.Region) || string.IsNullOrWhiteSpace(point.Pool.GpuModel))
        {
            problems.Add(new($"{prefix}pool", "region and gpu_model are required."));
        }
        if (point.Time.UtcTicks % TimeSpan.TicksPerSecond != 0)
        {
            problems.Add(new($"{prefix}time", "must be on a whole second: billing is per second."));
        }
        if (point.PerGpuHour < 0m || point.PerGpuHour > PriceSheet.MaxPrice || BillingMath.DecimalPlaces(point.PerGpuHour) > BillingMath.PriceDecimals)
        {
            problems.Add(new($"{prefix}per_gpu_hour", $"{point.PerGpuHour} is not a price between 0 and {PriceSheet.MaxPrice} with at most {BillingMath.PriceDecimals} places."));
        }
        return problems;
    }

    private static SpotPricePoint Normalize(SpotPricePoint point) => point with { Time = point.Time.ToUniversalTime() };
}
