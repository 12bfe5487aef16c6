using System.Globalization;
using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>One GPU rate as the API writes and reads it; prices are decimal strings.</summary>
public sealed record GpuRateBody(string? GpuModel, string? Tier, string? Region, string? PerGpuHour);

public sealed record TokenRateBody(string? Model, string? InputPerMillion, string? OutputPerMillion);

public sealed record SpotFormulaBody(string? Slope, string? Knee, string? FloorFactor, string? CeilingFactor);

/// <summary>
/// A price sheet draft: what <c>POST /v1/prices</c> takes, and what is stored for each version (so the stored text is
/// exactly what was published). Money and factors are decimal strings, never JSON numbers, so no client parses them
/// through floating point.
/// </summary>
public sealed record PriceDraftBody(
    DateTimeOffset? EffectiveFrom,
    string? Currency,
    IReadOnlyList<GpuRateBody?>? GpuRates,
    IReadOnlyList<TokenRateBody?>? TokenRates,
    string? BatchDiscount,
    SpotFormulaBody? Spot);

public sealed record PriceVersionView(
    int Version,
    DateTimeOffset EffectiveFrom,
    string Currency,
    IReadOnlyList<GpuRateBody> GpuRates,
    IReadOnlyList<TokenRateBody> TokenRates,
    string BatchDiscount,
    SpotFormulaBody Spot,
    DateTimeOffset PublishedAt)
{
    public string Object => "price_sheet.version";

    internal static PriceVersionView Of(PriceSheetVersion v, PriceSheetVersionRow row) => new(
        v.Number, v.EffectiveFrom, v.Currency,
        [.. v.GpuRates.Select(r => new GpuRateBody(r.GpuModel, MeteringCodes.TierCode(r.Tier), r.Region, Money.Text(r.PerGpuHour)))],
        [.. v.TokenRates.Select(r => new TokenRateBody(r.Model, Money.Text(r.InputPerMillion), Money.Text(r.OutputPerMillion)))],
        Money.Text(v.BatchDiscount),
        new SpotFormulaBody(Money.Text(v.Spot.Slope), Money.Text(v.Spot.Knee), Money.Text(v.Spot.FloorFactor), Money.Text(v.Spot.CeilingFactor)),
        row.PublishedAt);
}

/// <summary>The whole price history: the version in force now (null before the first takes effect) and every version.</summary>
public sealed record PriceSheetView(string? Currency, int? InForce, IReadOnlyList<PriceVersionView> Versions)
{
    public string Object => "price_sheet";
}

/// <summary>A published spot price: in force for its pool from <c>time</c> until the pool's next point.</summary>
public sealed record SpotPriceView(
    string Id, string Region, string GpuModel, DateTimeOffset Time, string PerGpuHour, long UsedMilliGpus, long TotalMilliGpus, int SheetVersion)
{
    public string Object => "spot_price";

    internal static SpotPriceView Of(SpotPricePointRow r) => new(
        new Cursor(r.Time, r.Region, r.GpuModel).ToString(), r.Region, r.GpuModel, r.Time, Money.Text(Money.Normalize(r.PerGpuHour)),
        r.UsedMilliGpus, r.TotalMilliGpus, r.SheetVersion);

    /// <summary>A point's id and list cursor: <c>{unix seconds}.{region}.{gpu model}</c>, in the list's order.</summary>
    internal readonly record struct Cursor(DateTimeOffset Time, string Region, string GpuModel)
    {
        public override string ToString() => $"{Time.ToUnixTimeSeconds()}.{Region}.{GpuModel}";

        public static Cursor? TryParse(string text)
        {
            var parts = text.Split('.', 3);
            return parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                && seconds < 253402300800 && parts[1].Length > 0 && parts[2].Length > 0
                ? new Cursor(DateTimeOffset.FromUnixTimeSeconds(seconds), parts[1], parts[2])
                : null;
        }
    }
}

internal static class Money
{
    /// <summary>A decimal as the API writes it: invariant, no exponent, no trailing zeros beyond what was given.</summary>
    public static string Text(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The value without trailing zeros: a database hands a decimal back at its column's scale (2.000000), and a price
    /// read back must print as it was computed.
    /// </summary>
    public static decimal Normalize(decimal value) =>
        decimal.Parse(value.ToString("0.############################", CultureInfo.InvariantCulture), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);

    public static bool TryParse(string? text, out decimal value) =>
        decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value);
}

