using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>One part of a block between two price changes, priced at the reserved rate in force at its first second.</summary>
/// <param name="MilliGpuSeconds">GPUs × 1000 × the slice's seconds.</param>
/// <param name="Amount">MilliGpuSeconds × PerGpuHour / 3 600 000, rounded once to line precision (10 places, half to even).</param>
public sealed record BlockSlice(DateTimeOffset From, DateTimeOffset To, long MilliGpuSeconds, decimal PerGpuHour, string Source, decimal Amount);

/// <summary>The price of a capacity block: its slices and their exact sum, or why it has no price.</summary>
public sealed record BlockPrice(IReadOnlyList<BlockSlice> Slices, decimal Amount, PriceLookup? Missing)
{
    public bool Priced => Missing is null;
}

/// <summary>
/// Windows and prices of capacity blocks. A block is bought on whole hours: its start is on the hour (UTC) and its
/// duration a whole number of hours; a block of 24 hours or more starts at midnight UTC and lasts whole days. So a
/// block never cuts an hour or a day that another block could want whole, and its GPU-hours are an integer.
/// </summary>
public static class BlockPricing
{
    /// <summary>The longest block: a year, the longest a usage event may span.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(365);

    /// <summary>The problem with a window as (field, sentence), or null when it follows the alignment rule.</summary>
    public static (string Field, string Message)? CheckWindow(DateTimeOffset start, long durationHours, DateTimeOffset now)
    {
        if (durationHours <= 0)
            return ("duration_hours", "must be a positive whole number of hours.");
        if (durationHours > (long)MaxDuration.TotalHours)
            return ("duration_hours", $"must be at most {MaxDuration.TotalHours} ({MaxDuration.TotalDays} days).");
        var utc = start.ToUniversalTime();
        if (utc.Ticks % TimeSpan.TicksPerHour != 0)
            return ("start", "must be on the hour (UTC), e.g. 2026-12-01T10:00:00Z.");
        if (durationHours >= 24 && utc.Ticks % TimeSpan.TicksPerDay != 0)
            return ("start", "a block of 24 hours or more must start at midnight UTC.");
        if (durationHours >= 24 && durationHours % 24 != 0)
            return ("duration_hours", "a block of 24 hours or more must last whole days (a multiple of 24).");
        if (utc < now)
            return ("start", "must not be in the past.");
        return null;
    }

    /// <summary>
    /// GPUs × seconds of [start, end) at the <paramref name="tier"/>'s list rate of the pool (for spot, the base price of
    /// the spot formula), cut at every price sheet version that takes effect inside the window, each slice at the rate in
    /// force at its first second (like the rater prices GPU time). The amount is the exact sum of the slices. A window any
    /// part of which has no rate is not priced.
    /// </summary>
    public static BlockPrice Price(PriceSheet sheet, Tier tier, string gpuModel, string region, int gpuCount, DateTimeOffset start, DateTimeOffset end)
    {
        ArgumentNullException.ThrowIfNull(sheet);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gpuCount);
        var slices = new List<BlockSlice>();
        var last = end.ToUnixTimeSeconds();
        for (var cursor = start.ToUnixTimeSeconds(); cursor < last;)
        {
            var at = DateTimeOffset.FromUnixTimeSeconds(cursor);
            var price = sheet.GpuHourlyAt(gpuModel, tier, region, at);
            if (!price.Found)
                return new BlockPrice([], 0m, price);
            var next = sheet.NextChangeAfter(sheet.IndexAt(cursor));
            var sliceEnd = next is { } change && change < last ? change : last;
            var quantity = checked(gpuCount * 1000L * (sliceEnd - cursor));
            slices.Add(new BlockSlice(at, DateTimeOffset.FromUnixTimeSeconds(sliceEnd), quantity, price.Rate, price.Source,
                BillingMath.Charge(quantity, price.Rate, BillingMath.MilliGpuSecondsPerGpuHour)));
            cursor = sliceEnd;
        }
        return new BlockPrice(slices, slices.Sum(s => s.Amount), null);
    }
}
