using System.Collections.Immutable;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>
/// One tier of one pool over one bucket: GPU time metered (used), GPU time sold (for reserved, the blocks' GPUs over
/// their windows, used or not; for the other tiers, what was used), and revenue from the rated ledger.
/// </summary>
public sealed record TierEconomics(Tier Tier, long UsedMilliGpuSeconds, long SoldMilliGpuSeconds, decimal Revenue);

/// <summary>A pool over one bucket: its capacity (GPUs × seconds), each tier, and the idle headroom left unsold.</summary>
public sealed record PoolEconomics(Pool Pool, long CapacityMilliGpuSeconds, ImmutableArray<TierEconomics> Tiers, long IdleMilliGpuSeconds);

/// <summary>One time bucket: every pool, and revenue that belongs to no pool (tokens of hosted models).</summary>
public sealed record EconomicsBucket(DateTimeOffset From, DateTimeOffset To, ImmutableArray<PoolEconomics> Pools, decimal TokenRevenue);

/// <summary>
/// The operator's view of the fleet over time, from the rated ledger and the sold blocks, in buckets of a fixed step.
/// Rules: GPU-time slices are cut at bucket bounds (a slice holds the same milli-GPUs throughout, so the cut is exact)
/// and each piece's revenue is its quantity × its unit price, rounded once to line precision, so buckets add up to the
/// ledger's rated total except for that rounding (none when slices do not cross bucket bounds); a reservation's up-front
/// charge or refund counts in the bucket of its payment; idle = capacity − internal, on-demand and spot used − reserved
/// sold, never below zero. Capacity is the pool's current size over the whole bucket.
/// </summary>
public static class FleetEconomics
{
    private static readonly Tier[] s_tiers = [Tier.Internal, Tier.Reserved, Tier.OnDemand, Tier.Spot];

    public static ImmutableArray<EconomicsBucket> Compute(
        IReadOnlyDictionary<Pool, int> poolGpus, IEnumerable<RatedUsage> charges, IEnumerable<CapacityBlock> sold,
        DateTimeOffset from, DateTimeOffset to, TimeSpan step)
    {
        var usage = new FleetUsage(from, to, step);
        usage.Add(charges);
        return Compute(poolGpus, usage, sold);
    }

    /// <summary>The buckets of <paramref name="usage"/>'s window: its running sums, the pools' sizes now and the blocks sold.</summary>
    public static ImmutableArray<EconomicsBucket> Compute(IReadOnlyDictionary<Pool, int> poolGpus, FleetUsage usage, IEnumerable<CapacityBlock> sold)
    {
        ArgumentNullException.ThrowIfNull(poolGpus);
        ArgumentNullException.ThrowIfNull(usage);
        ArgumentNullException.ThrowIfNull(sold);
        var (first, stepSeconds, count) = (usage.First, usage.StepSeconds, usage.Count);
        var soldReserved = new Dictionary<(int, Pool), long>();
        var pools = new HashSet<Pool>(poolGpus.Keys);
        pools.UnionWith(usage.Pools);
        foreach (var block in sold)
        {
            var pool = new Pool(block.Region, block.GpuModel);
            pools.Add(pool);
            foreach (var (b, seconds) in Pieces(block.Start.ToUnixTimeSeconds(), block.End.ToUnixTimeSeconds(), first, stepSeconds, count))
                soldReserved[(b, pool)] = soldReserved.GetValueOrDefault((b, pool)) + (block.GpuCount * 1000L * seconds);
        }

        var buckets = ImmutableArray.CreateBuilder<EconomicsBucket>(count);
        for (var b = 0; b < count; b++)
        {
            var start = first + (b * stepSeconds);
            var end = Math.Min(start + stepSeconds, usage.Last);
            var perPool = ImmutableArray.CreateBuilder<PoolEconomics>();
            foreach (var pool in pools.OrderBy(p => p.Region, StringComparer.Ordinal).ThenBy(p => p.GpuModel, StringComparer.Ordinal))
            {
                var capacity = poolGpus.GetValueOrDefault(pool) * 1000L * (end - start);
                var tiers = s_tiers.Select(t =>
                {
                    var u = usage.Used(b, pool, t);
                    return new TierEconomics(t, u, t == Tier.Reserved ? soldReserved.GetValueOrDefault((b, pool)) : u, usage.Revenue(b, pool, t));
                }).ToImmutableArray();
                var taken = tiers.Sum(t => t.SoldMilliGpuSeconds);
                perPool.Add(new PoolEconomics(pool, capacity, tiers, Math.Max(0, capacity - taken)));
            }
            buckets.Add(new EconomicsBucket(DateTimeOffset.FromUnixTimeSeconds(start), DateTimeOffset.FromUnixTimeSeconds(end), perPool.ToImmutable(), usage.TokenRevenue(b)));
        }
        return buckets.MoveToImmutable();
    }

