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

public sealed record KeyView(
    string Id,
    string OrgId,
    string? ProjectId,
    string Name,
    string Prefix,
    IReadOnlyList<string> Roles,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? LastUsedAt)
{
    public string Object => "api_key";

    internal static KeyView Of(ApiKeyRow r) => new(r.Id, r.OrgId, r.ProjectId, r.Name, ApiKeySecrets.Prefix + r.LookupId,
        r.Roles.Split(',', StringSplitOptions.RemoveEmptyEntries), r.CreatedBy, r.CreatedAt, r.ExpiresAt, r.RevokedAt, r.LastUsedAt);
}

/// <summary>The one response that carries a key's secret: the answer to its creation.</summary>
public sealed record CreatedKeyView(KeyView ApiKey, string Key)
{
    public string Object => "api_key.created";
}

public sealed record CreateKeyRequest(string? Name, IReadOnlyList<string>? Roles, string? ProjectId, DateTimeOffset? ExpiresAt, string? OrgId);

/// <summary>
/// API keys of the caller's org. A new key holds no role above its creator's, and a project-scoped
/// creator can only make keys for its own project. Only the operator may issue a key into another
/// org (how a new tenant gets its first key). Revocation is immediate and permanent.
/// </summary>
internal static class KeyEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var keys = api.MapGroup("/keys").WithTags("Keys");
        keys.MapGet("", List).WithName("keys.list").RequireAccess(Permission.KeyRead);
        keys.MapPost("", Create).WithName("keys.create").RequireAccess(Permission.KeyWrite);
        keys.MapGet("/{id}", Get).WithName("keys.get").RequireAccess(Permission.KeyRead);
        keys.MapPost("/{id}/revoke", Revoke).WithName("keys.revoke").RequireAccess(Permission.KeyWrite);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var query = Visible(db, Access.Required(http));
        var rows = await page.ApplyTo(query, k => k.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, KeyView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Create(HttpContext http, CreateKeyRequest? body, Database database, Ids ids, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        if (Validate.Text(body.Name, "name", 200, required: true) is { } invalid)
            return invalid;
        if (body.Roles is not { Count: > 0 } codes)
            return Errors.BadRequest("roles must name at least one role.", "roles");
        var roles = new HashSet<Role>();
        foreach (var code in codes)
        {
            if (MemberEndpoints.Grantable(principal, code, "roles", out var role) is { } roleError)
                return roleError;
            roles.Add(role);
        }

        var now = time.GetUtcNow();
        if (body.ExpiresAt is { } expires && expires <= now)
            return Errors.BadRequest("expires_at must be in the future.", "expires_at");

        await using var db = database.Open();
        var orgId = principal.OrgId;
        if (body.OrgId is { } targetOrg && targetOrg != principal.OrgId)
        {
            if (!principal.IsFleetAdmin)
                return Errors.Forbidden("Only the operator may create keys in another org.");
            if (!await db.Orgs.AnyAsync(o => o.Id == targetOrg, http.RequestAborted))
                return Errors.NotFound("org", targetOrg);
            if (roles.Contains(Role.FleetAdmin))
                return Errors.Forbidden("fleet-admin exists only in the operator's org.");
            orgId = targetOrg;
        }

        var projectId = body.ProjectId ?? principal.ProjectId;
        if (principal.ProjectId is not null && projectId != principal.ProjectId)
            return Errors.Forbidden("A key scoped to a project can only create keys for that project.");
        if (projectId is not null && !await db.Projects.AnyAsync(p => p.Id == projectId && p.OrgId == orgId, http.RequestAborted))
            return Errors.NotFound("project", projectId);

        var (key, lookup, hash) = ApiKeySecrets.Create();
        var row = new ApiKeyRow
        {
            Id = ids.New("key"),
            OrgId = orgId,
            ProjectId = projectId,
            Name = body.Name!,
            LookupId = lookup,
            SecretHash = hash,
            Roles = Roles.FormatList(roles),
            CreatedBy = principal.ActorId,
            CreatedAt = now,
            ExpiresAt = body.ExpiresAt,
        };
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(new CreatedKeyView(KeyView.Of(row), key), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(k => k.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("api key", id) : Results.Json(KeyView.Of(row), Json.Options);
    }

    private static async Task<IResult> Revoke(HttpContext http, string id, Database database, HotRows rows, TimeProvider time)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await Visible(db, principal).AsTracking().SingleOrDefaultAsync(k => k.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("api key", id);
        if (Roles.HighestRank(Roles.ParseList(row.Roles)) > Roles.HighestRank(principal.Roles))
            return Errors.Forbidden("A key can only be revoked by a caller ranked at least as high as the key.");
        row.RevokedAt ??= time.GetUtcNow();
        await db.SaveChangesAsync(http.RequestAborted);
        rows.KeysChanged();
        return Results.Json(KeyView.Of(row), Json.Options);
    }

    private static IQueryable<ApiKeyRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.ApiKeys.AsNoTracking().Where(k => k.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(k => k.ProjectId == only) : query;
    }
}
