using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Batches;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Billing;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Slurm;
using Headroom.Store;
using Headroom.Store.Batches;
using Headroom.Store.Identity;
using Headroom.Store.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Batches;

/// <summary>
/// OpenAI's batches API. Creating a batch validates its input file (a malformed request is a 400; a file whose lines
/// are wrong makes a <c>failed</c> batch with <c>errors</c> naming the lines, as OpenAI does), then, in one
/// transaction, mints an API key for the batch and queues a <c>spot</c> job of the batch's project whose command is
/// <c>headroom batch-worker</c> (src/Headroom.Cli/Batches). The worker calls this replica's own <c>/v1</c> endpoint
/// line by line with that key and posts the results to <c>POST /v1/batches/{id}/output</c>; the
/// <see cref="BatchLoop"/> follows the job (in_progress, failed, cancelled, expired) and revokes the key at the end.
/// </summary>
internal static class BatchEndpoints
{
    public const string CompletionWindow = "24h";

    /// <summary>The file in the job's checkpoint directory that holds the batch's key (mode 600; never in the job's spec or env).</summary>
    public const string KeyFileName = "batch.key";

    public static void Map(IEndpointRouteBuilder api)
    {
        var batches = api.MapGroup("/batches").WithTags("Batches");
        batches.MapPost("", Create).WithName("batches.create").RequireAccess(Permission.ModelInvoke);
        batches.MapGet("", List).WithName("batches.list").RequireAccess(Permission.ModelInvoke);
        batches.MapGet("/{id}", Get).WithName("batches.get").RequireAccess(Permission.ModelInvoke);
        batches.MapPost("/{id}/cancel", Cancel).WithName("batches.cancel").RequireAccess(Permission.ModelInvoke);
        batches.MapPost("/{id}/output", Output).WithName("batches.output").RequireAccess(Permission.ModelInvoke).DisableAntiforgery()
            .WithMetadata(new NoIdempotencyReplay("the worker's results are accepted once, by the batch's status"));
    }

    private static async Task<IResult> Create(HttpContext http, CreateBatchRequest? body, Database database, Ids ids, TimeProvider time,
        HeadroomSettings settings, BudgetGuard budgets, IServer server)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        if (body.Endpoint is null || !BatchInput.Endpoints.Contains(body.Endpoint))
            return Errors.BadRequest($"endpoint must be one of {string.Join(", ", BatchInput.Endpoints)}.", "endpoint");
        if (body.CompletionWindow != CompletionWindow)
            return Errors.BadRequest($"completion_window must be {CompletionWindow}.", "completion_window");
        if (body.Metadata is { } metadata && (metadata.Count > 16 || metadata.Any(m => m.Key.Length > 64 || m.Value is null || m.Value.Length > 512)))
            return Errors.BadRequest("metadata holds at most 16 pairs, keys of at most 64 and values of at most 512 characters.", "metadata");
        if (string.IsNullOrEmpty(body.InputFileId))
            return Errors.BadRequest("input_file_id is required.", "input_file_id");

        await using var db = database.Open();
        var file = await FileEndpoints.Visible(db, principal).SingleOrDefaultAsync(f => f.Id == body.InputFileId, http.RequestAborted);
        if (file is null)
            return Errors.NotFound("file", body.InputFileId);
        if (file.Purpose != "batch")
            return Errors.BadRequest($"File {file.Id} has purpose {file.Purpose}; a batch reads a file uploaded with purpose batch.", "input_file_id");
        if (await budgets.ExhaustedAsync(principal.OrgId, file.ProjectId, http.RequestAborted) is { } budget)
        {
            var at = time.GetUtcNow();
            return Errors.InsufficientQuota(
                $"Budget {budget.Id} ('{budget.Name}') has reached its hard limit for this month; no new batches are admitted until the next month or a higher limit.",
                BillingPeriod.MonthOf(at).End - at);
        }
        var content = await db.FileContents.AsNoTracking().Where(c => c.FileId == file.Id).Select(c => c.Content).SingleAsync(http.RequestAborted);
        var input = BatchInput.Parse(content, body.Endpoint);

        var now = time.GetUtcNow();
        var batch = new BatchRow
        {
            Id = ids.New("batch"),
            OrgId = principal.OrgId,
            ProjectId = file.ProjectId,
            Endpoint = body.Endpoint,
            InputFileId = file.Id,
            CompletionWindow = CompletionWindow,
            Status = BatchStatus.Validating,
            Metadata = body.Metadata is null ? null : JsonSerializer.Serialize(body.Metadata, Json.Options),
            TotalRequests = input.Requests.Count,
            CreatedBy = principal.ActorId,
            CreatedAt = now,
            ExpiresAt = now.AddHours(24),
        };
        if (!input.Valid)
        {
            batch.Status = BatchStatus.Failed;
            batch.FailedAt = now;
            batch.Errors = BatchView.WriteErrors(input.Errors);
            db.Batches.Add(batch);
            await db.SaveChangesAsync(http.RequestAborted);
            AuditMiddleware.SetTarget(http, batch.Id);
            return Results.Json(BatchView.Of(batch), Json.Options);
        }

