using System.Globalization;
using System.Text;
using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>
/// One row of <c>GET /v1/usage</c>: the keys grouped by (null when not grouped by), the quantity (milli-GPU-seconds or
/// tokens; null unless grouped by meter, since units differ) and the amount as a decimal string (null for usage that
/// has no price).
/// </summary>
public sealed record UsageRowView(
    string? ProjectId, string? Meter, string? Day, string? Tier, string? GpuModel, string? Region, string? Model, string? ApiKeyId,
    long? Quantity, string? Amount);

public sealed record UsageProblemView(string EventId, string Kind, string Message);

/// <param name="EstimatedTokens">
/// Of the tokens in this report, those counted with a tokenizer because the engine reported none (a cut stream); each
/// such event says <c>estimated</c> in <c>GET /v1/usage/events</c>.
/// </param>
public sealed record UsageReportView(
    DateTimeOffset From,
    DateTimeOffset To,
    IReadOnlyList<string> GroupBy,
    string? Currency,
    bool Priced,
    string? Note,
    long EstimatedTokens,
    IReadOnlyList<UsageRowView> Data,
    IReadOnlyList<UsageRowView> Unpriced,
    IReadOnlyList<UsageProblemView> Problems)
{
    public string Object => "usage_report";
}

/// <summary>One ledger entry exactly as hashed, so a tenant can recompute the chain (see docs/billing.md).</summary>
public sealed record UsageEventView(
    string Id, string OrgId, long Seq, string ProjectId, string Meter, long Quantity, string? Tier, string? GpuModel, string? Region,
    string? Model, string? ApiKeyId, bool Batch, DateTimeOffset Start, DateTimeOffset End, DateTimeOffset? NotChargedFrom,
    bool Estimated, DateTimeOffset RecordedAt, string PrevHash, string Hash)
{
    public string Object => "usage_event";

    internal static UsageEventView Of(UsageEntryRow r) => new(r.Id, r.OrgId, r.Seq, r.ProjectId, r.Meter, r.Quantity, r.Tier, r.GpuModel,
        r.Region, r.Model, r.ApiKeyId, r.Batch, r.Start, r.End, r.NotChargedFrom, r.Estimated, r.RecordedAt, r.PrevHash, r.Hash);
}

/// <summary>
/// The caller's org's usage: priced and grouped for cost explorers (<c>GET /v1/usage</c>), and the raw ledger entries
/// for the tenant's own verification (<c>GET /v1/usage/events</c>). A key scoped to a project sees that project only.
/// </summary>
internal static class UsageEndpoints
{
    private static readonly TimeSpan MaxRange = TimeSpan.FromDays(366);

    private static readonly Dictionary<string, UsageGrouping> s_groupings = new(StringComparer.Ordinal)
    {
        ["project"] = UsageGrouping.Project,
        ["meter"] = UsageGrouping.Meter,
        ["day"] = UsageGrouping.Day,
        ["tier"] = UsageGrouping.Tier,
        ["gpu_model"] = UsageGrouping.GpuModel,
        ["region"] = UsageGrouping.Region,
        ["model"] = UsageGrouping.Model,
        ["api_key"] = UsageGrouping.ApiKey,
    };

    public static void Map(IEndpointRouteBuilder api)
    {
        var usage = api.MapGroup("/usage").WithTags("Usage");
        usage.MapGet("", Report).WithName("usage.report").RequireAccess(Permission.UsageRead);
        usage.MapGet("/events", Events).WithName("usage.events").RequireAccess(Permission.UsageRead);
    }

