using System.Globalization;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Server.Billing;
using Headroom.Server.Identity;
using Headroom.Server.Reservations;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Operator;

/// <summary>One tier of a pool in a bucket. GPU-hours and revenue are decimal strings; utilization is used ÷ capacity.</summary>
public sealed record TierEconomicsView(string Tier, string GpuHoursUsed, string GpuHoursSold, string Utilization, string Revenue);

public sealed record PoolEconomicsView(
    string Region, string GpuModel, string CapacityGpuHours, string InternalShare, string IdleGpuHours, string Revenue, IReadOnlyList<TierEconomicsView> Tiers);

public sealed record EconomicsBucketView(DateTimeOffset From, DateTimeOffset To, string Revenue, string TokenRevenue, IReadOnlyList<PoolEconomicsView> Pools);

public sealed record EconomicsView(DateTimeOffset From, DateTimeOffset To, string Step, string? Currency, string Revenue, int UnpricedEvents, IReadOnlyList<EconomicsBucketView> Buckets)
{
    public string Object => "operator.economics";
}

/// <summary>
/// <c>GET /v1/operator/economics?from=&amp;to=&amp;step=hour|day</c> (fleet-admin): per pool and tier, utilization, GPU-hours
/// sold, revenue from the rated ledger of every org, the internal share and the idle headroom, per time bucket.
/// </summary>
internal static class EconomicsEndpoints
{
    private const int MaxBuckets = 1000;

    public static void Map(IEndpointRouteBuilder api) =>
        api.MapGet("/operator/economics", Get).WithTags("Operator").WithName("operator.economics").RequireAccess(Permission.EconomicsRead);

    private static async Task<IResult> Get(HttpContext http, Database database, TimeProvider time)
    {
        var q = http.Request.Query;
        var stepText = q["step"].ToString() is { Length: > 0 } s ? s : "day";
        if (stepText is not ("day" or "hour"))
            return Errors.BadRequest("step must be day or hour.", "step");
        var step = stepText == "day" ? TimeSpan.FromDays(1) : TimeSpan.FromHours(1);
        var now = time.GetUtcNow();
        var today = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerDay), TimeSpan.Zero);
        if (Read(q["from"].ToString(), "from", today.AddDays(-7), step, out var from) is { } badFrom)
            return badFrom;
        if (Read(q["to"].ToString(), "to", today.AddDays(1), step, out var to) is { } badTo)
            return badTo;
        if (to <= from)
            return Errors.BadRequest("to must be after from.", "to");
        if ((to - from) / step > MaxBuckets)
            return Errors.BadRequest($"from .. to holds at most {MaxBuckets} steps.", "to");

        await using var db = database.Open();
        var sizes = await Pools.SizesAsync(db, http.RequestAborted);
        var events = (await db.UsageEntries.AsNoTracking().Where(u => u.Start < to && u.End >= from).ToListAsync(http.RequestAborted))
            .Select(r => UsageRows.ToEntry(r).Event).ToList();
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, http.RequestAborted);
        var period = new BillingPeriod(from, to);
        var rating = Rater.Rate(events, sheet, SpotPriceHistory.Empty, period);
        // GPU time without a price (the internal tier usually has none) still used the fleet: it counts at zero.
        var byId = events.ToDictionary(e => e.Id, StringComparer.Ordinal);
        var unpriced = rating.Problems.Where(p => p.Kind is RatingProblemKind.NoRate or RatingProblemKind.NoVersionInForce or RatingProblemKind.NoSpotPrice)
            .Select(p => AtZero(byId[p.EventId], period)).OfType<RatedUsage>();
        var sold = (await db.Reservations.AsNoTracking().Where(r => r.CancelledAt == null && r.Start < to && r.End > from).ToListAsync(http.RequestAborted))
            .Select(Pools.Block);
        var buckets = FleetEconomics.Compute(sizes, rating.Charges.Concat(unpriced), sold, from, to, step);

        var views = buckets.Select(b => new EconomicsBucketView(b.From, b.To,
            Money.Text(b.Pools.Sum(p => p.Tiers.Sum(t => t.Revenue)) + b.TokenRevenue), Money.Text(b.TokenRevenue),
            [.. b.Pools.Select(p => new PoolEconomicsView(p.Pool.Region, p.Pool.GpuModel, Hours(p.CapacityMilliGpuSeconds),
                Ratio(p.Tiers.Single(t => t.Tier == Core.Scheduling.Tiered.Tier.Internal).UsedMilliGpuSeconds, p.CapacityMilliGpuSeconds),
                Hours(p.IdleMilliGpuSeconds), Money.Text(p.Tiers.Sum(t => t.Revenue)),
                [.. p.Tiers.Select(t => new TierEconomicsView(MeteringCodes.TierCode(t.Tier)!, Hours(t.UsedMilliGpuSeconds), Hours(t.SoldMilliGpuSeconds),
                    Ratio(t.UsedMilliGpuSeconds, p.CapacityMilliGpuSeconds), Money.Text(t.Revenue)))]))])).ToList();
        return Results.Json(new EconomicsView(from, to, stepText, sheet.Currency,
            Money.Text(buckets.Sum(b => b.Pools.Sum(p => p.Tiers.Sum(t => t.Revenue)) + b.TokenRevenue)), rating.Problems.Count, views), Json.Options);
    }

    /// <summary>An unpriced GPU-time event measured as the rater would (whole seconds, notice not charged, clipped), at price zero.</summary>
    private static RatedUsage? AtZero(UsageEvent e, BillingPeriod period)
    {
        if (e.Meter != Meter.GpuSeconds)
            return null;
        var start = Math.Max(e.Start.ToUnixTimeSeconds(), period.Start.ToUnixTimeSeconds());
        var end = Math.Min(e.ChargedUntil.ToUnixTimeSeconds(), period.End.ToUnixTimeSeconds());
        return end <= start ? null : new RatedUsage(e.Id, e.ProjectId, e.Meter, e.Dimensions, DateTimeOffset.FromUnixTimeSeconds(start),
            DateTimeOffset.FromUnixTimeSeconds(end), checked(e.Quantity * (end - start)), 0m, PriceUnit.GpuHour, "");
    }

    /// <summary>Milli-GPU-seconds as GPU-hours, to 6 places.</summary>
    private static string Hours(long milliGpuSeconds) => Money.Text(Math.Round(milliGpuSeconds / (decimal)BillingMath.MilliGpuSecondsPerGpuHour, 6, MidpointRounding.ToEven));

    private static string Ratio(long part, long whole) => Money.Text(whole == 0 ? 0m : Math.Round(part / (decimal)whole, 4, MidpointRounding.ToEven));

    private static IResult? Read(string text, string name, DateTimeOffset fallback, TimeSpan step, out DateTimeOffset value)
    {
        value = fallback;
        if (text.Length == 0)
            return null;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) || parsed.Year is < 2000 or > 9000)
            return Errors.BadRequest($"{name} must be an RFC 3339 time between the years 2000 and 9000.", name);
        value = parsed.ToUniversalTime();
        return value.UtcTicks % step.Ticks != 0 ? Errors.BadRequest($"{name} must be on a whole {(step.TotalHours == 1 ? "hour" : "day")} (UTC), like the step.", name) : null;
    }
}
