using System.Collections.Immutable;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>A pool's size and the operator's limits on selling it: whole GPUs, the internal guarantee, the on-demand cap (null: none).</summary>
public sealed record PoolLimits(Pool Pool, int TotalGpus, int InternalGuaranteeGpus, int? OnDemandCapGpus);

/// <summary>Milli-GPUs held in a pool right now, per tier.</summary>
public sealed record PoolUse(long InternalMilli, long ReservedMilli, long OnDemandMilli, long SpotMilli)
{
    public static PoolUse None { get; } = new(0, 0, 0, 0);

    public long TotalMilli => InternalMilli + ReservedMilli + OnDemandMilli + SpotMilli;
}

/// <summary>Whole GPUs that could still be sold in each tier.</summary>
public sealed record SellableGpus(int Reserved, int OnDemand, int Spot);

/// <summary>A pool now: GPUs not held by anything, GPUs in active blocks, and what could be sold.</summary>
public sealed record CapacityNow(int FreeGpus, int ReservedGpus, SellableGpus Sellable);

/// <summary>One UTC day ahead: the most GPUs reserved at any instant of it, and what could still be sold for all of it.</summary>
public sealed record CapacityDay(DateOnly Date, int ReservedGpus, SellableGpus Sellable);

public sealed record PoolOutlook(PoolLimits Limits, CapacityNow Now, ImmutableArray<CapacityDay> Days);

/// <summary>
/// Free and sellable GPUs of a pool, now and for each UTC day ahead, from its size, the operator's limits, the
/// admitted blocks and what runs now. The rules (docs/billing.md, "Capacity"):
/// <list type="bullet">
/// <item>reserved: total − internal guarantee − the most GPUs already reserved at any instant of the window, the same
/// arithmetic as <see cref="ReservationAdmission"/>, so a block of that size for the whole window would be admitted;
/// "now" is the next whole hour, the earliest a block can start;</item>
/// <item>on-demand: now, the GPUs neither held by work nor kept whole for active blocks, within the on-demand cap; ahead,
/// total − reserved, within the cap;</item>
/// <item>spot: now, the GPUs neither held nor kept for blocks; ahead, total − reserved.</item>
/// </list>
/// </summary>
public static class CapacityOutlook
{
    public static PoolOutlook For(PoolLimits limits, IEnumerable<CapacityBlock> blocks, PoolUse use, DateTimeOffset now, int days)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(use);
        var pool = blocks.Where(b => b.Region == limits.Pool.Region && b.GpuModel == limits.Pool.GpuModel).ToList();
        var total = limits.TotalGpus;
        var cap = limits.OnDemandCapGpus ?? int.MaxValue;

        var reservedNow = pool.Where(b => b.ActiveAt(now)).Sum(b => b.GpuCount);
        var free = Math.Max(0, total - (int)Math.Min(total, (use.TotalMilli + 999) / 1000));
        var keptForBlocks = Math.Max(0, reservedNow - (int)((use.ReservedMilli + 999) / 1000));
        var idle = Math.Max(0, free - keptForBlocks);
        var nextHour = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero).AddHours(1);
        var onDemandLeft = limits.OnDemandCapGpus is { } c ? Math.Max(0, c - (int)((use.OnDemandMilli + 999) / 1000)) : int.MaxValue;
        var current = new CapacityNow(free, reservedNow, new SellableGpus(
            Reservable(limits, Peak(pool, nextHour, nextHour.AddHours(1))), Math.Min(idle, onDemandLeft), idle));

        var today = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerDay), TimeSpan.Zero);
        var ahead = ImmutableArray.CreateBuilder<CapacityDay>(days);
        for (var d = 0; d < days; d++)
        {
            var start = today.AddDays(d);
            var peak = Peak(pool, start, start.AddDays(1));
            var unheld = Math.Max(0, total - peak);
            ahead.Add(new CapacityDay(DateOnly.FromDateTime(start.UtcDateTime), peak, new SellableGpus(Reservable(limits, peak), Math.Min(unheld, cap), unheld)));
        }
        return new PoolOutlook(limits, current, ahead.MoveToImmutable());
    }

    /// <summary>The most GPUs of <paramref name="blocks"/> active at any instant of [from, to): the sum only rises where a block starts.</summary>
    public static int Peak(IReadOnlyCollection<CapacityBlock> blocks, DateTimeOffset from, DateTimeOffset to)
    {
        var overlapping = blocks.Where(b => b.Start < to && from < b.End).ToList();
        return overlapping.Select(b => b.Start).Where(t => t > from && t < to).Append(from)
            .Select(t => overlapping.Where(b => b.ActiveAt(t)).Sum(b => b.GpuCount)).Max();
    }

    private static int Reservable(PoolLimits limits, int peak) => Math.Max(0, limits.TotalGpus - limits.InternalGuaranteeGpus - peak);
}