    private static async Task<IResult> Report(HttpContext http, Database database, TimeProvider time, UsageReportCache reports)
    {
        var principal = Access.Required(http);
        var q = http.Request.Query;
        var groupBy = UsageGrouping.None;
        var names = new List<string>();
        foreach (var name in q["group_by"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!s_groupings.TryGetValue(name, out var grouping))
                return Errors.BadRequest($"group_by: '{name}' is not one of {string.Join(", ", s_groupings.Keys)}.", "group_by");
            if (!groupBy.HasFlag(grouping))
                names.Add(name);
            groupBy |= grouping;
        }
        var month = BillingPeriod.MonthOf(time.GetUtcNow());
        if (Time(q["from"].ToString(), "from", month.Start, out var from) is { } badFrom)
            return badFrom;
        if (Time(q["to"].ToString(), "to", month.End, out var to) is { } badTo)
            return badTo;
        if (to <= from)
            return Errors.BadRequest("to must be after from.", "to");
        if (to - from > MaxRange)
            return Errors.BadRequest($"from .. to spans at most {MaxRange.TotalDays} days.", "to");
        var period = new BillingPeriod(from, to);

        await using var db = database.Open();
        // A report is a pure function of the visible ledger entries, the price sheet and the spot prices. The ledger is
        // append-only, seq grows per org in commit order (appends hold the org's lock until they commit) and each entry
        // rates on its own (ids are unique, so the rater's replay rule never joins two entries): while the prices are
        // unchanged, or only spot points after all the spot usage counted were added, the answer up to seq n plus the
        // entries in (n, head] is exactly the answer up to head.
        var key = $"{principal.OrgId}|{principal.ProjectId}|{from:O}|{to:O}|{string.Join(',', names)}";
        var head = await db.UsageEntries.Where(u => u.OrgId == principal.OrgId).MaxAsync(u => (long?)u.Seq, http.RequestAborted) ?? 0;
        var mark = await PriceMark.ReadAsync(db, to, withSpot: true, http.RequestAborted);
        var rows = Visible(db, principal).Where(u => u.Start < to && u.End >= from);
        async Task<List<UsageEvent>> EventsAsync(long after) =>
            (await rows.Where(u => u.Seq > after && u.Seq <= head).ToListAsync(http.RequestAborted)).Select(r => UsageRows.ToEntry(r).Event).ToList();
        var report = await reports.CurrentAsync(key, db, head, mark, to,
            async state => state.Add(await EventsAsync(state.Seq), head),
            async prices =>
            {
                var fresh = new RunningUsageReport(prices, period, groupBy, names);
                fresh.Add(await EventsAsync(0), head);
                return fresh;
            }, http.RequestAborted);
        return Results.Json(report.View, Json.Options);
    }

    /// <summary>
    /// The raw ledger in seq order, paged with <c>after</c> = a seq. <c>from</c>/<c>to</c> keep the events that touch
    /// that range (a billing period's events, as its invoice covers them); <c>format=jsonl</c> returns every matching
    /// event after the cursor, one JSON object per line, without paging, for a whole period's download.
    /// </summary>
    private static async Task<IResult> Events(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        long after = 0;
        if (page.After is { } cursor && !long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out after))
            return Errors.BadRequest("after must be an event's seq.", "after");
        var q = http.Request.Query;
        var format = q["format"].ToString();
        if (format is not ("" or "json" or "jsonl"))
            return Errors.BadRequest("format must be json or jsonl.", "format");
        if (Time(q["from"].ToString(), "from", DateTimeOffset.MinValue, out var from) is { } badFrom)
            return badFrom;
        if (Time(q["to"].ToString(), "to", DateTimeOffset.MaxValue, out var to) is { } badTo)
            return badTo;
        if (to <= from)
            return Errors.BadRequest("to must be after from.", "to");

        await using var db = database.Open();
        var query = Visible(db, Access.Required(http)).Where(u => u.Seq > after);
        if (from != DateTimeOffset.MinValue)
            query = query.Where(u => u.End >= from);
        if (to != DateTimeOffset.MaxValue)
            query = query.Where(u => u.Start < to);
        if (format == "jsonl")
        {
            var all = await query.OrderBy(u => u.Seq).ToListAsync(http.RequestAborted);
            var text = new StringBuilder();
            foreach (var row in all)
                text.Append(JsonSerializer.Serialize(UsageEventView.Of(row), Json.Options)).Append('\n');
            return Results.Text(text.ToString(), "application/jsonl; charset=utf-8");
        }
        var rows = await query.OrderBy(u => u.Seq).Take(page.Limit + 1).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, UsageEventView.Of, v => v.Seq.ToString(CultureInfo.InvariantCulture)), Json.Options);
    }

    private static IQueryable<UsageEntryRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.UsageEntries.AsNoTracking().Where(u => u.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(u => u.ProjectId == only) : query;
    }

    internal static IResult? Time(string text, string name, DateTimeOffset fallback, out DateTimeOffset value)
    {
        value = fallback;
        if (text.Length == 0)
            return null;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            return Errors.BadRequest($"{name} must be an RFC 3339 time.", name);
        value = parsed.ToUniversalTime();
        if (value.UtcTicks % TimeSpan.TicksPerSecond != 0)
            return Errors.BadRequest($"{name} must be on a whole second: usage is billed per second.", name);
        if (value.Year is < 2000 or > 9000)
            return Errors.BadRequest($"{name} must be between the years 2000 and 9000.", name);
        return null;
    }
}

/// <summary>This replica's usage reports, per org, key scope, period and grouping (see <see cref="RunningAnswers{TState}"/>).</summary>
internal sealed class UsageReportCache : RatedAnswers<RunningUsageReport>;

