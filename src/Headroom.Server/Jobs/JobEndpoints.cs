using System.Text;
using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Fleet;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Billing;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Jobs;
using Headroom.Store.Reservations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Jobs;

/// <summary>
/// The job API. A submitted job is validated against the fleet (a spec no node could ever run is a
/// 400 naming the field) and queued; the scheduler loop places, starts, warns and stops it. Reads
/// are filtered by org and, for project-scoped keys, by project.
/// </summary>
internal static class JobEndpoints
{
    private const int MaxCommandParts = 256;
    private const int MaxEnv = 128;

    public static void Map(IEndpointRouteBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapPost("", Submit).WithName("jobs.create").RequireAccess(Permission.JobWrite);
        jobs.MapGet("", List).WithName("jobs.list").RequireAccess(Permission.JobRead);
        jobs.MapGet("/{id}", Get).WithName("jobs.get").RequireAccess(Permission.JobRead);
        jobs.MapGet("/{id}/events", Events).WithName("jobs.events").RequireAccess(Permission.JobRead);
        jobs.MapGet("/{id}/logs", Logs).WithName("jobs.logs").RequireAccess(Permission.JobRead);
        jobs.MapPost("/{id}/cancel", Cancel).WithName("jobs.cancel").RequireAccess(Permission.JobWrite);
    }

    private static async Task<IResult> Submit(HttpContext http, SubmitJobRequest? body, Database database, Ids ids, TimeProvider time, BudgetGuard budgets)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        await using var db = database.Open();

        if (Validate.Text(body.Name, "name", 200) is { } badName)
            return badName;
        var projectId = body.ProjectId ?? principal.ProjectId;
        if (projectId is null)
            return Errors.BadRequest("project_id is required for a key that is not scoped to a project.", "project_id");
        if (!principal.SeesProject(projectId) || !await db.Projects.AnyAsync(p => p.Id == projectId && p.OrgId == principal.OrgId, http.RequestAborted))
            return Errors.BadRequest($"project_id '{projectId}' is not a project of this org.", "project_id");
        // A hard-limit budget whose month is spent admits no new work; what is queued or running is left alone.
        if (await budgets.ExhaustedAsync(principal.OrgId, projectId, http.RequestAborted) is { } budget)
        {
            var at = time.GetUtcNow();
            return Errors.InsufficientQuota(
                $"Budget {budget.Id} ('{budget.Name}') has reached its hard limit for this month; no new jobs are admitted until the next month or a higher limit.",
                BillingPeriod.MonthOf(at).End - at);
        }

        if (body.Command is not { Count: > 0 } command || command.Count > MaxCommandParts || command.Any(c => c is null || c.Length > 8192 || c.Contains('\0')))
            return Errors.BadRequest($"command must be a list of 1 to {MaxCommandParts} strings (the program and its arguments).", "command");
        var env = body.Env ?? new Dictionary<string, string>();
        if (env.Count > MaxEnv || env.Any(e => e.Key.Length is 0 or > 256 || e.Key.Contains('=') || e.Key.Contains('\0') || e.Value is null || e.Value.Contains('\0')))
            return Errors.BadRequest($"env must map at most {MaxEnv} names (without '=') to values.", "env");
        if (env.Keys.Any(k => k.StartsWith("HEADROOM_", StringComparison.Ordinal) || k == "CUDA_VISIBLE_DEVICES"))
            return Errors.BadRequest("env must not set HEADROOM_* or CUDA_VISIBLE_DEVICES; Headroom sets them.", "env");

        var tierCode = body.Tier ?? "on-demand";
        if (!WorkloadCodes.TryParseTier(tierCode, out var tier))
            return Errors.BadRequest("tier must be one of internal, reserved, on-demand, spot.", "tier");
        if (tier == Tier.Internal && principal.OrgId != Bootstrap.InternalOrgId)
            return Errors.BadRequest("tier internal is the operator's own; tenants use on-demand or spot.", "tier");
        if (tier != Tier.Reserved && body.ReservationId is not null)
            return Errors.BadRequest("reservation_id is for tier reserved only.", "reservation_id");
        ReservationRow? block = null;
        if (tier == Tier.Reserved)
        {
            // A reserved job runs only inside its block: the org's, not cancelled, not ended; it takes the block's pool.
            if (body.ReservationId is null)
                return Errors.BadRequest("A reserved job names its reservation: reservation_id is required.", "reservation_id");
            block = await db.Reservations.AsNoTracking().SingleOrDefaultAsync(r => r.Id == body.ReservationId && r.OrgId == principal.OrgId, http.RequestAborted);
            if (block is null || block.CancelledAt is not null || block.End <= time.GetUtcNow())
                return Errors.BadRequest($"reservation_id '{body.ReservationId}' is not a current reservation of this org.", "reservation_id");
            if ((body.GpuModel is { } m && m != block.GpuModel) || body.GpuModels is { Count: > 0 } || (body.Region is { } r && r != block.Region))
                return Errors.BadRequest($"A job in reservation {block.Id} runs on its {block.GpuModel} GPUs in {block.Region}.", body.Region is null ? "gpu_model" : "region");
        }
        var checkpointCode = body.Checkpoint ?? "none";
        if (!WorkloadCodes.TryParseCheckpoint(checkpointCode, out _))
            return Errors.BadRequest("checkpoint must be none or requeue.", "checkpoint");

