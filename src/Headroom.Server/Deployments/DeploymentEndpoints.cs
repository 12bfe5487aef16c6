using System.Text.Json;
using System.Text.RegularExpressions;
using Headroom.Core.Access;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Gateway.Routing;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Billing;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Deployments;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Deployments;

/// <summary>
/// The deployment API. A deployment is validated against the fleet like a job (a spec no node could run is a 400
/// naming the field) and stored; <see cref="DeploymentController"/> starts, scales and drains its replicas, and
/// <see cref="ReplicaRouting"/> routes calls to them. Deployments are workloads: reading needs JobRead, changing JobWrite.
/// An org sees its own deployments, the operator's serverless ones (the shared catalog, read-only to tenants) and the
/// models loaded in process (system deployments, read-only); another org's deployment answers 404.
/// </summary>
internal static partial class DeploymentEndpoints
{
    private const int MaxReplicas = 64;
    private const string SystemPrefix = "system:";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex ModelName();

    public static void Map(IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/deployments").WithTags("Deployments");
        group.MapPost("", Create).WithName("deployments.create").RequireAccess(Permission.JobWrite);
        group.MapGet("", List).WithName("deployments.list").RequireAccess(Permission.JobRead);
        group.MapGet("/{id}", Get).WithName("deployments.get").RequireAccess(Permission.JobRead);
        group.MapPatch("/{id}", (HttpContext http, string id, ScaleDeploymentRequest? body, Database database, TimeProvider time) =>
            RetryOnChangeAsync(() => Scale(http, id, body, database, time))).WithName("deployments.scale").RequireAccess(Permission.JobWrite);
        group.MapDelete("/{id}", (HttpContext http, string id, Database database, TimeProvider time) =>
            RetryOnChangeAsync(() => Delete(http, id, database, time))).WithName("deployments.delete").RequireAccess(Permission.JobWrite);
    }

    private static async Task<IResult> Create(HttpContext http, CreateDeploymentRequest? body, Database database, Ids ids, TimeProvider time,
        BudgetGuard budgets, HeadroomSettings settings)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        if (string.IsNullOrEmpty(body.Model) || !ModelName().IsMatch(body.Model))
            return Errors.BadRequest("model must be 1–128 characters of letters, digits and . _ : / -, starting with a letter or digit: the name callers use.", "model");
        switch (body.Engine ?? DeploymentCodes.OpenAiUpstream)
        {
            case DeploymentCodes.OpenAiUpstream:
                break;
            case DeploymentCodes.InProcess:
                return Errors.BadRequest("in-process models are loaded when the control plane starts (headroom up --model NAME=PATH); they are listed as system deployments.", "engine");
            default:
                return Errors.BadRequest($"engine must be {DeploymentCodes.OpenAiUpstream} (an OpenAI-compatible server: vLLM, SGLang, llama.cpp server, TGI).", "engine");
        }
        var billing = body.Billing ?? DeploymentCodes.Dedicated;
        if (billing is not (DeploymentCodes.Dedicated or DeploymentCodes.Serverless))
            return Errors.BadRequest("billing must be dedicated (the org's own replicas, billed per GPU-second) or serverless (shared, billed per token).", "billing");
        if (billing == DeploymentCodes.Serverless && principal.OrgId != Bootstrap.InternalOrgId)
            return Errors.BadRequest("serverless deployments are the operator's shared catalog, offered to every org; an org deploys its own models as dedicated.", "billing");

        await using var db = database.Open();
        var projectId = body.ProjectId ?? principal.ProjectId;
        if (projectId is null)
            return Errors.BadRequest("project_id is required for a key that is not scoped to a project.", "project_id");
        if (!principal.SeesProject(projectId) || !await db.Projects.AnyAsync(p => p.Id == projectId && p.OrgId == principal.OrgId, http.RequestAborted))
            return Errors.BadRequest($"project_id '{projectId}' is not a project of this org.", "project_id");

