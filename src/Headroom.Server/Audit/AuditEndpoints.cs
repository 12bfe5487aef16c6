using System.Globalization;
using Headroom.Core.Access;
using Headroom.Core.Audit;
using Headroom.Server.Api;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Audit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Audit;

public sealed record AuditView(
    string Id,
    string OrgId,
    long Seq,
    DateTimeOffset Time,
    string ActorType,
    string Actor,
    string Action,
    string Target,
    string SourceAddress,
    string Result,
    int StatusCode,
    string RequestId,
    string? Detail,
    string PrevHash,
    string Hash)
{
    public string Object => "audit_record";

    internal static AuditView Of(AuditRow r) => new(r.Id, r.OrgId, r.Seq, r.Time, r.ActorType, r.Actor, r.Action, r.Target,
        r.Source, r.Result, r.StatusCode, r.RequestId, r.Detail, r.PrevHash, r.Hash);
}

/// <summary>
/// The caller's org's audit log: filtered and paged by sequence number (<c>after</c> is a seq), newest
/// first unless <c>order=asc</c>; and exported in full for a SIEM as OCSF JSON lines or CEF. The
/// operator may read another org's log with <c>org_id</c>.
/// </summary>
internal static class AuditEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var audit = api.MapGroup("/audit").WithTags("Audit");
        audit.MapGet("", List).WithName("audit.list").RequireAccess(Permission.AuditRead);
        audit.MapGet("/export", Export).WithName("audit.export").RequireAccess(Permission.AuditRead);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        if (Filter(http, out var query) is { } invalid)
            return invalid;
        long? after = null;
        if (page.After is { } cursor)
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                return Errors.BadRequest("after must be a record's seq.", "after");
            after = seq;
        }
        var ascending = http.Request.Query["order"].ToString() switch
        {
            "" or "desc" => false,
            "asc" => true,
            _ => (bool?)null,
        };
        if (ascending is null)
            return Errors.BadRequest("order must be asc or desc.", "order");

        await using var db = database.Open();
        var rows = query!(db.AuditRecords.AsNoTracking());
        rows = (ascending.Value, after) switch
        {
            (true, { } a) => rows.Where(r => r.Seq > a).OrderBy(r => r.Seq),
            (true, null) => rows.OrderBy(r => r.Seq),
            (false, { } a) => rows.Where(r => r.Seq < a).OrderByDescending(r => r.Seq),
            (false, null) => rows.OrderByDescending(r => r.Seq),
        };
        var list = await rows.Take(page.Limit + 1).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(list, AuditView.Of, v => v.Seq.ToString(CultureInfo.InvariantCulture)), Json.Options);
    }

    private static async Task<IResult> Export(HttpContext http, Database database)
    {
        var format = http.Request.Query["format"].ToString();
        if (format is not ("ocsf" or "cef"))
            return Errors.BadRequest("format must be ocsf or cef.", "format");
        if (Filter(http, out var query) is { } invalid)
            return invalid;

        http.Response.ContentType = format == "ocsf" ? "application/x-ndjson; charset=utf-8" : "text/plain; charset=utf-8";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"audit.{(format == "ocsf" ? "jsonl" : "cef")}\"";
        await using var writer = new StreamWriter(http.Response.Body, leaveOpen: true);
        await using var db = database.Open();
        // Streams in seq order a batch at a time, so an org's whole history exports in constant memory.
        long last = 0;
        while (true)
        {
            var batch = await query!(db.AuditRecords.AsNoTracking()).Where(r => r.Seq > last).OrderBy(r => r.Seq)
                .Take(1000).ToListAsync(http.RequestAborted);
            foreach (var row in batch)
            {
                var record = AuditRows.ToRecord(row);
                await writer.WriteLineAsync(format == "ocsf" ? AuditOcsf.Format(record, HeadroomVersion.Text) : AuditCef.Format(record, HeadroomVersion.Text));
            }
            if (batch.Count < 1000)
                break;
            last = batch[^1].Seq;
        }
        await writer.FlushAsync(http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>Reads the filters both endpoints share: org (operator only), action, actor, target, result, from, to.</summary>
    private static IResult? Filter(HttpContext http, out Func<IQueryable<AuditRow>, IQueryable<AuditRow>>? query)
    {
        query = null;
        var principal = Access.Required(http);
        var q = http.Request.Query;
        var org = principal.OrgId;
        if (q["org_id"].ToString() is { Length: > 0 } requested && requested != org)
        {
            if (!principal.IsFleetAdmin)
                return Errors.NotFound("org", requested);
            org = requested;
        }
        DateTimeOffset? from = null, to = null;
        foreach (var (name, assign) in new (string, Action<DateTimeOffset>)[] { ("from", v => from = v), ("to", v => to = v) })
        {
            if (q[name].ToString() is { Length: > 0 } text)
            {
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
                    return Errors.BadRequest($"{name} must be an RFC 3339 time.", name);
                assign(time.ToUniversalTime());
            }
        }
        var action = q["action"].ToString();
        var actor = q["actor"].ToString();
        var target = q["target"].ToString();
        var result = q["result"].ToString();
        if (result.Length > 0 && result is not ("success" or "failure"))
            return Errors.BadRequest("result must be success or failure.", "result");

        query = rows =>
        {
            rows = rows.Where(r => r.OrgId == org);
            if (action.Length > 0)
                rows = rows.Where(r => r.Action == action);
            if (actor.Length > 0)
                rows = rows.Where(r => r.Actor == actor);
            if (target.Length > 0)
                rows = rows.Where(r => r.Target == target);
            if (result.Length > 0)
                rows = rows.Where(r => r.Result == result);
            if (from is { } f)
                rows = rows.Where(r => r.Time >= f);
            if (to is { } t)
                rows = rows.Where(r => r.Time < t);
            return rows;
        };
        return null;
    }
}
