using System.Security.Cryptography;
using Headroom.Core.Access;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Batches;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Batches;

/// <summary>
/// OpenAI's files API, for batch input and output files: multipart upload (<c>file</c>, <c>purpose</c>), list, get,
/// content, delete. A file belongs to a project of the caller's org; another org's (or, for a project-scoped key,
/// another project's) file is a 404 like a missing one.
/// </summary>
internal static class FileEndpoints
{
    /// <summary>The purposes a tenant may upload; <c>batch_output</c> files are written by batches only.</summary>
    private static readonly string[] s_uploadPurposes = ["batch"];

    public static void Map(IEndpointRouteBuilder api)
    {
        var files = api.MapGroup("/files").WithTags("Files");
        files.MapPost("", Upload).WithName("files.create").RequireAccess(Permission.ModelInvoke).DisableAntiforgery()
            .WithMetadata(new NoIdempotencyReplay("an upload is too large to keep for a replay; a retried upload makes another file"));
        files.MapGet("", List).WithName("files.list").RequireAccess(Permission.ModelInvoke);
        files.MapGet("/{id}", Get).WithName("files.get").RequireAccess(Permission.ModelInvoke);
        files.MapGet("/{id}/content", Content).WithName("files.content").RequireAccess(Permission.ModelInvoke);
        files.MapDelete("/{id}", Delete).WithName("files.delete").RequireAccess(Permission.ModelInvoke);
    }

    private static async Task<IResult> Upload(HttpContext http, Database database, Ids ids, TimeProvider time, HeadroomSettings settings)
    {
        var principal = Access.Required(http);
        // Uploads may be larger than the API's other bodies: the multipart envelope gets a little room above the file limit.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = settings.MaxFileBytes + (64 << 10);
        if (!http.Request.HasFormContentType)
            return Errors.BadRequest("Upload a file as multipart/form-data with the fields 'file' and 'purpose'.", "file");
        IFormCollection form;
        try
        {
            form = await http.Request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = settings.MaxFileBytes + (64 << 10) }, http.RequestAborted);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
        {
            return Errors.BadRequest($"The upload could not be read: {e.Message} (files hold at most {settings.MaxFileBytes} bytes).", "file");
        }
        var purpose = form["purpose"].ToString();
        if (!s_uploadPurposes.Contains(purpose))
            return Errors.BadRequest($"purpose must be one of {string.Join(", ", s_uploadPurposes)}.", "purpose");
        if (form.Files.GetFile("file") is not { } file)
            return Errors.BadRequest("The field 'file' is required.", "file");
        if (file.Length > settings.MaxFileBytes)
            return Errors.BadRequest($"The file has {file.Length} bytes; files hold at most {settings.MaxFileBytes}.", "file");
        var (project, refusal) = await ProjectOfAsync(database, principal, http.Request.Headers["OpenAI-Project"].ToString(), http.RequestAborted);
        if (project is null)
            return refusal!;

        var content = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
            await stream.ReadExactlyAsync(content, http.RequestAborted);
        var row = await StoreAsync(database, ids, time, principal.OrgId, project, principal.ActorId, purpose,
            Path.GetFileName(file.FileName) is { Length: > 0 and <= 255 } name ? name : "upload.jsonl", content, http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(FileView.Of(row), Json.Options);
    }

    /// <summary>Stores a file and its content in one transaction.</summary>
    internal static async Task<FileRow> StoreAsync(Database database, Ids ids, TimeProvider time, string orgId, string projectId, string createdBy,
        string purpose, string filename, byte[] content, CancellationToken cancellationToken)
    {
        var row = new FileRow
        {
            Id = ids.New("file"),
            OrgId = orgId,
            ProjectId = projectId,
            Purpose = purpose,
            Filename = filename,
            Bytes = content.LongLength,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)),
            CreatedBy = createdBy,
            CreatedAt = time.GetUtcNow(),
        };
        await using var db = database.Open();
        db.Files.Add(row);
        db.FileContents.Add(new FileContentRow { FileId = row.Id, Content = content });
        await db.SaveChangesAsync(cancellationToken);
        return row;
    }

    /// <summary>
    /// The project an upload or a batch belongs to: the key's project, else the <c>OpenAI-Project</c> header, else the
    /// org's first project (as for model calls).
    /// </summary>
    internal static async Task<(string? Project, IResult? Refusal)> ProjectOfAsync(Database database, Principal principal, string header, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var projects = db.Projects.AsNoTracking().Where(p => p.OrgId == principal.OrgId);
        if (header.Length > 0)
        {
            if (principal.ProjectId is { } scoped && scoped != header)
                return (null, Errors.Forbidden($"This API key is scoped to project {scoped}."));
            return await projects.AnyAsync(p => p.Id == header, cancellationToken)
                ? (header, null)
                : (null, Errors.BadRequest($"No project with id '{header}' (from the OpenAI-Project header).", "OpenAI-Project", "project_not_found"));
        }
        if (principal.ProjectId is { } own)
            return (own, null);
        var first = await projects.OrderBy(p => p.CreatedAt).ThenBy(p => p.Id).Select(p => p.Id).FirstOrDefaultAsync(cancellationToken);
        return first is null
            ? (null, Errors.BadRequest("Files and batches belong to a project, and this org has none: create one (POST /v1/projects) or send the OpenAI-Project header.", "OpenAI-Project", "project_required"))
            : (first, null);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var query = Visible(db, Access.Required(http));
        if (http.Request.Query["purpose"].ToString() is { Length: > 0 } purpose)
            query = query.Where(f => f.Purpose == purpose);
        var rows = await page.ApplyTo(query, f => f.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, FileView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(f => f.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("file", id) : Results.Json(FileView.Of(row), Json.Options);
    }

    private static async Task<IResult> Content(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(f => f.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("file", id);
        var content = await db.FileContents.AsNoTracking().Where(c => c.FileId == id).Select(c => c.Content).SingleAsync(http.RequestAborted);
        return Results.Bytes(content, "application/octet-stream", row.Filename);
    }

    private static async Task<IResult> Delete(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().SingleOrDefaultAsync(f => f.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("file", id);
        // A batch that has not ended still reads its input file.
        var open = BatchStatus.Open;
        if (await db.Batches.AnyAsync(b => b.InputFileId == id && open.Contains(b.Status), http.RequestAborted))
            return Errors.Conflict($"File {id} is the input of a batch that has not ended.", "file_in_use");
        db.Files.Remove(row);
        await db.FileContents.Where(c => c.FileId == id).ExecuteDeleteAsync(http.RequestAborted);
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, id);
        return Results.Json(new DeletedFileView(id, true), Json.Options);
    }

    internal static IQueryable<FileRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Files.AsNoTracking().Where(f => f.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(f => f.ProjectId == only) : query;
    }
}
