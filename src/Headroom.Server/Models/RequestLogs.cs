using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Gateway.OpenAi;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Models;

/// <summary>
/// One stored model call of a project that keeps request logs: what was asked (<see cref="Request"/>, the body as
/// sent) and answered (<see cref="Response"/>, the text, assembled when streamed), with the call's metadata.
/// </summary>
public sealed record RequestLogView(
    string Id, string RequestId, string ProjectId, string Model, string Operation, string? ApiKeyId, string Actor, string? Region,
    bool Stream, long InputTokens, long OutputTokens, bool Estimated, int Status, DateTimeOffset StartedAt, DateTimeOffset CompletedAt,
    JsonElement Request, string? Response)
{
    public string Object => "request_log";

    internal static RequestLogView Of(RequestLogRow r) => new(r.Id, r.RequestId, r.ProjectId, r.Model, r.Operation, r.ApiKeyId, r.Actor, r.Region,
        r.Stream, r.InputTokens, r.OutputTokens, r.Estimated, r.Status, r.StartedAt, r.CompletedAt,
        JsonDocument.Parse(r.RequestBody).RootElement.Clone(), r.ResponseBody);
}

/// <summary>
/// <c>GET /v1/projects/{id}/request-logs</c>: the model calls a project keeps (<c>retention</c> in days), newest last,
/// paged by id, for the project's owners and admins (<see cref="Permission.RequestLogRead"/>). A project without
/// retention has none: nothing of its calls but metadata is ever written.
/// </summary>
internal static class RequestLogs
{
    public static void Map(IEndpointRouteBuilder v1) =>
        v1.MapGet("/projects/{id}/request-logs", List).WithTags("Projects").WithName("projects.request_logs").RequireAccess(Permission.RequestLogRead);

    /// <summary>The stored name of an operation: the route's own (<c>chat.completions</c>, ...).</summary>
    public static string OperationCode(GatewayOperation operation) => operation switch
    {
        GatewayOperation.ChatCompletions => "chat.completions",
        GatewayOperation.Completions => "completions",
        _ => "embeddings",
    };

    private static async Task<IResult> List(HttpContext http, string id, Database database, CallJournal journal)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var principal = Access.Required(http);
        if (principal.ProjectId is { } only && only != id)
            return Errors.NotFound("project", id);
        // Calls answered a moment ago may still be in the spool (SQLite): the list shows them.
        await journal.DrainAsync(http.RequestAborted);
        await using var db = database.Open();
        if (!await db.Projects.AnyAsync(p => p.Id == id && p.OrgId == principal.OrgId, http.RequestAborted))
            return Errors.NotFound("project", id);
        var rows = await page.ApplyTo(db.RequestLogs.AsNoTracking().Where(r => r.ProjectId == id && r.OrgId == principal.OrgId), r => r.Id)
            .ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, RequestLogView.Of, v => v.Id), Json.Options);
    }

    /// <summary>
    /// Deletes the logs each project no longer keeps: older than its retention, or all of them once it keeps none
    /// (or was deleted). Returns how many were deleted.
    /// </summary>
    public static async Task<int> PruneAsync(HeadroomDb db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var keeping = await db.Projects.AsNoTracking().Where(p => p.RetentionDays != null)
            .Select(p => new { p.Id, Days = p.RetentionDays!.Value }).ToListAsync(cancellationToken);
        var keepingIds = keeping.Select(p => p.Id).ToList();
        var removed = await db.RequestLogs.Where(r => !keepingIds.Contains(r.ProjectId)).ExecuteDeleteAsync(cancellationToken);
        foreach (var byDays in keeping.GroupBy(p => p.Days))
        {
            var cutoff = now - TimeSpan.FromDays(byDays.Key);
            var projects = byDays.Select(p => p.Id).ToList();
            removed += await db.RequestLogs.Where(r => projects.Contains(r.ProjectId) && r.CompletedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        }
        return removed;
    }
}