    /// <summary>The parts of [from, to) (Unix seconds) inside each bucket, as (bucket, seconds).</summary>
    internal static IEnumerable<(int Bucket, long Seconds)> Pieces(long from, long to, long first, long step, int count)
    {
        var lo = Math.Max(from, first);
        var hi = Math.Min(to, first + (step * count));
        while (lo < hi)
        {
            var bucket = (int)((lo - first) / step);
            var end = Math.Min(hi, first + ((bucket + 1) * step));
            yield return (bucket, end - lo);
            lo = end;
        }
    }
}

/// <summary>
/// The rated ledger's part of <see cref="FleetEconomics"/> over one window and step, as running sums per bucket, pool
/// and tier: GPU time used, revenue (each bucket's piece of a slice rounded on its own, so a sum of line-precision
/// amounts, exact in decimal), token revenue per bucket, and every pool a charge named. Charges added in any order and
/// in any number of batches give the same sums, so the operator's report can be extended as the ledger grows.
/// </summary>
public sealed class FleetUsage
{
    private readonly Dictionary<(int, Pool, Tier), long> _used = [];
    private readonly Dictionary<(int, Pool, Tier), decimal> _revenue = [];
    private readonly decimal[] _tokens;
    private readonly HashSet<Pool> _pools = [];

    public FleetUsage(DateTimeOffset from, DateTimeOffset to, TimeSpan step)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, TimeSpan.FromSeconds(1));
        First = from.ToUnixTimeSeconds();
        Last = to.ToUnixTimeSeconds();
        StepSeconds = (long)step.TotalSeconds;
        Count = (int)((Last - First + StepSeconds - 1) / StepSeconds);
        _tokens = new decimal[Count];
    }

    /// <summary>The window's first and end second (Unix), the step in seconds and the number of buckets.</summary>
    public long First { get; }
    public long Last { get; }
    public long StepSeconds { get; }
    public int Count { get; }

    public IReadOnlyCollection<Pool> Pools => _pools;

    public long Used(int bucket, Pool pool, Tier tier) => _used.GetValueOrDefault((bucket, pool, tier));

    public decimal Revenue(int bucket, Pool pool, Tier tier) => _revenue.GetValueOrDefault((bucket, pool, tier));

    public decimal TokenRevenue(int bucket) => _tokens[bucket];

    public void Add(IEnumerable<RatedUsage> charges)
    {
        ArgumentNullException.ThrowIfNull(charges);
        foreach (var c in charges)
        {
            var from0 = c.From.ToUnixTimeSeconds();
            var bucket = (int)((from0 - First) / StepSeconds);
            if (c.Meter is Meter.InputTokens or Meter.OutputTokens)
            {
                if (bucket >= 0 && bucket < Count)
                    _tokens[bucket] += c.Amount;
                continue;
            }
            var pool = new Pool(c.Dimensions.Region ?? "", c.Dimensions.GpuModel ?? "");
            var tier = c.Dimensions.Tier ?? Tier.OnDemand;
            _pools.Add(pool);
            if (c.Meter == Meter.Reservation)
            {
                if (bucket >= 0 && bucket < Count)
                    _revenue[(bucket, pool, tier)] = _revenue.GetValueOrDefault((bucket, pool, tier)) + c.Amount;
                continue;
            }
            var to0 = c.To.ToUnixTimeSeconds();
            if (to0 <= from0)
                continue;
            var milliGpus = c.Quantity / (to0 - from0);
            foreach (var (b, seconds) in FleetEconomics.Pieces(from0, to0, First, StepSeconds, Count))
            {
                var q = milliGpus * seconds;
                _used[(b, pool, tier)] = _used.GetValueOrDefault((b, pool, tier)) + q;
                _revenue[(b, pool, tier)] = _revenue.GetValueOrDefault((b, pool, tier)) + BillingMath.Charge(q, c.UnitPrice, c.Unit.UnitsPerPrice());
            }
        }
    }
}
