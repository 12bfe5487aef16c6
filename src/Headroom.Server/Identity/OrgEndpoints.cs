using Headroom.Core.Access;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Store;
using Headroom.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Identity;

public sealed record OrgView(string Id, string Name, string DisplayName, DateTimeOffset CreatedAt)
{
    public string Object => "org";
    internal static OrgView Of(OrgRow r) => new(r.Id, r.Name, r.DisplayName, r.CreatedAt);
}

public sealed record CreateOrgRequest(string? Name, string? DisplayName);

public sealed record UpdateOrgRequest(string? DisplayName);

/// <summary>
/// Orgs are tenants. The operator (fleet-admin) creates them and sees them all; everyone else sees
/// only their own org, and another org's id answers 404 as if it did not exist.
/// </summary>
internal static class OrgEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var orgs = api.MapGroup("/orgs").WithTags("Orgs");
        orgs.MapGet("", List).WithName("orgs.list").RequireAccess(Permission.OrgRead);
        orgs.MapPost("", Create).WithName("orgs.create").RequireAccess(Permission.OrgsManage);
        orgs.MapGet("/{id}", Get).WithName("orgs.get").RequireAccess(Permission.OrgRead);
        orgs.MapPatch("/{id}", Update).WithName("orgs.update").RequireAccess(Permission.OrgUpdate);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var principal = Access.Required(http);
        await using var db = database.Open();
        var query = db.Orgs.AsNoTracking();
        if (!principal.IsFleetAdmin)
            query = query.Where(o => o.Id == principal.OrgId);
        var rows = await page.ApplyTo(query, o => o.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, OrgView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Create(HttpContext http, CreateOrgRequest? body, Database database, Ids ids, TimeProvider time)
    {
        if (body is null)
            return Errors.MissingBody;
        if ((Validate.Slug(body.Name, "name") ?? Validate.Text(body.DisplayName, "display_name", 200)) is { } invalid)
            return invalid;
        if (body.Name == Bootstrap.InternalOrgName)
            return Errors.Conflict("The name 'internal' belongs to the operator's org.", "name_taken", "name");

        await using var db = database.Open();
        if (await db.Orgs.AnyAsync(o => o.Name == body.Name, http.RequestAborted))
            return Errors.Conflict($"An org named '{body.Name}' already exists.", "name_taken", "name");
        var row = new OrgRow { Id = ids.New("org"), Name = body.Name!, DisplayName = body.DisplayName ?? body.Name!, CreatedAt = time.GetUtcNow() };
        db.Orgs.Add(row);
        if (!await Persist.TrySaveAsync(db, http.RequestAborted))
            return Errors.Conflict($"An org named '{body.Name}' already exists.", "name_taken", "name");
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(OrgView.Of(row), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Id == id, http.RequestAborted);
        return row is null || !Sees(principal, row.Id) ? Errors.NotFound("org", id) : Results.Json(OrgView.Of(row), Json.Options);
    }

    private static async Task<IResult> Update(HttpContext http, string id, UpdateOrgRequest? body, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Orgs.SingleOrDefaultAsync(o => o.Id == id, http.RequestAborted);
        if (row is null || !Sees(principal, row.Id))
            return Errors.NotFound("org", id);
        if (body is null)
            return Errors.MissingBody;
        if (Validate.Text(body.DisplayName, "display_name", 200, required: true) is { } invalid)
            return invalid;
        row.DisplayName = body.DisplayName!;
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(OrgView.Of(row), Json.Options);
    }

    private static bool Sees(Principal principal, string orgId) => principal.IsFleetAdmin || principal.OrgId == orgId;
}
