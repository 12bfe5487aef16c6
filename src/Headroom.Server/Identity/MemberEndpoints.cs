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

public sealed record MemberView(string Id, string OrgId, string Email, string Role, DateTimeOffset CreatedAt)
{
    public string Object => "member";
    internal static MemberView Of(MemberRow r) => new(r.Id, r.OrgId, r.Email, r.Role, r.CreatedAt);
}

public sealed record AddMemberRequest(string? Email, string? Role);

public sealed record UpdateMemberRequest(string? Role);

/// <summary>
/// Members are people (by email) with one role in the caller's org. A caller grants or changes
/// roles only up to its own rank, and an org always keeps at least one owner.
/// </summary>
internal static class MemberEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var members = api.MapGroup("/members").WithTags("Members");
        members.MapGet("", List).WithName("members.list").RequireAccess(Permission.MemberRead);
        members.MapPost("", Add).WithName("members.create").RequireAccess(Permission.MemberWrite);
        members.MapGet("/{id}", Get).WithName("members.get").RequireAccess(Permission.MemberRead);
        members.MapPatch("/{id}", Update).WithName("members.update").RequireAccess(Permission.MemberWrite);
        members.MapDelete("/{id}", Remove).WithName("members.delete").RequireAccess(Permission.MemberWrite);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var principal = Access.Required(http);
        await using var db = database.Open();
        var query = db.Members.AsNoTracking().Where(m => m.OrgId == principal.OrgId);
        var rows = await page.ApplyTo(query, m => m.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, MemberView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Add(HttpContext http, AddMemberRequest? body, Database database, Ids ids, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        var email = Validate.Email(body.Email, "email", out var emailError);
        if (emailError is not null)
            return emailError;
        if (Grantable(principal, body.Role, "role", out var role) is { } roleError)
            return roleError;

        await using var db = database.Open();
        var row = new MemberRow { Id = ids.New("mem"), OrgId = principal.OrgId, Email = email!, Role = role.Code(), CreatedAt = time.GetUtcNow() };
        db.Members.Add(row);
        if (!await Persist.TrySaveAsync(db, http.RequestAborted))
            return Errors.Conflict($"{email} is already a member of this org.", "member_exists", "email");
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(MemberView.Of(row), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id && m.OrgId == principal.OrgId, http.RequestAborted);
        return row is null ? Errors.NotFound("member", id) : Results.Json(MemberView.Of(row), Json.Options);
    }

    private static async Task<IResult> Update(HttpContext http, string id, UpdateMemberRequest? body, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Members.SingleOrDefaultAsync(m => m.Id == id && m.OrgId == principal.OrgId, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("member", id);
        if (body is null)
            return Errors.MissingBody;
        if (Grantable(principal, body.Role, "role", out var role) is { } roleError)
            return roleError;
        if (Roles.TryParse(row.Role, out var current) && current.Rank() > Roles.HighestRank(principal.Roles))
            return Errors.Forbidden($"Only a caller ranked at least {row.Role} may change this member's role.");
        if (row.Role == Role.Owner.Code() && role != Role.Owner && await IsLastOwnerAsync(db, principal.OrgId, http.RequestAborted))
            return Errors.Conflict("This is the org's last owner; make another member owner first.", "last_owner");
        row.Role = role.Code();
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(MemberView.Of(row), Json.Options);
    }

    private static async Task<IResult> Remove(HttpContext http, string id, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Members.SingleOrDefaultAsync(m => m.Id == id && m.OrgId == principal.OrgId, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("member", id);
        if (Roles.TryParse(row.Role, out var current) && current.Rank() > Roles.HighestRank(principal.Roles))
            return Errors.Forbidden($"Only a caller ranked at least {row.Role} may remove this member.");
        if (row.Role == Role.Owner.Code() && await IsLastOwnerAsync(db, principal.OrgId, http.RequestAborted))
            return Errors.Conflict("This is the org's last owner; make another member owner first.", "last_owner");
        db.Members.Remove(row);
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(new { id, @object = "member", deleted = true }, Json.Options);
    }

    /// <summary>
    /// Checks that <paramref name="code"/> names a role the caller may hand out: no higher than its
    /// own, and fleet-admin only by a fleet-admin inside the operator's org.
    /// </summary>
    internal static IResult? Grantable(Principal principal, string? code, string param, out Role role)
    {
        if (!Roles.TryParse(code, out role))
            return Errors.BadRequest($"{param} must be one of {string.Join(", ", Roles.AllCodes)}.", param);
        if (role == Role.FleetAdmin && (!principal.IsFleetAdmin || principal.OrgId != Bootstrap.InternalOrgId))
            return Errors.Forbidden("Only a fleet-admin of the operator's org may grant fleet-admin.");
        if (role.Rank() > Roles.HighestRank(principal.Roles))
            return Errors.Forbidden($"A caller with roles {Roles.FormatList(principal.Roles)} may not grant {role.Code()}.");
        return null;
    }

    private static async Task<bool> IsLastOwnerAsync(HeadroomDb db, string orgId, CancellationToken cancellationToken) =>
        await db.Members.CountAsync(m => m.OrgId == orgId && m.Role == "owner", cancellationToken) <= 1;
}