        // The worker's credential: the batch's project only, able to call models, gone when the batch ends.
        var (key, lookup, hash) = ApiKeySecrets.Create();
        var keyRow = new ApiKeyRow
        {
            Id = ids.New("key"),
            OrgId = principal.OrgId,
            ProjectId = file.ProjectId,
            Name = "batch " + batch.Id,
            LookupId = lookup,
            SecretHash = hash,
            Roles = Roles.FormatList([Role.Member]),
            CreatedBy = principal.ActorId,
            CreatedAt = now,
            ExpiresAt = batch.ExpiresAt.AddHours(1),
        };
        var spec = new JobSpec(
            [.. settings.BatchWorkerCommand, "batch-worker", "--batch", batch.Id, "--api", ApiAddress(server, settings)],
            new Dictionary<string, string>(), GpusPerNode: 1, GpuMilli: 1, NodeCount: 1, GpuModels: [], CpuMilli: 0, MemoryMib: 0,
            Region: null, MaxDurationSeconds: 24 * 3600, Checkpoint: "requeue");
        var job = new JobRow
        {
            Id = ids.New("job"),
            OrgId = principal.OrgId,
            ProjectId = file.ProjectId,
            Name = "batch " + batch.Id,
            Tier = Tier.Spot.ToCode(),
            State = JobState.Queued.ToCode(),
            StateReason = "submitted for batch " + batch.Id,
            Spec = spec.Write(),
            Attempt = 1,
            CreatedAt = now,
            UpdatedAt = now,
        };
        batch.JobId = job.Id;
        batch.ApiKeyId = keyRow.Id;
        WriteKeyFile(settings, job.Id, key);
        db.ApiKeys.Add(keyRow);
        db.Jobs.Add(job);
        db.JobEvents.Add(new JobEventRow { JobId = job.Id, OrgId = job.OrgId, Attempt = 1, Time = now, FromState = "", ToState = job.State, Reason = job.StateReason });
        db.Batches.Add(batch);
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, batch.Id);
        return Results.Json(BatchView.Of(batch), Json.Options);
    }

    /// <summary>Puts the key where the job will find it: its checkpoint directory, on every runtime this replica drives.</summary>
    private static void WriteKeyFile(HeadroomSettings settings, string jobId, string key)
    {
        List<string> dirs = [Path.Combine(settings.JobsDir, "checkpoints", jobId)];
        if (settings.Slurm is { } slurm)
            dirs.Add(SlurmRuntime.CheckpointDir(Path.GetFullPath(slurm.SharedDirectory), jobId));
        foreach (var dir in dirs)
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, KeyFileName), key);
                continue;
            }
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var stream = new FileStream(Path.Combine(dir, KeyFileName), new FileStreamOptions
            {
                Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            stream.Write(System.Text.Encoding.UTF8.GetBytes(key));
        }
    }

    /// <summary>Where the worker reaches this replica: its first listening address, a wildcard host read as loopback.</summary>
    private static string ApiAddress(IServer server, HeadroomSettings settings)
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? $"http://127.0.0.1:{settings.Port}";
        var uri = new UriBuilder(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]" or "::" or "localhost")
            uri.Host = "127.0.0.1";
        return uri.Uri.ToString().TrimEnd('/');
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var rows = await page.ApplyTo(Visible(db, Access.Required(http)), b => b.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, BatchView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("batch", id) : Results.Json(BatchView.Of(row), Json.Options);
    }

    /// <summary>Cancels a batch that has not ended: it is <c>cancelling</c> until its job has stopped, then <c>cancelled</c>.</summary>
    private static async Task<IResult> Cancel(HttpContext http, string id, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("batch", id);
        if (row.Status is not (BatchStatus.Validating or BatchStatus.InProgress))
            return row.Status is BatchStatus.Cancelling ? Results.Json(BatchView.Of(row), Json.Options)
                : Errors.Conflict($"The batch is already {row.Status}.", "batch_ended");
        var now = time.GetUtcNow();
        var moved = await db.Batches.Where(b => b.Id == id && (b.Status == BatchStatus.Validating || b.Status == BatchStatus.InProgress))
            .ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, BatchStatus.Cancelling).SetProperty(b => b.CancellingAt, now), http.RequestAborted);
        if (moved == 0)
            return Errors.Conflict("The batch changed while it was being cancelled; retry.", "batch_changed");
        if (row.JobId is { } jobId)
            await BatchLoop.StopJobAsync(db, jobId, "cancelled with batch " + id, now, http.RequestAborted);
        AuditMiddleware.SetTarget(http, id);
        var updated = await db.Batches.AsNoTracking().SingleAsync(b => b.Id == id, http.RequestAborted);
        return Results.Json(BatchView.Of(updated), Json.Options);
    }

    /// <summary>
    /// The worker's results: multipart with <c>output</c> and <c>errors</c> (JSONL, either may be empty) and the counts
    /// <c>completed</c> and <c>failed</c>. Only the batch's own key may post them, once, while the batch is running; they
    /// become its output and error files and the batch is <c>completed</c>. Anyone else gets a 404.
    /// </summary>
    private static async Task<IResult> Output(HttpContext http, string id, Database database, HotRows rows, Ids ids, TimeProvider time, HeadroomSettings settings)
    {
        var principal = Access.Required(http);
        await using var db = database.Open();
        var row = await db.Batches.AsNoTracking().SingleOrDefaultAsync(b => b.Id == id && b.OrgId == principal.OrgId, http.RequestAborted);
        if (row is null || row.ApiKeyId != principal.ActorId || principal.ActorType != ActorType.ApiKey)
            return Errors.NotFound("batch", id);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = (2 * settings.MaxFileBytes) + (64 << 10);
        if (!http.Request.HasFormContentType)
            return Errors.BadRequest("Post the results as multipart/form-data.", "output");
        IFormCollection form;
        try
        {
            form = await http.Request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = (2 * settings.MaxFileBytes) + (64 << 10) }, http.RequestAborted);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
        {
            return Errors.BadRequest($"The results could not be read: {e.Message}", "output");
        }
        if (!int.TryParse(form["completed"], out var completed) || !int.TryParse(form["failed"], out var failed) || completed < 0 || failed < 0)
            return Errors.BadRequest("completed and failed must be counts.", "completed");
        if (row.Status is not (BatchStatus.Validating or BatchStatus.InProgress))
            return Errors.Conflict($"The batch is {row.Status}; its results are no longer taken.", "batch_ended");

        var now = time.GetUtcNow();
        if (await db.Batches.Where(b => b.Id == id && (b.Status == BatchStatus.Validating || b.Status == BatchStatus.InProgress))
                .ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, BatchStatus.Finalizing).SetProperty(b => b.FinalizingAt, now)
                    .SetProperty(b => b.InProgressAt, b => b.InProgressAt ?? now), http.RequestAborted) == 0)
            return Errors.Conflict("The batch changed while its results were posted.", "batch_changed");
        string? outputId = null, errorId = null;
        if (form.Files.GetFile("output") is { Length: > 0 } output)
            outputId = (await StoreResultAsync(output, row, "output", database, ids, time, http.RequestAborted)).Id;
        if (form.Files.GetFile("errors") is { Length: > 0 } errors)
            errorId = (await StoreResultAsync(errors, row, "errors", database, ids, time, http.RequestAborted)).Id;
        var done = time.GetUtcNow();
        await db.Batches.Where(b => b.Id == id).ExecuteUpdateAsync(s => s.SetProperty(b => b.Status, BatchStatus.Completed)
            .SetProperty(b => b.CompletedAt, done).SetProperty(b => b.OutputFileId, outputId).SetProperty(b => b.ErrorFileId, errorId)
            .SetProperty(b => b.CompletedRequests, completed).SetProperty(b => b.FailedRequests, failed), http.RequestAborted);
        await BatchLoop.RevokeKeyAsync(db, rows, row, done, http.RequestAborted);
        AuditMiddleware.SetTarget(http, id);
        return Results.Json(BatchView.Of(await db.Batches.AsNoTracking().SingleAsync(b => b.Id == id, http.RequestAborted)), Json.Options);
    }

    private static async Task<FileRow> StoreResultAsync(IFormFile file, BatchRow batch, string kind, Database database, Ids ids, TimeProvider time, CancellationToken cancellationToken)
    {
        var content = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
            await stream.ReadExactlyAsync(content, cancellationToken);
        return await FileEndpoints.StoreAsync(database, ids, time, batch.OrgId, batch.ProjectId, batch.CreatedBy, "batch_output",
            $"{batch.Id}_{kind}.jsonl", content, cancellationToken);
    }

    private static IQueryable<BatchRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Batches.AsNoTracking().Where(b => b.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(b => b.ProjectId == only) : query;
    }
}
