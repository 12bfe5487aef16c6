using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>
/// What a price is per: one GPU-hour (quantities in milli-GPU-seconds), one million tokens, or, for a reservation paid
/// up front, one unit of currency (quantities in 10^-10 of it).
/// </summary>
public enum PriceUnit { GpuHour, MillionTokens, Prepaid }

public enum RatingProblemKind
{
    /// <summary>The event is malformed (<see cref="UsageEvent.Validate"/>).</summary>
    InvalidEvent,
    /// <summary>Two events share an id but differ; neither is charged.</summary>
    ConflictingReplay,
    NoVersionInForce,
    NoRate,
    NoSpotPrice,
}

/// <summary>Why an event was not charged. An event is rated whole or not at all.</summary>
public sealed record RatingProblem(string EventId, RatingProblemKind Kind, string Message);

/// <summary>
/// One priced slice of one event: the whole event, or the part of a GPU-time event between two price changes.
/// <see cref="Quantity"/> is milli-GPU-seconds for GPU time and tokens for token meters; <see cref="UnitPrice"/> is
/// per <see cref="Unit"/>; <see cref="PriceSource"/> names the price sheet version or spot point it came from.
/// </summary>
public sealed record RatedUsage(
    string EventId,
    string ProjectId,
    Meter Meter,
    UsageDimensions Dimensions,
    DateTimeOffset From,
    DateTimeOffset To,
    long Quantity,
    decimal UnitPrice,
    PriceUnit Unit,
    string PriceSource)
{
    /// <summary>This slice on its own, rounded as a line would be; invoices add quantities first and round once per line.</summary>
    public decimal Amount => BillingMath.Charge(Quantity, UnitPrice, Unit.UnitsPerPrice());
}

/// <summary>The charges of a set of events and every event that could not be charged, both in event-id order.</summary>
public sealed record Rating(IReadOnlyList<RatedUsage> Charges, IReadOnlyList<RatingProblem> Problems, int ReplaysIgnored);

public static class PricingCodes
{
    /// <summary>Quantity units in one price unit: 3 600 000 milli-GPU-seconds per GPU-hour, 1 000 000 tokens per million.</summary>
    public static long UnitsPerPrice(this PriceUnit unit) => unit switch
    {
        PriceUnit.GpuHour => BillingMath.MilliGpuSecondsPerGpuHour,
        PriceUnit.MillionTokens => BillingMath.TokensPerMillion,
        PriceUnit.Prepaid => BillingMath.PrepaidUnitsPerCurrency,
        _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, null),
    };

    /// <summary>The frozen API code of a price unit.</summary>
    public static string ToCode(this PriceUnit unit) => unit switch
    {
        PriceUnit.GpuHour => "gpu_hour",
        PriceUnit.MillionTokens => "million_tokens",
        PriceUnit.Prepaid => "prepaid",
        _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, null),
    };
}

/// <summary>Turns usage events into priced slices with the prices that were in force when the usage happened.</summary>
/// <remarks>
/// Order of steps: (1) replays are dropped: events are keyed by id, identical copies count once, differing copies
/// are all refused as <see cref="RatingProblemKind.ConflictingReplay"/>; (2) each event is validated; (3) GPU time is
/// taken on whole seconds, floor(start) .. floor(min(end, not_charged_from)), clipped to the period; (4) the interval
/// is cut at every price change inside it (a price sheet version taking effect, or for spot a new spot point of the
/// pool), each slice priced at the rate in force at its first second; (5) token events are priced at their point in
/// time with the version in force then; (6) a reservation's up-front charge is taken as recorded, and reserved-tier GPU
/// time, which runs inside a block paid that way, is listed at zero. The result does not depend on the order of the events.
/// </remarks>
public static class Rater
{
    /// <summary>The price source of reservation charges and of the (zero-rated) reserved GPU time inside a paid block.</summary>
    public const string ReservationSource = "reservation";

    /// <summary>The price source of tokens served by a dedicated deployment, whose GPU time is what is charged.</summary>
    public const string DedicatedSource = "dedicated-deployment";

    public static Rating Rate(IEnumerable<UsageEvent> events, PriceSheet sheet, SpotPriceHistory spot, BillingPeriod? period = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(sheet);
        ArgumentNullException.ThrowIfNull(spot);

        var byId = new Dictionary<string, UsageEvent>(StringComparer.Ordinal);
        var conflicts = new HashSet<string>(StringComparer.Ordinal);
        var replays = 0;
        foreach (var usage in events)
        {
            ArgumentNullException.ThrowIfNull(usage);
            var id = usage.Id ?? "";
            if (!byId.TryAdd(id, usage))
            {
                if (byId[id] == usage)
                {
                    replays++;
                }
                else
                {
                    conflicts.Add(id);
                }
            }
        }

        var charges = new List<RatedUsage>();
        var problems = new List<RatingProblem>();
        foreach (var (id, usage) in byId.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (conflicts.Contains(id))
            {
                problems.Add(new(id, RatingProblemKind.ConflictingReplay, $"Event {id} was recorded more than once with different content."));
                continue;
            }
            if (period is not null && !Touches(usage, period))
            {
                continue;
            }
            var invalid = usage.Validate();
            if (invalid.Count > 0)
            {
                problems.Add(new(id, RatingProblemKind.InvalidEvent, string.Join(" ", invalid)));
                continue;
            }
            var problem = usage.Meter switch
            {
                Meter.GpuSeconds => RateGpuTime(usage, sheet, spot, period, charges),
                Meter.Reservation => RatePrepaid(usage, period, charges),
                _ => RateTokens(usage, sheet, period, charges),
            };
            if (problem is not null)
            {
                problems.Add(problem);
            }
        }
        return new Rating(charges, problems, replays);
    }

