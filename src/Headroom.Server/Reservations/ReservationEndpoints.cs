using Headroom.Core.Access;
using Headroom.Core.Metering;
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
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Reservations;

/// <summary>
/// Buying, reading and cancelling capacity blocks. A purchase is paid up front: the block and its <c>reservation</c>
/// charge in the org's usage ledger commit in one transaction, after admission is re-checked with purchases of the
/// pool serialized (see <see cref="Purchase"/>).
/// </summary>
internal static class ReservationEndpoints
{
    /// <summary>Cancelled at least this long before its start, a block is refunded in full; later, not at all.</summary>
    public static readonly TimeSpan FullRefundNotice = TimeSpan.FromHours(24);

    public static void Map(IEndpointRouteBuilder api)
    {
        var reservations = api.MapGroup("/reservations").WithTags("Reservations");
        reservations.MapPost("", Purchase).WithName("reservations.create").RequireAccess(Permission.ReservationWrite);
        reservations.MapGet("", List).WithName("reservations.list").RequireAccess(Permission.ReservationRead);
        reservations.MapGet("/{id}", Get).WithName("reservations.get").RequireAccess(Permission.ReservationRead);
        reservations.MapPost("/{id}/cancel", Cancel).WithName("reservations.cancel").RequireAccess(Permission.ReservationWrite);
    }