/// <summary>
/// One usage report kept as running sums: the ledger entries up to <see cref="Seq"/> rated with <see cref="Prices"/>,
/// priced and unpriced usage per row and line, the problems and the estimated tokens; <see cref="View"/> is rebuilt
/// from them after each <see cref="Add"/>. Adding the entries of (Seq, head] gives exactly the report computed from
/// scratch up to head: the sums are of integers, and amounts are rounded only when the rows are read.
/// </summary>
internal sealed class RunningUsageReport(PricesInForce prices, BillingPeriod period, UsageGrouping groupBy, IReadOnlyList<string> names) : IRatedAnswer
{
    private readonly UsageTotals _priced = new(groupBy);
    private readonly UsageTotals _unpriced = new(groupBy);
    private readonly List<RatingProblem> _problems = [];
    private long _estimated;

    public PricesInForce Prices { get; set; } = prices;

    public long Seq { get; private set; }

    public DateTimeOffset SpotReadUntil { get; private set; } = DateTimeOffset.MinValue;

    public UsageReportView View { get; private set; } = null!;

    /// <summary>Rates <paramref name="events"/> (the entries after <see cref="Seq"/> up to <paramref name="head"/>) and adds them in.</summary>
    public void Add(IReadOnlyList<UsageEvent> events, long head)
    {
        var sheet = Prices.Sheet;
        var rating = Rater.Rate(events, sheet, Prices.Spot, period);
        var byId = events.ToDictionary(e => e.Id, StringComparer.Ordinal);
        _priced.Add(rating.Charges);
        _unpriced.Add(rating.Problems
            .Where(p => p.Kind is RatingProblemKind.NoVersionInForce or RatingProblemKind.NoRate or RatingProblemKind.NoSpotPrice)
            .Select(p => Quantities(byId[p.EventId], period)).OfType<RatedUsage>());
        _problems.AddRange(rating.Problems);
        _estimated += events.Where(e => e.Estimated && period.Contains(e.Start)).Sum(e => e.Quantity);
        Seq = head;
        if (Rater.SpotReadUntil(events) is var read && read > SpotReadUntil)
            SpotReadUntil = read;

        var unpriced = _unpriced.Rows();
        var note = sheet.Versions.Count == 0
            ? "No price sheet has been published: usage is listed as quantities without amounts."
            : unpriced.Count > 0 ? "Some usage has no price in force (see problems): it is listed under unpriced, as quantities without amounts." : null;
        View = new UsageReportView(
            period.Start, period.End, names, sheet.Currency, sheet.Versions.Count > 0, note, _estimated,
            [.. _priced.Rows().Select(r => Row(r, priced: true))],
            [.. unpriced.Select(r => Row(r, priced: false))],
            // In event-id order, as one rating of all the entries lists them (an entry has one problem at most).
            [.. _problems.OrderBy(p => p.EventId, StringComparer.Ordinal).Select(p => new UsageProblemView(p.EventId, InvoiceForms.ProblemCode(p.Kind), p.Message))]);
    }

    /// <summary>The usage of an event that has no price, as the rater would measure it (seconds floored, notice not charged, clipped to the period).</summary>
    private static RatedUsage? Quantities(UsageEvent e, BillingPeriod period)
    {
        if (e.Meter != Meter.GpuSeconds)
            return period.Contains(e.Start) ? new RatedUsage(e.Id, e.ProjectId, e.Meter, e.Dimensions, e.Start, e.End, e.Quantity, 0m, PriceUnit.MillionTokens, "") : null;
        var start = Math.Max(e.Start.ToUnixTimeSeconds(), period.Start.ToUnixTimeSeconds());
        var end = Math.Min(e.ChargedUntil.ToUnixTimeSeconds(), period.End.ToUnixTimeSeconds());
        return end <= start ? null : new RatedUsage(e.Id, e.ProjectId, e.Meter, e.Dimensions,
            DateTimeOffset.FromUnixTimeSeconds(start), DateTimeOffset.FromUnixTimeSeconds(end), checked(e.Quantity * (end - start)), 0m, PriceUnit.GpuHour, "");
    }

    private static UsageRowView Row(UsageRow r, bool priced) => new(
        r.ProjectId, r.Meter?.ToCode(), r.Day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), r.Tier is { } t ? MeteringCodes.TierCode(t) : null,
        r.GpuModel, r.Region, r.Model, r.ApiKeyId, r.Quantity, priced ? Money.Text(r.Cost) : null);

}
