using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Billing;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Reservations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headroom.Server.Reservations;

/// <summary>
/// Quotes: the price of a capacity block from the price sheet, and whether admission would take it now. A quote is
/// stored for <see cref="Lifetime"/> so a purchase buys exactly the block and price quoted. Bad input is a 400 that
/// stores nothing.
/// </summary>
internal static class QuoteEndpoints
{
    /// <summary>How long a quote can be bought.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    public static void Map(IEndpointRouteBuilder api)
    {
        var quotes = api.MapGroup("/quotes").WithTags("Reservations");
        quotes.MapPost("", Create).WithName("quotes.create").RequireAccess(Permission.ReservationWrite);
    }

    private static async Task<IResult> Create(HttpContext http, QuoteRequest? body, Database database, Ids ids, HeadroomSettings settings, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        var now = time.GetUtcNow();
        if (body.GpuModel is null || body.Region is null)
            return Errors.BadRequest($"{(body.GpuModel is null ? "gpu_model" : "region")} is required.", body.GpuModel is null ? "gpu_model" : "region");
        if (body.GpuCount is not { } count || count < 1 || count > 100_000)
            return Errors.BadRequest("gpu_count must be a whole number from 1 to 100000.", "gpu_count");
        if (!WorkloadCodes.TryParseTier(body.Tier ?? "reserved", out var tier) || tier == Tier.Internal)
            return Errors.BadRequest("tier must be one of reserved, on-demand, spot.", "tier");
        if (body.Start is not { } start || start.Year is < 2000 or > 9000)
            return Errors.BadRequest("start is required: an RFC 3339 time on the hour (UTC).", "start");
        if (body.DurationHours is not { } hours)
            return Errors.BadRequest("duration_hours is required.", "duration_hours");
        if (BlockPricing.CheckWindow(start, hours, now) is { } bad)
            return Errors.BadRequest($"{bad.Field} {bad.Message}", bad.Field);
        start = start.ToUniversalTime();
        var end = start.AddHours(hours);

        await using var db = database.Open();
        var sizes = await Pools.SizesAsync(db, http.RequestAborted);
        if (sizes.Keys.All(p => p.Region != body.Region))
            return Errors.BadRequest($"region '{body.Region}' has no GPU nodes.", "region");
        var pool = new Pool(body.Region, body.GpuModel);
        if (!sizes.TryGetValue(pool, out var poolGpus))
            return Errors.BadRequest($"gpu_model: region '{body.Region}' has no '{body.GpuModel}' GPUs (it has: {string.Join(", ", sizes.Keys.Where(p => p.Region == body.Region).Select(p => p.GpuModel).Order())}).", "gpu_model");
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, http.RequestAborted);
        var price = BlockPricing.Price(sheet, tier, body.GpuModel, body.Region, count, start, end);
        if (price.Missing is { } missing)
            return Errors.Unprocessable($"No {tier.ToCode()} price for this block: {missing.Reason}", "tier", "no_price");
        // One purchase is one ledger event, whose amount must fit a long at line precision.
        if (tier == Tier.Reserved && price.Amount > UsageEvent.MaxPrepaidAmount)
            return Errors.Unprocessable($"The block costs {Money.Text(price.Amount)}, more than one purchase may ({Money.Text(UsageEvent.MaxPrepaidAmount)}); buy it in parts.", "gpu_count", "block_too_large");

        var guarantee = settings.InternalGuarantees.GetValueOrDefault(pool);
        string? why;
        if (tier == Tier.Reserved)
        {
            var blocks = await Pools.BlocksAsync(db, start, pool, http.RequestAborted);
            var admission = ReservationAdmission.Admit(new CapacityBlock("quote", principal.OrgId, body.Region, body.GpuModel, count, start, end), blocks, poolGpus, guarantee);
            why = admission.Admitted ? null : admission.Reason;
        }
        else
        {
            // On-demand and spot are not bought ahead: availability is what could be sold in that tier now.
            var cap = settings.Scheduler.OnDemandCaps.TryGetValue(pool, out var milli) ? (int?)(milli / 1000) : null;
            var outlook = CapacityOutlook.For(new PoolLimits(pool, poolGpus, guarantee, cap), await Pools.BlocksAsync(db, now, pool, http.RequestAborted),
                (await Pools.UseAsync(db, http.RequestAborted)).GetValueOrDefault(pool) ?? PoolUse.None, now, 0);
            var sellable = tier == Tier.OnDemand ? outlook.Now.Sellable.OnDemand : outlook.Now.Sellable.Spot;
            why = sellable >= count ? null : $"{sellable} {tier.ToCode()} GPUs of {body.GpuModel} in {body.Region} can be sold now";
        }

        var row = new QuoteRow
        {
            Id = ids.New("qte"),
            OrgId = principal.OrgId,
            Tier = tier.ToCode(),
            Region = body.Region,
            GpuModel = body.GpuModel,
            GpuCount = count,
            Start = start,
            End = end,
            Price = price.Amount,
            Currency = sheet.Currency ?? "",
            Slices = JsonSerializer.Serialize(price.Slices.Select(QuoteSlices.View), Json.Options),
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };
        db.Quotes.Add(row);
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(new QuoteView(row.Id, row.Tier, row.GpuModel, count, row.Region, start, end, hours, Money.Text(row.Price), row.Currency,
            [.. price.Slices.Select(QuoteSlices.View)], why is null, why, tier == Tier.Reserved, now, row.ExpiresAt),
            Json.Options, statusCode: StatusCodes.Status201Created);
    }
}