        var gpus = body.GpusPerNode ?? 1;
        var milli = body.GpuMilli ?? 1000;
        var nodes = body.NodeCount ?? 1;
        if (block is not null && (long)gpus * nodes > block.GpuCount)
            return Errors.BadRequest($"The job needs {(long)gpus * nodes} GPUs; reservation {block.Id} has {block.GpuCount}.", "gpus_per_node");
        if (gpus < 1 || gpus > 1024)
            return Errors.BadRequest("gpus_per_node must be at least 1.", "gpus_per_node");
        if (milli is < 1 or > 1000 || (milli < 1000 && gpus != 1))
            return Errors.BadRequest("gpu_milli must be 1 to 1000, and below 1000 only with one GPU per node.", "gpu_milli");
        if (nodes is < 1 or > 4096)
            return Errors.BadRequest("node_count must be 1 to 4096.", "node_count");
        if (body.CpuMilli is < 0 || body.MemoryMib is < 0)
            return Errors.BadRequest("cpu_milli and memory_mib must not be negative.", body.CpuMilli is < 0 ? "cpu_milli" : "memory_mib");
        if (body.MaxDurationSeconds is { } max && max <= 0)
            return Errors.BadRequest("max_duration_seconds must be positive.", "max_duration_seconds");

        // The spec must fit some node of the fleet, or it would wait forever.
        var fleet = await db.Nodes.AsNoTracking().Where(n => n.GpuCount > 0).Select(n => new { n.Region, n.GpuModel, n.GpuCount, n.CpuMilli, n.MemoryMib })
            .ToListAsync(http.RequestAborted);
        List<string> models = block is not null ? [block.GpuModel] : body.GpuModels is { Count: > 0 } list ? [.. list] : body.GpuModel is { } one ? [one] : [];
        var jobRegion = block?.Region ?? body.Region;
        var param = body.GpuModels is { Count: > 0 } ? "gpu_models" : "gpu_model";
        if (models.FirstOrDefault(m => fleet.All(n => n.GpuModel != m)) is { } unknown)
            return Errors.BadRequest($"{param}: no node of the fleet has GPU model '{unknown}' (it has: {string.Join(", ", fleet.Select(n => n.GpuModel).Distinct().Order())}).", param);
        if (jobRegion is { } region && fleet.All(n => n.Region != region))
            return Errors.BadRequest($"region '{region}' has no GPU nodes.", "region");
        var candidates = fleet.Where(n => (models.Count == 0 || models.Contains(n.GpuModel)) && (jobRegion is null || n.Region == jobRegion)).ToList();
        if (candidates.Count == 0)
            return Errors.BadRequest("No GPU model asked for exists in the region asked for.", param);
        if (candidates.Max(n => n.GpuCount) < gpus)
            return Errors.BadRequest($"gpus_per_node {gpus} is more than any matching node has ({candidates.Max(n => n.GpuCount)}).", "gpus_per_node");
        if (candidates.Count < nodes)
            return Errors.BadRequest($"node_count {nodes} is more than the matching nodes of the fleet ({candidates.Count}).", "node_count");