    /// <summary>
    /// Buys a quoted block. Order of steps: check the quote (the org's, reserved, not expired, not bought) and the project;
    /// open a write transaction and serialize purchases of the pool (an advisory lock on PostgreSQL; SQLite's write
    /// transaction excludes every other writer); re-run admission over the blocks stored now; store the block and its
    /// charge (event id = reservation id) and commit. Two replicas can therefore never both admit blocks that together
    /// overbook a pool, and a block is never stored without its charge.
    /// </summary>
    private static async Task<IResult> Purchase(HttpContext http, PurchaseRequest? body, Database database, Ids ids, UsageWriter ledger,
        HeadroomSettings settings, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        if (body.QuoteId is not { Length: > 0 and <= 200 } quoteId)
            return Errors.BadRequest("quote_id is required.", "quote_id");
        var projectId = body.ProjectId ?? principal.ProjectId;
        if (projectId is null)
            return Errors.BadRequest("project_id is required for a key that is not scoped to a project.", "project_id");

        await using var db = database.Open();
        if (!principal.SeesProject(projectId) || !await db.Projects.AnyAsync(p => p.Id == projectId && p.OrgId == principal.OrgId, http.RequestAborted))
            return Errors.BadRequest($"project_id '{projectId}' is not a project of this org.", "project_id");
        var quote = await db.Quotes.AsNoTracking().SingleOrDefaultAsync(q => q.Id == quoteId && q.OrgId == principal.OrgId, http.RequestAborted);
        if (quote is null)
            return Errors.NotFound("quote", quoteId);
        if (quote.Tier != Tier.Reserved.ToCode())
            return Errors.BadRequest($"Only a reserved quote can be bought; {quote.Tier} capacity is used by submitting jobs.", "quote_id");
        var now = time.GetUtcNow();
        if (now >= quote.ExpiresAt || now >= quote.End)
            return Errors.Conflict($"Quote {quote.Id} expired at {quote.ExpiresAt:O}; ask for a new quote.", "quote_expired", "quote_id");

        var pool = new Pool(quote.Region, quote.GpuModel);
        var reservation = new ReservationRow
        {
            Id = ids.New("rsv"),
            OrgId = principal.OrgId,
            ProjectId = projectId,
            QuoteId = quote.Id,
            Region = quote.Region,
            GpuModel = quote.GpuModel,
            GpuCount = quote.GpuCount,
            Start = quote.Start,
            End = quote.End,
            Price = quote.Price,
            Currency = quote.Currency,
            CreatedAt = now,
            CreatedBy = principal.ActorId,
        };

        await using (var tx = await db.Database.BeginTransactionAsync(http.RequestAborted))
        {
            if (db.Provider == StoreProvider.Postgres)
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({"pool:" + pool.Region + "/" + pool.GpuModel}))", http.RequestAborted);
            if (await db.Reservations.AnyAsync(r => r.QuoteId == quote.Id, http.RequestAborted))
                return Errors.Conflict($"Quote {quote.Id} was already bought.", "quote_used", "quote_id");
            var sizes = await Pools.SizesAsync(db, http.RequestAborted);
            var blocks = await Pools.BlocksAsync(db, quote.Start, pool, http.RequestAborted);
            var admission = ReservationAdmission.Admit(Pools.Block(reservation), blocks, sizes.GetValueOrDefault(pool), settings.InternalGuarantees.GetValueOrDefault(pool));
            if (!admission.Admitted)
                return Errors.Conflict($"The capacity is no longer available: {admission.Reason}.", "capacity_unavailable", "quote_id");
            db.Reservations.Add(reservation);
            if (reservation.Price > 0m)
            {
                await ledger.AddInTransactionAsync(db, UsageEvent.Prepaid(
                    reservation.Id, reservation.OrgId, reservation.ProjectId, reservation.Price, reservation.GpuModel, reservation.Region, now), http.RequestAborted);
            }
            if (!await Persist.TrySaveAsync(db, http.RequestAborted))
                return Errors.Conflict($"Quote {quote.Id} was already bought.", "quote_used", "quote_id");
            await tx.CommitAsync(http.RequestAborted);
        }
        AuditMiddleware.SetTarget(http, reservation.Id);
        return Results.Json(ReservationView.Of(reservation, now), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> List(HttpContext http, Database database, TimeProvider time)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var rows = await page.ApplyTo(Visible(db, Access.Required(http)), r => r.Id).ToListAsync(http.RequestAborted);
        var now = time.GetUtcNow();
        return Results.Json(page.Build(rows, r => ReservationView.Of(r, now), v => v.Id), Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(r => r.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("reservation", id) : Results.Json(ReservationView.Of(row, time.GetUtcNow()), Json.Options);
    }

    /// <summary>
    /// Cancels a block before its start and frees its capacity. Refund rule: cancelled at least
    /// <see cref="FullRefundNotice"/> before the start, the whole price comes back as a credit event (<c>{id}:refund</c>,
    /// a negative <c>reservation</c> charge); later, nothing. A started, ended or cancelled block answers 409.
    /// </summary>
    private static async Task<IResult> Cancel(HttpContext http, string id, Database database, UsageWriter ledger, TimeProvider time)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(http.RequestAborted);
        var row = await Visible(db, principal).AsTracking().SingleOrDefaultAsync(r => r.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("reservation", id);
        var now = time.GetUtcNow();
        if (row.CancelledAt is not null)
            return Errors.Conflict("The reservation is already cancelled.", "reservation_cancelled");
        if (now >= row.Start)
            return Errors.Conflict("The reservation has started; a block can be cancelled only before its start.", "reservation_started");
        row.CancelledAt = now;
        row.Refund = now <= row.Start - FullRefundNotice ? row.Price : 0m;
        if (row.Refund > 0m)
        {
            await ledger.AddInTransactionAsync(db, UsageEvent.Prepaid(
                row.Id + ":refund", row.OrgId, row.ProjectId, -row.Refund.Value, row.GpuModel, row.Region, now), http.RequestAborted);
        }
        // A concurrent cancel of the same block wrote the refund first: its id is taken, and this one changes nothing.
        if (!await Persist.TrySaveAsync(db, http.RequestAborted))
            return Errors.Conflict("The reservation is already cancelled.", "reservation_cancelled");
        await tx.CommitAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(ReservationView.Of(row, now), Json.Options);
    }

    private static IQueryable<ReservationRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Reservations.AsNoTracking().Where(r => r.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(r => r.ProjectId == only) : query;
    }
}