        if ((body.Command is null) == (body.Url is null))
            return body.Command is null
                ? Errors.BadRequest("command (a template the fleet runs as each replica) or url (a server already running) is required.", "command")
                : Errors.BadRequest("Give command or url, not both.", "url");
        if (body.Command is { } command)
        {
            if (command.Count is 0 or > 256 || command.Any(c => c is null || c.Length > 8192 || c.Contains('\0')))
                return Errors.BadRequest("command must be a list of 1 to 256 strings: the program and its arguments, with placeholders " +
                    string.Join(", ", DeploymentSpec.Placeholders) + ".", "command");
        }
        else if (!Uri.TryCreate(body.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || body.Url!.Length > 2048)
        {
            return Errors.BadRequest("url must be an absolute http(s) URL: the server's /v1 root.", "url");
        }
        else if (body.MinReplicas is not null || body.MaxReplicas is not null || body.GpusPerReplica is not null || body.GpuMilli is not null || body.Env is not null)
        {
            return Errors.BadRequest("A deployment at a url runs nothing on the fleet: min_replicas, max_replicas, gpus_per_replica, gpu_milli and env are for command.", "url");
        }
        var env = body.Env ?? new Dictionary<string, string>();
        if (env.Count > 128 || env.Any(e => e.Key.Length is 0 or > 256 || e.Key.Contains('=') || e.Key.Contains('\0') || e.Value is null || e.Value.Contains('\0')
            || e.Key.StartsWith("HEADROOM_", StringComparison.Ordinal) || e.Key == "CUDA_VISIBLE_DEVICES"))
            return Errors.BadRequest("env must map at most 128 names (without '=', not HEADROOM_* or CUDA_VISIBLE_DEVICES) to values.", "env");
        if ((Validate.Text(body.Source, "source", 1024) ?? Validate.Text(body.UpstreamModel, "upstream_model", 1024)) is { } badText)
            return badText;

        var min = body.MinReplicas ?? 1;
        var max = body.MaxReplicas ?? Math.Max(min, 1);
        if (body.Url is null)
        {
            if (min is < 0 or > MaxReplicas)
                return Errors.BadRequest($"min_replicas must be 0 to {MaxReplicas}.", "min_replicas");
            if (max is < 1 or > MaxReplicas)
                return Errors.BadRequest($"max_replicas must be 1 to {MaxReplicas}.", "max_replicas");
            if (min > max)
                return Errors.BadRequest($"min_replicas ({min}) must not exceed max_replicas ({max}).", "min_replicas");
        }
        else
        {
            min = max = 0;
        }
        var gpus = body.GpusPerReplica ?? 1;
        var milli = body.GpuMilli ?? 1000;
        if (gpus is < 1 or > 1024)
            return Errors.BadRequest("gpus_per_replica must be at least 1 (use gpu_milli for a share of one GPU).", "gpus_per_replica");
        if (milli is < 1 or > 1000 || (milli < 1000 && gpus != 1))
            return Errors.BadRequest("gpu_milli must be 1 to 1000, and below 1000 only with one GPU per replica.", "gpu_milli");
        var tierCode = body.Tier ?? Tier.OnDemand.ToCode();
        if (!WorkloadCodes.TryParseTier(tierCode, out var tier) || tier == Tier.Reserved)
            return Errors.BadRequest("tier must be on-demand, spot or internal.", "tier");
        if (tier == Tier.Internal && principal.OrgId != Bootstrap.InternalOrgId)
            return Errors.BadRequest("tier internal is the operator's own; tenants use on-demand or spot.", "tier");
        var target = body.TargetConcurrency ?? 8;
        if (target is < 1 or > 1024)
            return Errors.BadRequest("target_concurrency must be 1 to 1024 calls in flight per replica.", "target_concurrency");

        // Replicas must fit some node of the fleet, or they would wait forever; an external server needs no node.
        var fleet = await db.Nodes.AsNoTracking().Where(n => n.GpuCount > 0).Select(n => new { n.Region, n.GpuModel, n.GpuCount }).ToListAsync(http.RequestAborted);
        if (body.GpuModel is { } model && fleet.All(n => n.GpuModel != model))
            return Errors.BadRequest($"gpu_model: no node of the fleet has GPU model '{model}' (it has: {string.Join(", ", fleet.Select(n => n.GpuModel).Distinct().Order())}).", "gpu_model");
        if (body.Region is { } region && !await db.Nodes.AnyAsync(n => n.Region == region, http.RequestAborted))
            return Errors.BadRequest($"region '{region}' has no nodes.", "region");
        if (body.Command is not null)
        {
            var candidates = fleet.Where(n => (body.GpuModel is null || n.GpuModel == body.GpuModel) && (body.Region is null || n.Region == body.Region)).ToList();
            if (candidates.Count == 0)
                return Errors.BadRequest("No node of the fleet has the GPU model asked for in the region asked for.", body.GpuModel is null ? "region" : "gpu_model");
            if (candidates.Max(n => n.GpuCount) < gpus)
                return Errors.BadRequest($"gpus_per_replica {gpus} is more than any matching node has ({candidates.Max(n => n.GpuCount)}).", "gpus_per_replica");
        }

        if (settings.Models.InProcessNames().Contains(body.Model)
            || await db.Deployments.AnyAsync(d => d.Model == body.Model && d.State != DeploymentCodes.Deleted, http.RequestAborted))
            return Errors.Conflict($"A model named '{body.Model}' is already served; a name serves one deployment at a time.", "model_taken", "model");
        if (billing == DeploymentCodes.Dedicated && await budgets.ExhaustedAsync(principal.OrgId, projectId, http.RequestAborted) is { } budget)
        {
            var at = time.GetUtcNow();
            return Errors.InsufficientQuota(
                $"Budget {budget.Id} ('{budget.Name}') has reached its hard limit for this month; no new deployments are admitted until the next month or a higher limit.",
                BillingPeriod.MonthOf(at).End - at);
        }

        var now = time.GetUtcNow();
        var source = body.Source ?? body.Model;
        var spec = new DeploymentSpec(source, body.UpstreamModel ?? source, body.Command, body.Url, env, gpus, milli, body.GpuModel, body.Region, tier.ToCode(), target);
        var row = new DeploymentRow
        {
            Id = ids.New("dep"),
            OrgId = principal.OrgId,
            ProjectId = projectId,
            Model = body.Model,
            Engine = DeploymentCodes.OpenAiUpstream,
            Billing = billing,
            Spec = spec.Write(),
            MinReplicas = min,
            MaxReplicas = max,
            DesiredReplicas = min,
            State = DeploymentCodes.Active,
            CreatedAt = now,
            UpdatedAt = now,
            LastScaledAt = now,
        };
        db.Deployments.Add(row);
        await db.SaveChangesAsync(http.RequestAborted);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(await ViewAsync(db, row, http.RequestServices, http.RequestAborted), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> List(HttpContext http, Database database, HeadroomSettings settings, ModelRegistry registry)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        var principal = Access.Required(http);
        await using var db = database.Open();
        var state = http.Request.Query["state"].ToString();
        if (state is not ("" or DeploymentCodes.Active or DeploymentCodes.Deleting or DeploymentCodes.Deleted))
            return Errors.BadRequest("state must be active, deleting or deleted.", "state");
        var query = state == ""
            ? Visible(db, principal).Where(d => d.State != DeploymentCodes.Deleted)
            : Visible(db, principal).Where(d => d.State == state);
        var rows = await page.ApplyTo(query, d => d.Id).ToListAsync(http.RequestAborted);
        var views = new List<DeploymentView>();
        foreach (var row in rows)
            views.Add(await ViewAsync(db, row, http.RequestServices, http.RequestAborted));
        var result = page.Build(views, v => v, v => v.Id);
        // The models loaded in process head the first page; they are not paged (there are a handful, fixed at start).
        if (page.After is null && state is "" or DeploymentCodes.Active)
            result = result with { Data = [.. SystemViews(settings, registry), .. result.Data] };
        return Results.Json(result, Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database, HeadroomSettings settings, ModelRegistry registry)
    {
        if (id.StartsWith(SystemPrefix, StringComparison.Ordinal))
            return SystemViews(settings, registry).FirstOrDefault(v => v.Id == id) is { } system ? Results.Json(system, Json.Options) : Errors.NotFound("deployment", id);
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).SingleOrDefaultAsync(d => d.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("deployment", id) : Results.Json(await ViewAsync(db, row, http.RequestServices, http.RequestAborted), Json.Options);
    }

    private static async Task<IResult> Scale(HttpContext http, string id, ScaleDeploymentRequest? body, Database database, TimeProvider time)
    {
        if (body is null)
            return Errors.MissingBody;
        await using var db = database.Open();
        if (await OwnedAsync(db, http, id) is not { } row)
            return id.StartsWith(SystemPrefix, StringComparison.Ordinal) ? ReadOnly(id) : Errors.NotFound("deployment", id);
        if (row.State != DeploymentCodes.Active)
            return Errors.Conflict($"The deployment is {row.State}.", "deployment_deleted");
        var spec = DeploymentSpec.Read(row);
        if (spec.Url is not null)
            return Errors.BadRequest("A deployment at a url has no replicas to scale.", body.MinReplicas is null ? "max_replicas" : "min_replicas");
        var min = body.MinReplicas ?? row.MinReplicas;
        var max = body.MaxReplicas ?? row.MaxReplicas;
        if (min is < 0 or > MaxReplicas)
            return Errors.BadRequest($"min_replicas must be 0 to {MaxReplicas}.", "min_replicas");
        if (max is < 1 or > MaxReplicas)
            return Errors.BadRequest($"max_replicas must be 1 to {MaxReplicas}.", "max_replicas");
        if (min > max)
            return Errors.BadRequest($"min_replicas ({min}) must not exceed max_replicas ({max}).", body.MinReplicas is null ? "max_replicas" : "min_replicas");
        if (body.TargetConcurrency is < 1 or > 1024)
            return Errors.BadRequest("target_concurrency must be 1 to 1024 calls in flight per replica.", "target_concurrency");

        row.MinReplicas = min;
        row.MaxReplicas = max;
        if (body.TargetConcurrency is { } target)
            row.Spec = (spec with { TargetConcurrency = target }).Write();
        row.UpdatedAt = time.GetUtcNow();
        row.Version++;
        if (await SaveAsync(db, http) is { } conflict)
            return conflict;
        return Results.Json(await ViewAsync(db, row, http.RequestServices, http.RequestAborted), Json.Options);
    }

    /// <summary>Deleting drains: the replicas take no new calls, finish those in flight (bounded) and stop; then the deployment is <c>deleted</c>.</summary>
    private static async Task<IResult> Delete(HttpContext http, string id, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        if (await OwnedAsync(db, http, id) is not { } row)
            return id.StartsWith(SystemPrefix, StringComparison.Ordinal) ? ReadOnly(id) : Errors.NotFound("deployment", id);
        if (row.State == DeploymentCodes.Active)
        {
            row.State = DeploymentCodes.Deleting;
            row.UpdatedAt = time.GetUtcNow();
            row.Version++;
            if (await SaveAsync(db, http) is { } conflict)
                return conflict;
        }
        return Results.Json(await ViewAsync(db, row, http.RequestServices, http.RequestAborted), Json.Options, statusCode: StatusCodes.Status202Accepted);
    }

    private static IResult ReadOnly(string id) =>
        Errors.Conflict($"{id} is loaded in process when the control plane starts; change it in the settings (models, serve_minilm).", "system_deployment");

    private static readonly IResult Changed = Errors.Conflict("The deployment kept changing while it was being updated; retry.", "deployment_changed");

    private static async Task<IResult?> SaveAsync(HeadroomDb db, HttpContext http)
    {
        try
        {
            await db.SaveChangesAsync(http.RequestAborted);
            return null;
        }
        catch (DbUpdateConcurrencyException)
        {
            return Changed;
        }
    }

    /// <summary>
    /// A caller's change read again and reapplied when the deployment changed under it: the controller writes a
    /// deployment's row as it scales (desired replicas, the last scaling), and a scale or delete that lost that race
    /// was a 409 for a change that did not touch what the controller wrote.
    /// </summary>
    private static async Task<IResult> RetryOnChangeAsync(Func<Task<IResult>> change)
    {
        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var result = await change();
            if (!ReferenceEquals(result, Changed) || attempt == attempts)
                return result;
        }
    }

    /// <summary>The org's own deployments (a project-scoped key: its project's), and the operator's serverless catalog.</summary>
    private static IQueryable<DeploymentRow> Visible(HeadroomDb db, Principal principal)
    {
        var own = db.Deployments.AsNoTracking().Where(d => d.OrgId == principal.OrgId && (principal.ProjectId == null || d.ProjectId == principal.ProjectId));
        return principal.OrgId == Bootstrap.InternalOrgId
            ? own
            : own.Concat(db.Deployments.AsNoTracking().Where(d => d.OrgId == Bootstrap.InternalOrgId && d.Billing == DeploymentCodes.Serverless));
    }

    /// <summary>A deployment the caller may change: its org's, in its project for a project-scoped key.</summary>
    private static Task<DeploymentRow?> OwnedAsync(HeadroomDb db, HttpContext http, string id)
    {
        var principal = Access.Required(http);
        return db.Deployments.AsTracking()
            .SingleOrDefaultAsync(d => d.Id == id && d.OrgId == principal.OrgId && (principal.ProjectId == null || d.ProjectId == principal.ProjectId), http.RequestAborted);
    }

    private static async Task<DeploymentView> ViewAsync(HeadroomDb db, DeploymentRow row, IServiceProvider services, CancellationToken cancellationToken)
    {
        var registry = services.GetRequiredService<ModelRegistry>();
        var spec = DeploymentSpec.Read(row);
        var routing = row.State == DeploymentCodes.Deleted ? new ReplicaSnapshot([], 0) : registry.Snapshot(row.Model);
        var replicas = new List<ReplicaView>();
        if (spec.Command is not null)
        {
            var active = WorkloadCodes.ActiveCodes;
            var jobs = await db.Jobs.AsNoTracking().Where(j => j.DeploymentId == row.Id && active.Contains(j.State)).OrderBy(j => j.Id).ToListAsync(cancellationToken);
            var nodes = await db.Nodes.AsNoTracking().ToDictionaryAsync(n => n.Name, n => n.Runtime, cancellationToken);
            var draining = JsonSerializer.Deserialize<Dictionary<string, DateTimeOffset>>(row.Draining, Json.Options) ?? [];
            foreach (var job in jobs)
            {
                var seen = routing.Replicas.FirstOrDefault(r => r.Name == job.Id);
                replicas.Add(new ReplicaView(job.Id, job.State, ReplicaRouting.ReplicaUrl(job, nodes), seen is { Healthy: true, Draining: false },
                    draining.ContainsKey(job.Id) || seen?.Draining == true));
            }
        }
        else if (spec.Url is { } url && routing.Replicas.FirstOrDefault() is { } external)
        {
            replicas.Add(new ReplicaView(row.Id, "external", url, external.Healthy, false));
        }
        var scale = JsonSerializer.Deserialize<ScaleReasonView>(row.ScaleReason, Json.Options);
        return new DeploymentView(row.Id, row.OrgId, row.ProjectId, row.Model, row.Engine, row.Billing, row.State, false, spec.Source, spec.UpstreamModel,
            spec.Command, spec.Url, row.MinReplicas, row.MaxReplicas, row.DesiredReplicas, replicas.Count(r => r.Ready), spec.GpusPerReplica, spec.GpuMilli,
            spec.GpuModel, spec.Region, spec.Tier, spec.TargetConcurrency, scale?.Reason is null ? null : scale, replicas, row.CreatedAt, row.DeletedAt);
    }

    /// <summary>The models this control plane loaded in process, as read-only deployments: one replica each, here, billed per token.</summary>
    private static IEnumerable<DeploymentView> SystemViews(HeadroomSettings settings, ModelRegistry registry) =>
        settings.Models.InProcessNames().Order(StringComparer.Ordinal).Select(name =>
        {
            var ready = registry.IsAvailable(name) ? 1 : 0;
            return new DeploymentView(SystemPrefix + name, null, null, name, DeploymentCodes.InProcess, DeploymentCodes.Serverless, DeploymentCodes.Active, true,
                null, null, null, null, 1, 1, 1, ready, 0, 0, null, null, null, 1, null, [], null, null);
        });
}
