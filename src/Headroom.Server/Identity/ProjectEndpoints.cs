using System.Globalization;
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

/// <param name="Retention">How long the project's model calls are kept as request logs: <c>none</c> or <c>{N}d</c>.</param>
/// <param name="Training">Headroom's recorded promise about training on the project's data: always <c>never</c>.</param>
/// <param name="Regions">Fleet regions the project's model calls may be served in; empty: any.</param>
public sealed record ProjectView(string Id, string OrgId, string Name, string Description, ProjectModelLimits ModelLimits,
    string Retention, string Training, IReadOnlyList<string> Regions, DateTimeOffset CreatedAt)
{
    public string Object => "project";
    internal static ProjectView Of(ProjectRow r) => new(r.Id, r.OrgId, r.Name, r.Description,
        new ProjectModelLimits(r.ModelRequestsPerMinute, r.ModelTokensPerMinute, r.ModelConcurrentRequests),
        ProjectSettings.RetentionText(r.RetentionDays), r.Training, ProjectSettings.RegionsOf(r) ?? [], r.CreatedAt);
}

/// <summary>
/// A project's own limits on hosted-model calls (null: none of its own). They only tighten the operator's per-project
/// limits; see docs/models.md.
/// </summary>
public sealed record ProjectModelLimits(int? RequestsPerMinute, int? TokensPerMinute, int? ConcurrentRequests);

public sealed record CreateProjectRequest(string? Name, string? Description);

/// <summary>
/// Any of the fields; an absent one is left as it is. <c>model_limits</c> replaces the project's own limits as a whole,
/// <c>regions</c> the region list (<c>[]</c>: any region).
/// </summary>
public sealed record UpdateProjectRequest(string? Description, ProjectModelLimits? ModelLimits, string? Retention, string? Training, IReadOnlyList<string>? Regions);

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

    private static async Task<IResult> Create(HttpContext http, CreateProjectRequest? body, Database database, HotRows rows, Ids ids, TimeProvider time)
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
        rows.ProjectsChanged(principal.OrgId);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(ProjectView.Of(row), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("project", id) : Results.Json(ProjectView.Of(row), Json.Options);
    }

    private static async Task<IResult> Update(HttpContext http, string id, UpdateProjectRequest? body, Database database, HotRows rows)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().SingleOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("project", id);
        if (body is null)
            return Errors.MissingBody;
        if (body is { Description: null, ModelLimits: null, Retention: null, Training: null, Regions: null })
            return Errors.BadRequest("Send one or more of description, model_limits, retention, training, regions.", "description");
        if (body.Description is not null && Validate.Text(body.Description, "description", 1000, required: true) is { } invalid)
            return invalid;
        if (body.ModelLimits is { } limits)
        {
            foreach (var (value, name) in new[] { (limits.RequestsPerMinute, "requests_per_minute"), (limits.TokensPerMinute, "tokens_per_minute"), (limits.ConcurrentRequests, "concurrent_requests") })
            {
                if (value is < 1 or > 1_000_000_000)
                    return Errors.BadRequest($"model_limits.{name} must be a whole number from 1 to 1000000000, or null for none.", "model_limits." + name);
            }
        }
        int? retentionDays = null;
        if (body.Retention is { } retention && !ProjectSettings.TryParseRetention(retention, out retentionDays))
            return Errors.BadRequest($"retention must be 'none' or a number of days from 1 to {ProjectSettings.MaxRetentionDays} written like '30d', not '{retention}'.", "retention");
        if (body.Training is { } training && training != ProjectSettings.TrainingNever)
            return Errors.BadRequest($"training can only be '{ProjectSettings.TrainingNever}': Headroom never trains on tenant data, and the field records that promise.", "training");
        if (body.Regions is { } regions && await ProjectSettings.CheckRegionsAsync(db, regions, http.RequestAborted) is { } badRegions)
            return badRegions;

        var changed = new List<string>();
        if (body.Description is not null)
            row.Description = body.Description;
        if (body.ModelLimits is { } l)
        {
            row.ModelRequestsPerMinute = l.RequestsPerMinute;
            row.ModelTokensPerMinute = l.TokensPerMinute;
            row.ModelConcurrentRequests = l.ConcurrentRequests;
        }
        if (body.Retention is not null)
        {
            row.RetentionDays = retentionDays;
            changed.Add("retention=" + ProjectSettings.RetentionText(retentionDays));
        }
        if (body.Training is not null)
        {
            row.Training = body.Training;
            changed.Add("training=" + body.Training);
        }
        if (body.Regions is { } pinned)
        {
            row.Regions = pinned.Count == 0 ? null : string.Join(',', pinned);
            changed.Add("regions=" + (pinned.Count == 0 ? "any" : row.Regions));
        }
        await db.SaveChangesAsync(http.RequestAborted);
        rows.ProjectsChanged(row.OrgId);
        // The governance settings are the tenant's evidence: their new values go into the audit record.
        if (changed.Count > 0)
            AuditMiddleware.SetDetail(http, string.Join(' ', changed));
        return Results.Json(ProjectView.Of(row), Json.Options);
    }

    /// <summary>Deletes an empty project; one that still has live keys or active jobs answers 409.</summary>
    private static async Task<IResult> Delete(HttpContext http, string id, Database database, HotRows rows)
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
        rows.ProjectsChanged(row.OrgId);
        return Results.Json(new { id, @object = "project", deleted = true }, Json.Options);
    }

    private static IQueryable<ProjectRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Projects.AsNoTracking().Where(p => p.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(p => p.Id == only) : query;
    }
}