    /// <summary>
    /// The latest end of the spot-tier GPU time among <paramref name="events"/> (<see cref="DateTimeOffset.MinValue"/>
    /// when there is none). Only that usage reads spot prices, and a slice ends at the event's charged end
    /// (≤ <see cref="UsageEvent.End"/>), so rating the events reads no spot point at or after this time: two histories
    /// that agree before it (<see cref="SpotPriceHistory.AgreesBefore"/>) rate them the same.
    /// </summary>
    public static DateTimeOffset SpotReadUntil(IEnumerable<UsageEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        return events.Where(e => e.Meter == Meter.GpuSeconds && e.Dimensions.Tier == Tier.Spot)
            .Select(e => e.End).DefaultIfEmpty(DateTimeOffset.MinValue).Max();
    }

    private static RatingProblem? RateGpuTime(UsageEvent usage, PriceSheet sheet, SpotPriceHistory spot, BillingPeriod? period, List<RatedUsage> charges)
    {
        var d = usage.Dimensions;
        var tier = d.Tier!.Value;
        var start = usage.Start.ToUnixTimeSeconds();
        var end = usage.ChargedUntil.ToUnixTimeSeconds();
        if (period is not null)
        {
            start = Math.Max(start, period.StartSecond);
            end = Math.Min(end, period.EndSecond);
        }
        if (end <= start)
        {
            return null;
        }

        if (tier == Tier.Reserved)
        {
            // Reserved GPU time runs inside a block that was charged up front (a reservation event): it is listed, at zero.
            charges.Add(new RatedUsage(usage.Id, usage.ProjectId, usage.Meter, d, DateTimeOffset.FromUnixTimeSeconds(start),
                DateTimeOffset.FromUnixTimeSeconds(end), checked(usage.Quantity * (end - start)), 0m, PriceUnit.GpuHour, ReservationSource));
            return null;
        }

        var pool = new SpotPool(d.Region!, d.GpuModel!);
        var spotPoints = tier == Tier.Spot ? spot.PointsOf(pool) : [];
        var slices = new List<RatedUsage>();
        for (var cursor = start; cursor < end;)
        {
            var at = DateTimeOffset.FromUnixTimeSeconds(cursor);
            PriceLookup price;
            long? next;
            if (tier == Tier.Spot)
            {
                var index = SpotPriceHistory.IndexAt(spotPoints, cursor);
                price = spot.RateAt(pool, at);
                next = index + 1 < spotPoints.Count ? spotPoints[index + 1].Time.ToUnixTimeSeconds() : null;
            }
            else
            {
                var index = sheet.IndexAt(cursor);
                price = sheet.GpuHourlyAt(d.GpuModel!, tier, d.Region!, at);
                next = sheet.NextChangeAfter(index);
            }
            if (!price.Found)
            {
                return new(usage.Id, Kind(price.Status), price.Reason);
            }
            var sliceEnd = next is { } change && change < end ? change : end;
            slices.Add(new RatedUsage(
                usage.Id, usage.ProjectId, usage.Meter, d, at, DateTimeOffset.FromUnixTimeSeconds(sliceEnd),
                checked(usage.Quantity * (sliceEnd - cursor)), price.Rate, PriceUnit.GpuHour, price.Source));
            cursor = sliceEnd;
        }
        charges.AddRange(slices);
        return null;
    }

    /// <summary>A reservation's up-front charge or refund: its amount as recorded, in the period of the moment it was paid.</summary>
    private static RatingProblem? RatePrepaid(UsageEvent usage, BillingPeriod? period, List<RatedUsage> charges)
    {
        if (period is not null && !period.Contains(usage.Start))
        {
            return null;
        }
        charges.Add(new RatedUsage(usage.Id, usage.ProjectId, usage.Meter, usage.Dimensions, usage.Start, usage.End, usage.Quantity, 1m, PriceUnit.Prepaid, ReservationSource));
        return null;
    }

    private static RatingProblem? RateTokens(UsageEvent usage, PriceSheet sheet, BillingPeriod? period, List<RatedUsage> charges)
    {
        if (period is not null && !period.Contains(usage.Start))
        {
            return null;
        }
        var d = usage.Dimensions;
        if (d.Tier is not null)
        {
            // Served on GPUs billed by the hour in that tier (a dedicated deployment): listed, never charged twice.
            charges.Add(new RatedUsage(usage.Id, usage.ProjectId, usage.Meter, d, usage.Start, usage.End, usage.Quantity, 0m, PriceUnit.MillionTokens, DedicatedSource));
            return null;
        }
        var price = sheet.TokenPerMillionAt(d.Model!, usage.Meter, d.Batch, usage.Start);
        if (!price.Found)
        {
            return new(usage.Id, Kind(price.Status), price.Reason);
        }
        charges.Add(new RatedUsage(
            usage.Id, usage.ProjectId, usage.Meter, d, usage.Start, usage.End, usage.Quantity, price.Rate, PriceUnit.MillionTokens, price.Source));
        return null;
    }

    /// <summary>Whether any part of the event, even a malformed one, lies in the period: only those are its business.</summary>
    private static bool Touches(UsageEvent usage, BillingPeriod period)
    {
        var (first, last) = usage.Start <= usage.End ? (usage.Start, usage.End) : (usage.End, usage.Start);
        return first < period.End && (last > period.Start || (last == first && period.Contains(first)));
    }

    private static RatingProblemKind Kind(PriceLookupStatus status) => status switch
    {
        PriceLookupStatus.NoVersionInForce => RatingProblemKind.NoVersionInForce,
        PriceLookupStatus.NoSpotPrice => RatingProblemKind.NoSpotPrice,
        _ => RatingProblemKind.NoRate,
    };
}
