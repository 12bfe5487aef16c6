using Headroom.Core.Access;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Store;
using Headroom.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Identity;

public sealed record ProjectView(string Id, string OrgId, string Name, string Description, ProjectModelLimits ModelLimits, DateTimeOffset CreatedAt)
{
    public string Object => "project";
    internal static ProjectView Of(ProjectRow r) => new(r.Id, r.OrgId, r.Name, r.Description,
        new ProjectModelLimits(r.ModelRequestsPerMinute, r.ModelTokensPerMinute, r.ModelConcurrentRequests), r.CreatedAt);
}

/// <summary>
/// A project's own limits on hosted-model calls (null: none of its own). They only tighten the operator's per-project
/// limits; see docs/models.md.
/// </summary>
public sealed record ProjectModelLimits(int? RequestsPerMinute, int? TokensPerMinute, int? ConcurrentRequests);

public sealed record CreateProjectRequest(string? Name, string? Description);

/// <summary>Either field or both; <c>model_limits</c> replaces the project's own limits as a whole.</summary>
public sealed record UpdateProjectRequest(string? Description, ProjectModelLimits? ModelLimits);

/// <summary>
/// Projects belong to the caller's org. A key scoped to one project sees only that project and
/// cannot create others.
/// </summary>
internal static class ProjectEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var projects = api.MapGroup("/projects").WithTags("Projects");
        projects.MapGet("", List).WithName("projects.list").RequireAccess(Permission.ProjectRead);
        projects.MapPost("", Create).WithName("projects.create").RequireAccess(Permission.ProjectWrite);
        projects.MapGet("/{id}", Get).WithName("projects.get").RequireAccess(Permission.ProjectRead);
        projects.MapPatch("/{id}", Update).WithName("projects.update").RequireAccess(Permission.ProjectWrite);
        projects.MapDelete("/{id}", Delete).WithName("projects.delete").RequireAccess(Permission.ProjectWrite);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var principal = Access.Required(http);
        await using var db = database.Open();
        var query = Visible(db, principal);
        var rows = await page.ApplyTo(query, p => p.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, ProjectView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Create(HttpContext http, CreateProjectRequest? body, Database database, Ids ids, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (principal.ProjectId is not null)
            return Errors.Forbidden("A key scoped to one project cannot create projects.");
        if (body is null)
            return Errors.MissingBody;
        if ((Validate.Slug(body.Name, "name") ?? Validate.Text(body.Description, "description", 1000)) is { } invalid)
            return invalid;

        await using var db = database.Open();
        var row = new ProjectRow
        {
            Id = ids.New("prj"),
            OrgId = principal.OrgId,
            Name = body.Name!,
            Description = body.Description ?? "",
            CreatedAt = time.GetUtcNow(),
        };
        db.Projects.Add(row);
        if (!await Persist.TrySaveAsync(db, http.RequestAborted))
            return Errors.Conflict($"A project named '{body.Name}' already exists in this org.", "name_taken", "name");
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(ProjectView.Of(row), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("project", id) : Results.Json(ProjectView.Of(row), Json.Options);
    }

    private static async Task<IResult> Update(HttpContext http, string id, UpdateProjectRequest? body, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().SingleOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("project", id);
        if (body is null)
            return Errors.MissingBody;
        if (body.Description is null && body.ModelLimits is null)
            return Errors.BadRequest("Send description, model_limits or both.", "description");
        if (body.Description is not null && Validate.Text(body.Description, "description", 1000, required: true) is { } invalid)
            return invalid;
        if (body.ModelLimits is { } limits)
        {
            foreach (var (value, name) in new[] { (limits.RequestsPerMinute, "requests_per_minute"), (limits.TokensPerMinute, "tokens_per_minute"), (limits.ConcurrentRequests, "concurrent_requests") })
            {
                if (value is < 1 or > 1_000_000_000)
                    return Errors.BadRequest($"model_limits.{name} must be a whole number from 1 to 1000000000, or null for none.", "model_limits." + name);
            }
            row.ModelRequestsPerMinute = limits.RequestsPerMinute;
            row.ModelTokensPerMinute = limits.TokensPerMinute;
            row.ModelConcurrentRequests = limits.ConcurrentRequests;
        }
        if (body.Description is not null)
            row.Description = body.Description;
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(ProjectView.Of(row), Json.Options);
    }

    /// <summary>Deletes an empty project; one that still has live keys or active jobs answers 409.</summary>
    private static async Task<IResult> Delete(HttpContext http, string id, Database database)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await Visible(db, principal).AsTracking().SingleOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("project", id);
        if (principal.ProjectId is not null)
            return Errors.Forbidden("A key scoped to a project cannot delete it.");
        if (await db.ApiKeys.AnyAsync(k => k.ProjectId == id && k.RevokedAt == null, http.RequestAborted))
            return Errors.Conflict("The project still has API keys scoped to it; revoke them first.", "project_not_empty");
        var active = WorkloadCodes.ActiveCodes;
        if (await db.Jobs.AnyAsync(j => j.ProjectId == id && active.Contains(j.State), http.RequestAborted))
            return Errors.Conflict("The project still has jobs queued or running; cancel them first.", "project_not_empty");
        db.Projects.Remove(row);
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(new { id, @object = "project", deleted = true }, Json.Options);
    }

    private static IQueryable<ProjectRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Projects.AsNoTracking().Where(p => p.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(p => p.Id == only) : query;
    }
}
