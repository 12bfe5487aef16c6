namespace Headroom.Core.Pricing;

/// <summary>A billing period [<see cref="Start"/>, <see cref="End"/>) in UTC, on whole seconds.</summary>
public sealed record BillingPeriod
{
    public BillingPeriod(DateTimeOffset start, DateTimeOffset end)
    {
        if (start.UtcTicks % TimeSpan.TicksPerSecond != 0 || end.UtcTicks % TimeSpan.TicksPerSecond != 0)
        {
            throw new ArgumentException("A billing period starts and ends on whole seconds.");
        }
        if (end <= start)
        {
            throw new ArgumentException($"A billing period ends after it starts ({start:O} .. {end:O}).", nameof(end));
        }
        Start = start.ToUniversalTime();
        End = end.ToUniversalTime();
    }

    public DateTimeOffset Start { get; }

    public DateTimeOffset End { get; }

    /// <summary>The calendar month in UTC: the default billing period.</summary>
    public static BillingPeriod Month(int year, int month)
    {
        var start = new DateTimeOffset(year, month, 1, 0, 0, 0, TimeSpan.Zero);
        return new(start, start.AddMonths(1));
    }

    /// <summary>The calendar month in UTC that contains <paramref name="time"/>.</summary>
    public static BillingPeriod MonthOf(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return Month(utc.Year, utc.Month);
    }

    public bool Contains(DateTimeOffset time) => Start <= time && time < End;

    internal long StartSecond => Start.ToUnixTimeSeconds();

    internal long EndSecond => End.ToUnixTimeSeconds();

    public override string ToString() => $"[{Start:yyyy-MM-ddTHH:mm:ssZ}, {End:yyyy-MM-ddTHH:mm:ssZ})";
}