/// <summary>
/// A project's data-governance settings (docs/models.md): how long its model calls are kept (<c>retention</c>), the
/// recorded promise that its data is never trained on (<c>training</c>), and the regions its calls may be served in.
/// </summary>
internal static class ProjectSettings
{
    public const string TrainingNever = "never";
    public const int MaxRetentionDays = 3650;
    public const int MaxRegions = 32;

    public static string RetentionText(int? days) => days is { } d ? d.ToString(CultureInfo.InvariantCulture) + "d" : "none";

    /// <summary><c>none</c> (null days) or <c>{N}d</c> with N from 1 to <see cref="MaxRetentionDays"/>.</summary>
    public static bool TryParseRetention(string text, out int? days)
    {
        days = null;
        if (text == "none")
            return true;
        if (text.Length < 2 || text[^1] != 'd' || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || n is < 1 or > MaxRetentionDays)
            return false;
        days = n;
        return true;
    }

    /// <summary>The regions a project is pinned to, in the order given; null when it is not pinned.</summary>
    public static IReadOnlyList<string>? RegionsOf(ProjectRow row) => row.Regions is { Length: > 0 } text ? text.Split(',') : null;

    /// <summary>A 400 naming <c>regions</c> unless every entry is a distinct region of the fleet.</summary>
    public static async Task<IResult?> CheckRegionsAsync(HeadroomDb db, IReadOnlyList<string> regions, CancellationToken cancellationToken)
    {
        if (regions.Count > MaxRegions)
            return Errors.BadRequest($"regions lists at most {MaxRegions} regions.", "regions");
        if (regions.Distinct(StringComparer.Ordinal).Count() != regions.Count)
            return Errors.BadRequest("regions lists a region twice.", "regions");
        var fleet = await db.Regions.AsNoTracking().Select(r => r.Name).ToListAsync(cancellationToken);
        foreach (var region in regions)
        {
            if (string.IsNullOrEmpty(region) || !fleet.Contains(region, StringComparer.Ordinal))
                return Errors.BadRequest($"regions: '{region}' is not a region of the fleet (its regions: {string.Join(", ", fleet.Order(StringComparer.Ordinal))}).", "regions");
        }
        return null;
    }
}