/// <summary>
/// The fleet's price sheet. Everyone reads it; the operator (fleet-admin) publishes a new version, which takes effect
/// at its <c>effective_from</c> (never in the past, always after the latest version) and never changes afterwards.
/// </summary>
internal static class PriceEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var prices = api.MapGroup("/prices").WithTags("Prices");
        prices.MapGet("", Get).WithName("prices.get").RequireAccess(Permission.PriceRead);
        prices.MapPost("", Publish).WithName("prices.publish").RequireAccess(Permission.PriceWrite);
        prices.MapGet("/history", History).WithName("prices.history").RequireAccess(Permission.PriceRead);
    }

    private static async Task<IResult> Get(HttpContext http, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        var (sheet, rows) = await LoadAsync(db, http.RequestAborted);
        return Results.Json(View(sheet, rows, time.GetUtcNow()), Json.Options);
    }

    /// <summary>
    /// The published spot prices, oldest first, optionally for one region and/or GPU model and within [from, to).
    /// The cursor is a point's id (its time, region and GPU model); each point is in force until its pool's next one.
    /// </summary>
    private static async Task<IResult> History(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var q = http.Request.Query;
        if (UsageEndpoints.Time(q["from"].ToString(), "from", DateTimeOffset.MinValue, out var from) is { } badFrom)
            return badFrom;
        if (UsageEndpoints.Time(q["to"].ToString(), "to", DateTimeOffset.MaxValue, out var to) is { } badTo)
            return badTo;
        if (to <= from)
            return Errors.BadRequest("to must be after from.", "to");
        SpotPriceView.Cursor? cursor = null;
        if (page.After is { } after && (cursor = SpotPriceView.Cursor.TryParse(after)) is null)
            return Errors.BadRequest("after must be the id of a spot price.", "after");

        await using var db = database.Open();
        var query = db.SpotPricePoints.AsNoTracking();
        if (q["region"].ToString() is { Length: > 0 } region)
            query = query.Where(p => p.Region == region);
        if (q["gpu_model"].ToString() is { Length: > 0 } gpuModel)
            query = query.Where(p => p.GpuModel == gpuModel);
        if (from != DateTimeOffset.MinValue)
            query = query.Where(p => p.Time >= from);
        if (to != DateTimeOffset.MaxValue)
            query = query.Where(p => p.Time < to);
        if (cursor is { } c)
        {
            query = query.Where(p => p.Time > c.Time
                || (p.Time == c.Time && (string.Compare(p.Region, c.Region) > 0
                    || (p.Region == c.Region && string.Compare(p.GpuModel, c.GpuModel) > 0))));
        }
        var rows = await query.OrderBy(p => p.Time).ThenBy(p => p.Region).ThenBy(p => p.GpuModel).Take(page.Limit + 1).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, SpotPriceView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Publish(HttpContext http, PriceDraftBody? body, Database database, TimeProvider time)
    {
        if (body is null)
            return Errors.MissingBody;
        var principal = Access.Required(http);
        var (draft, problems) = ToDraft(body);
        if (draft is null)
            return Invalid(problems);

        await using var db = database.Open();
        var (sheet, rows) = await LoadAsync(db, http.RequestAborted);
        var now = time.GetUtcNow();
        var published = sheet.Publish(draft, now);
        if (!published.Succeeded)
            return Invalid(published.Problems);
        var version = published.Value.Versions[^1];
        var row = new PriceSheetVersionRow
        {
            Number = version.Number,
            EffectiveFrom = version.EffectiveFrom,
            Currency = version.Currency,
            Draft = JsonSerializer.Serialize(body with { EffectiveFrom = version.EffectiveFrom }, Json.Options),
            PublishedAt = now,
            PublishedBy = principal.ActorId,
        };
        db.PriceSheetVersions.Add(row);
        if (!await Persist.TrySaveAsync(db, http.RequestAborted))
            return Errors.Conflict("Another price sheet version was published at the same time; read the sheet and try again.", "version_conflict");
        AuditMiddleware.SetTarget(http, version.Source);
        return Results.Json(View(published.Value, [.. rows, row], now), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>The stored history as a sheet. Stored versions were valid when published, so loading them cannot fail.</summary>
    internal static async Task<(PriceSheet Sheet, List<PriceSheetVersionRow> Rows)> LoadAsync(HeadroomDb db, CancellationToken cancellationToken)
    {
        var rows = await db.PriceSheetVersions.AsNoTracking().OrderBy(v => v.Number).ToListAsync(cancellationToken);
        var drafts = rows.Select(r => ToDraft(JsonSerializer.Deserialize<PriceDraftBody>(r.Draft, Json.Options)!).Draft
            ?? throw new InvalidOperationException($"Stored price sheet version {r.Number} no longer reads as a draft.")).ToList();
        var loaded = PriceSheet.Load(drafts);
        return loaded.Succeeded
            ? (loaded.Value, rows)
            : throw new InvalidOperationException("The stored price sheet does not load: " + string.Join("; ", loaded.Problems));
    }

    private static PriceSheetView View(PriceSheet sheet, List<PriceSheetVersionRow> rows, DateTimeOffset now) => new(
        sheet.Currency,
        sheet.VersionAt(now)?.Number,
        [.. sheet.Versions.Select(v => PriceVersionView.Of(v, rows.Single(r => r.Number == v.Number)))]);

    private static IResult Invalid(IReadOnlyList<PricingProblem> problems) =>
        Errors.BadRequest("The price sheet cannot be published: " + string.Join("; ", problems), problems[0].Path, "invalid_price_sheet");

    /// <summary>The API's draft as the core's, or every problem reading it (paths in the API's names).</summary>
    internal static (PriceSheetDraft? Draft, IReadOnlyList<PricingProblem> Problems) ToDraft(PriceDraftBody body)
    {
        var problems = new List<PricingProblem>();
        if (body.EffectiveFrom is null)
            problems.Add(new("effective_from", "required (RFC 3339, on a whole second)."));
        if (body.Currency is null)
            problems.Add(new("currency", "required (ISO 4217, e.g. USD)."));
        decimal Number(string? text, string path, decimal fallback, bool required = true)
        {
            if (text is null && !required)
                return fallback;
            if (Money.TryParse(text, out var value))
                return value;
            problems.Add(new(path, text is null ? "required (a decimal string such as \"2.50\")." : $"'{text}' is not a decimal string such as \"2.50\"."));
            return fallback;
        }

        var gpuRates = new List<GpuRate>();
        if (body.GpuRates is null)
            problems.Add(new("gpu_rates", "required (may be empty)."));
        for (var i = 0; i < (body.GpuRates?.Count ?? 0); i++)
        {
            var path = $"gpu_rates[{i}]";
            if (body.GpuRates![i] is not { } rate)
            {
                problems.Add(new(path, "required."));
                continue;
            }
            if (!WorkloadCodes.TryParseTier(rate.Tier, out var tier))
                problems.Add(new($"{path}.tier", $"'{rate.Tier}' is not one of internal, reserved, on-demand, spot."));
            gpuRates.Add(new GpuRate(rate.GpuModel!, tier, rate.Region!, Number(rate.PerGpuHour, $"{path}.per_gpu_hour", 0m)));
        }
        var tokenRates = new List<TokenRate>();
        if (body.TokenRates is null)
            problems.Add(new("token_rates", "required (may be empty)."));
        for (var i = 0; i < (body.TokenRates?.Count ?? 0); i++)
        {
            var path = $"token_rates[{i}]";
            if (body.TokenRates![i] is not { } rate)
            {
                problems.Add(new(path, "required."));
                continue;
            }
            tokenRates.Add(new TokenRate(rate.Model!, Number(rate.InputPerMillion, $"{path}.input_per_million", 0m), Number(rate.OutputPerMillion, $"{path}.output_per_million", 0m)));
        }
        var discount = Number(body.BatchDiscount, "batch_discount", 0m, required: false);
        SpotFormula? spot = null;
        if (body.Spot is { } s)
        {
            var d = SpotFormula.Default;
            spot = new SpotFormula(
                Number(s.Slope, "spot.slope", d.Slope, required: false), Number(s.Knee, "spot.knee", d.Knee, required: false),
                Number(s.FloorFactor, "spot.floor_factor", d.FloorFactor, required: false), Number(s.CeilingFactor, "spot.ceiling_factor", d.CeilingFactor, required: false));
        }
        if (problems.Count > 0)
            return (null, problems);
        var draft = new PriceSheetDraft(body.EffectiveFrom!.Value, body.Currency!, gpuRates, tokenRates, discount, spot);
        // The core's checks (names, ranges, places, duplicates) on their own; succession and "not in the past" come at publishing.
        var invalid = PriceSheet.Validate(draft);
        return invalid.Count > 0 ? (null, invalid) : (draft, []);
    }
}