        var now = time.GetUtcNow();
        var spec = new JobSpec(command, env, gpus, milli, nodes, models, body.CpuMilli ?? 0, body.MemoryMib ?? 0, jobRegion, body.MaxDurationSeconds, checkpointCode, block?.Id);
        var row = new JobRow
        {
            Id = ids.New("job"),
            OrgId = principal.OrgId,
            ProjectId = projectId,
            Name = body.Name ?? command[0],
            Tier = tier.ToCode(),
            State = JobState.Queued.ToCode(),
            StateReason = "submitted",
            Spec = spec.Write(),
            Attempt = 1,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Jobs.Add(row);
        db.JobEvents.Add(new JobEventRow { JobId = row.Id, OrgId = row.OrgId, Attempt = 1, Time = now, FromState = "", ToState = row.State, Reason = "submitted" });
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(JobView.Of(row), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var query = Visible(db, Access.Required(http));
        var q = http.Request.Query;
        if (q["state"].ToString() is { Length: > 0 } state)
        {
            if (!WorkloadCodes.TryParseJobState(state, out _))
                return Errors.BadRequest($"state must be one of {string.Join(", ", Enum.GetValues<JobState>().Select(s => s.ToCode()))}.", "state");
            query = query.Where(j => j.State == state);
        }
        if (q["project_id"].ToString() is { Length: > 0 } project)
            query = query.Where(j => j.ProjectId == project);
        if (q["tier"].ToString() is { Length: > 0 } tier)
            query = query.Where(j => j.Tier == tier);
        if (q["name"].ToString() is { Length: > 0 } name)
            query = query.Where(j => j.Name == name);
        var rows = await page.ApplyTo(query, j => j.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, JobView.Of, v => v.Id), Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(j => j.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("job", id) : Results.Json(JobView.Of(row), Json.Options);
    }

    private static async Task<IResult> Events(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        if (!await Visible(db, Access.Required(http)).AnyAsync(j => j.Id == id, http.RequestAborted))
            return Errors.NotFound("job", id);
        var events = await db.JobEvents.AsNoTracking().Where(e => e.JobId == id).OrderBy(e => e.Id).ToListAsync(http.RequestAborted);
        var views = events.Select(JobEventView.Of).ToList();
        return Results.Json(new Page<JobEventView>(views, views.FirstOrDefault()?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            views.LastOrDefault()?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), false), Json.Options);
    }

    /// <summary>
    /// The current attempt's output as text. With <c>follow=true</c> the response stays open and
    /// streams new output until the job ends (or the caller goes away).
    /// </summary>
    private static async Task<IResult> Logs(HttpContext http, string id, Database database, JobRuntimes runtimes)
    {
        var principal = Access.Required(http);
        var follow = http.Request.Query["follow"].ToString() is "true" or "1";
        await using (var db = database.Open())
        {
            if (!await Visible(db, principal).AnyAsync(j => j.Id == id, http.RequestAborted))
                return Errors.NotFound("job", id);
        }

        http.Response.ContentType = "text/plain; charset=utf-8";
        long offset = 0;
        while (!http.RequestAborted.IsCancellationRequested)
        {
            JobRow? job;
            await using (var db = database.Open())
                job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id, http.RequestAborted);
            if (runtimes.For(job.Runtime) is { } runtime && job.RuntimeHandle is { } handle)
            {
                while (true)
                {
                    var chunk = await runtime.ReadLogsAsync(handle, offset, 64 * 1024, http.RequestAborted);
                    if (chunk.Data.Length == 0)
                        break;
                    await http.Response.Body.WriteAsync(chunk.Data, http.RequestAborted);
                    offset = chunk.NextOffset;
                }
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
            if (!follow || (WorkloadCodes.TryParseJobState(job.State, out var state) && state.IsFinal()))
                break;
            await Task.Delay(250, http.RequestAborted);
        }
        return Results.Empty;
    }

    private static async Task<IResult> Cancel(HttpContext http, string id, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().SingleOrDefaultAsync(j => j.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("job", id);
        WorkloadCodes.TryParseJobState(row.State, out var state);
        if (state.IsFinal())
            return Errors.Conflict($"The job is already {row.State}.", "job_finished");
        if (state == JobState.Queued)
        {
            JobTransitions.Move(db, row, JobState.Cancelled, "cancelled by " + Access.Required(http).ActorId, time.GetUtcNow());
        }
        else
        {
            // The scheduler loop stops it on its runtime and records the cancel.
            row.CancelRequested = true;
            row.Version++;
        }
        try
        {
            await db.SaveChangesAsync(http.RequestAborted);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Errors.Conflict("The job changed while it was being cancelled; retry.", "job_changed");
        }
        return Results.Json(JobView.Of(row), Json.Options);
    }

    private static IQueryable<JobRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Jobs.AsNoTracking().Where(j => j.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(j => j.ProjectId == only) : query;
    }
}
