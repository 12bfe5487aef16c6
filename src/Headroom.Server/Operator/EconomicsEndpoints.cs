using System.Globalization;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Server.Billing;
using Headroom.Server.Identity;
using Headroom.Server.Reservations;
using Headroom.Store;
using Headroom.Store.Billing;
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

    private static async Task<IResult> Get(HttpContext http, Database database, TimeProvider time, EconomicsCache economics)
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
        var sold = (await db.Reservations.AsNoTracking().Where(r => r.CancelledAt == null && r.Start < to && r.End > from).ToListAsync(http.RequestAborted))
            .Select(Pools.Block).ToList();
        var usage = await RatedAsync(db, economics, new BillingPeriod(from, to), step, http.RequestAborted);
        var sheet = usage.Prices.Sheet;
        var buckets = FleetEconomics.Compute(sizes, usage.Usage, sold);

        var views = buckets.Select(b => new EconomicsBucketView(b.From, b.To,
            Money.Text(b.Pools.Sum(p => p.Tiers.Sum(t => t.Revenue)) + b.TokenRevenue), Money.Text(b.TokenRevenue),
            [.. b.Pools.Select(p => new PoolEconomicsView(p.Pool.Region, p.Pool.GpuModel, Hours(p.CapacityMilliGpuSeconds),
                Ratio(p.Tiers.Single(t => t.Tier == Core.Scheduling.Tiered.Tier.Internal).UsedMilliGpuSeconds, p.CapacityMilliGpuSeconds),
                Hours(p.IdleMilliGpuSeconds), Money.Text(p.Tiers.Sum(t => t.Revenue)),
                [.. p.Tiers.Select(t => new TierEconomicsView(MeteringCodes.TierCode(t.Tier)!, Hours(t.UsedMilliGpuSeconds), Hours(t.SoldMilliGpuSeconds),
                    Ratio(t.UsedMilliGpuSeconds, p.CapacityMilliGpuSeconds), Money.Text(t.Revenue)))]))])).ToList();
        return Results.Json(new EconomicsView(from, to, stepText, sheet.Currency,
            Money.Text(buckets.Sum(b => b.Pools.Sum(p => p.Tiers.Sum(t => t.Revenue)) + b.TokenRevenue)), usage.UnpricedEvents, views), Json.Options);
    }

    /// <summary>At most this many orgs' appends are read one org at a time; beyond it the window is read again whole.</summary>
    private const int MaxOrgsToExtend = 16;

    /// <summary>
    /// The rated ledger of every org over the window, as <see cref="FleetUsage"/> running sums kept by this replica per
    /// window and step. Each org's ledger is append-only with seq growing in commit order, so while the price sheet is
    /// unchanged the sums up to each org's head seen last time plus that org's entries in (that head, its head now] are
    /// exactly the sums computed from scratch; a moved price sheet, or appends in many orgs at once, recomputes.
    /// </summary>
    private static Task<RunningEconomics> RatedAsync(HeadroomDb db, EconomicsCache economics, BillingPeriod window, TimeSpan step, CancellationToken cancellationToken)
    {
        var (from, to) = (window.Start, window.End);
        return economics.UnderGateAsync($"{from:O}|{to:O}|{step.Ticks}", async slot =>
        {
            var heads = await db.UsageEntries.GroupBy(u => u.OrgId).Select(g => new { OrgId = g.Key, Head = g.Max(u => u.Seq) })
                .ToDictionaryAsync(h => h.OrgId, h => h.Head, StringComparer.Ordinal, cancellationToken);
            // Spot usage is not priced here (no spot history is loaded), so only the price sheet's version matters.
            var mark = await PriceMark.ReadAsync(db, to, withSpot: false, cancellationToken);
            var inWindow = db.UsageEntries.AsNoTracking().Where(u => u.Start < to && u.End >= from);
            if (slot.State is { } state && state.Prices.Mark == mark && state.Heads.All(h => heads.GetValueOrDefault(h.Key) >= h.Value))
            {
                var moved = heads.Where(h => h.Value > state.Heads.GetValueOrDefault(h.Key)).ToList();
                if (moved.Count <= MaxOrgsToExtend)
                {
                    if (moved.Count > 0)
                    {
                        var added = new List<UsageEntryRow>();
                        foreach (var (org, head) in moved)
                        {
                            var after = state.Heads.GetValueOrDefault(org);
                            added.AddRange(await inWindow.Where(u => u.OrgId == org && u.Seq > after && u.Seq <= head).ToListAsync(cancellationToken));
                        }
                        await slot.ExtendAsync(e =>
                        {
                            e.Add(added, moved);
                            return Task.CompletedTask;
                        });
                        economics.CountExtended();
                    }
                    return state;
                }
            }
            var prices = await PricesInForce.LoadAsync(db, mark, to, withSpot: false, cancellationToken);
            // Entries appended after the heads were read are left to the next request, which reads them as appends.
            var all = (await inWindow.ToListAsync(cancellationToken)).Where(u => u.Seq <= heads.GetValueOrDefault(u.OrgId)).ToList();
            var fresh = new RunningEconomics(prices, window, step);
            fresh.Add(all, heads);
            slot.State = fresh;
            economics.CountRecomputed();
            return fresh;
        }, cancellationToken);
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

/// <summary>This replica's rated ledger per economics window and step (see <see cref="RunningAnswers{TState}"/>).</summary>
internal sealed class EconomicsCache : RunningAnswers<RunningEconomics>;

/// <summary>
/// Every org's ledger over one window, rated with <see cref="Prices"/> (no spot history: spot usage counts at zero) and
/// kept as <see cref="FleetUsage"/> sums, with each org's seq it covers up to (<see cref="Heads"/>) and the number of
/// entries that could not be priced.
/// </summary>
internal sealed class RunningEconomics(PricesInForce prices, BillingPeriod window, TimeSpan step)
{
    private readonly Dictionary<string, long> _heads = new(StringComparer.Ordinal);

    public PricesInForce Prices => prices;

    public FleetUsage Usage { get; } = new(window.Start, window.End, step);

    public IReadOnlyDictionary<string, long> Heads => _heads;

    public int UnpricedEvents { get; private set; }

    /// <summary>Rates <paramref name="rows"/>, each org's entries above its head up to its new one in <paramref name="heads"/>, and adds them in.</summary>
    public void Add(IReadOnlyList<UsageEntryRow> rows, IEnumerable<KeyValuePair<string, long>> heads)
    {
        var events = rows.Select(r => UsageRows.ToEntry(r).Event).ToList();
        var rating = Rater.Rate(events, prices.Sheet, SpotPriceHistory.Empty, window);
        // GPU time without a price (the internal tier usually has none) still used the fleet: it counts at zero.
        var byId = events.ToDictionary(e => e.Id, StringComparer.Ordinal);
        Usage.Add(rating.Charges.Concat(rating.Problems
            .Where(p => p.Kind is RatingProblemKind.NoRate or RatingProblemKind.NoVersionInForce or RatingProblemKind.NoSpotPrice)
            .Select(p => AtZero(byId[p.EventId], window)).OfType<RatedUsage>()));
        UnpricedEvents += rating.Problems.Count;
        foreach (var (org, head) in heads)
            _heads[org] = head;
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

}
