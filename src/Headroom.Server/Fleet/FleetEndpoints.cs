using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Core.Fleet;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Fleet;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Fleet;

/// <summary>GPUs of one model in a region or cluster: all of them, and those on nodes that take new work.</summary>
public sealed record GpuCapacity(string GpuModel, int Total, int Schedulable);

public sealed record RegionView(string Name, IReadOnlyList<string> Clusters, IReadOnlyList<GpuCapacity> Gpus)
{
    public string Object => "region";
}

public sealed record ClusterView(string Name, string Region, string Runtime, IReadOnlyList<GpuCapacity> Gpus)
{
    public string Object => "cluster";
}

public sealed record GpuView(int Index, string Model, string? Uuid, long MemoryMib);

/// <summary>Milli-GPUs of one GPU of a node bound to a job that holds capacity now (scheduled, starting or running).</summary>
public sealed record GpuAllocationView(int Gpu, string JobId, string OrgId, string Tier, int MilliGpus);

public sealed record NodeView(
    string Name,
    string Region,
    string Cluster,
    string Runtime,
    string GpuModel,
    int GpuCount,
    long GpuMemoryMib,
    long CpuMilli,
    long MemoryMib,
    IReadOnlyDictionary<string, string> Labels,
    string State,
    string StateReason,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? LastHeartbeatAt,
    IReadOnlyList<GpuView>? Gpus,
    long AllocatedMilliGpus,
    IReadOnlyList<GpuAllocationView> Allocations)
{
    public string Object => "node";

    internal static NodeView Of(NodeRow r, IReadOnlyList<GpuAllocationView> allocations, IReadOnlyList<GpuView>? gpus = null) => new(
        r.Name, r.Region, r.Cluster, r.Runtime, r.GpuModel, r.GpuCount, r.GpuMemoryMib, r.CpuMilli, r.MemoryMib,
        JsonSerializer.Deserialize<Dictionary<string, string>>(r.Labels) ?? [], r.State, r.StateReason, r.UpdatedAt, r.LastHeartbeatAt, gpus,
        allocations.Sum(a => (long)a.MilliGpus), allocations);
}

public sealed record NodeActionRequest(string? Reason);

/// <summary>
/// The fleet as tenants see it (regions and clusters with GPU capacity by model) and as the operator
/// sees it (every node, its GPUs and state, and cordon / drain / uncordon).
/// </summary>
internal static class FleetEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var fleet = api.MapGroup("/fleet").WithTags("Fleet");
        fleet.MapGet("/regions", Regions).WithName("fleet.regions.list").RequireAccess(Permission.CapacityRead);
        fleet.MapGet("/clusters", Clusters).WithName("fleet.clusters.list").RequireAccess(Permission.CapacityRead);
        fleet.MapGet("/nodes", Nodes).WithName("fleet.nodes.list").RequireAccess(Permission.FleetRead);
        fleet.MapGet("/nodes/{id}", Node).WithName("fleet.nodes.get").RequireAccess(Permission.FleetRead);
        fleet.MapPost("/nodes/{id}/heartbeat", NodeHeartbeats.Receive).WithName("fleet.nodes.heartbeat").RequireAccess(Permission.FleetManage);
        fleet.MapPost("/nodes/{id}/cordon", (HttpContext h, string id, NodeActionRequest? b, Database d, TimeProvider t) => Act(h, id, b, d, t, NodeAction.Cordon))
            .WithName("fleet.nodes.cordon").RequireAccess(Permission.FleetManage);
        fleet.MapPost("/nodes/{id}/drain", (HttpContext h, string id, NodeActionRequest? b, Database d, TimeProvider t) => Act(h, id, b, d, t, NodeAction.Drain))
            .WithName("fleet.nodes.drain").RequireAccess(Permission.FleetManage);
        fleet.MapPost("/nodes/{id}/uncordon", (HttpContext h, string id, NodeActionRequest? b, Database d, TimeProvider t) => Act(h, id, b, d, t, NodeAction.Uncordon))
            .WithName("fleet.nodes.uncordon").RequireAccess(Permission.FleetManage);
    }

    private static async Task<IResult> Regions(HttpContext http, Database database)
    {
        await using var db = database.Open();
        var regions = await db.Regions.AsNoTracking().OrderBy(r => r.Name).Select(r => r.Name).ToListAsync(http.RequestAborted);
        var clusters = await db.Clusters.AsNoTracking().ToListAsync(http.RequestAborted);
        var nodes = await db.Nodes.AsNoTracking().ToListAsync(http.RequestAborted);
        var views = regions.Select(r => new RegionView(
            r,
            [.. clusters.Where(c => c.Region == r).Select(c => c.Name).Order(StringComparer.Ordinal)],
            Capacity(nodes.Where(n => n.Region == r)))).ToList();
        return Results.Json(new Page<RegionView>(views, views.FirstOrDefault()?.Name, views.LastOrDefault()?.Name, false), Json.Options);
    }

    private static async Task<IResult> Clusters(HttpContext http, Database database)
    {
        await using var db = database.Open();
        var clusters = await db.Clusters.AsNoTracking().OrderBy(c => c.Name).ToListAsync(http.RequestAborted);
        var nodes = await db.Nodes.AsNoTracking().ToListAsync(http.RequestAborted);
        var region = http.Request.Query["region"].ToString();
        var views = clusters.Where(c => region.Length == 0 || c.Region == region)
            .Select(c => new ClusterView(c.Name, c.Region, c.Runtime, Capacity(nodes.Where(n => n.Cluster == c.Name)))).ToList();
        return Results.Json(new Page<ClusterView>(views, views.FirstOrDefault()?.Name, views.LastOrDefault()?.Name, false), Json.Options);
    }

    private static readonly string Ready = NodeState.Ready.ToCode();

    private static List<GpuCapacity> Capacity(IEnumerable<NodeRow> nodes) =>
        [.. nodes.Where(n => n.GpuCount > 0).GroupBy(n => n.GpuModel).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new GpuCapacity(g.Key, g.Sum(n => n.GpuCount), g.Where(n => n.State == Ready).Sum(n => n.GpuCount)))];

    private static async Task<IResult> Nodes(HttpContext http, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var query = db.Nodes.AsNoTracking();
        var q = http.Request.Query;
        if (q["region"].ToString() is { Length: > 0 } region)
            query = query.Where(n => n.Region == region);
        if (q["cluster"].ToString() is { Length: > 0 } cluster)
            query = query.Where(n => n.Cluster == cluster);
        if (q["gpu_model"].ToString() is { Length: > 0 } model)
            query = query.Where(n => n.GpuModel == model);
        if (q["state"].ToString() is { Length: > 0 } state)
        {
            if (!FleetCodes.TryParseNodeState(state, out _))
                return Errors.BadRequest($"state must be one of {string.Join(", ", Enum.GetValues<NodeState>().Select(v => v.ToCode()))}.", "state");
            query = query.Where(n => n.State == state);
        }
        var rows = await page.ApplyTo(query, n => n.Name).ToListAsync(http.RequestAborted);
        var allocations = await AllocationsAsync(db, http.RequestAborted);
        return Results.Json(page.Build(rows, r => NodeView.Of(r, allocations[r.Name].ToList()), v => v.Name), Json.Options);
    }

    private static async Task<IResult> Node(HttpContext http, string id, Database database)
    {
        await using var db = database.Open();
        var row = await db.Nodes.AsNoTracking().SingleOrDefaultAsync(n => n.Name == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("node", id);
        var gpus = await db.Gpus.AsNoTracking().Where(g => g.Node == id).OrderBy(g => g.Index)
            .Select(g => new GpuView(g.Index, g.Model, g.Uuid, g.MemoryMib)).ToListAsync(http.RequestAborted);
        return Results.Json(NodeView.Of(row, [.. (await AllocationsAsync(db, http.RequestAborted))[id]], gpus), Json.Options);
    }

    private static async Task<IResult> Act(HttpContext http, string id, NodeActionRequest? body, Database database, TimeProvider time, NodeAction action)
    {
        if (Validate.Text(body?.Reason, "reason", 500) is { } invalid)
            return invalid;
        await using var db = database.Open();
        var row = await db.Nodes.SingleOrDefaultAsync(n => n.Name == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("node", id);
        if (!FleetCodes.TryParseNodeState(row.State, out var current))
            throw new InvalidOperationException($"Node {row.Name} has an unknown state code '{row.State}' in the store.");
        var (next, refused) = NodeTransitions.Apply(current, action);
        if (refused is not null)
            return Errors.Conflict(refused, "invalid_node_state");
        if (next != current)
        {
            row.State = next.ToCode();
            row.StateReason = body?.Reason ?? "";
            row.UpdatedAt = time.GetUtcNow();
            await db.SaveChangesAsync(http.RequestAborted);
        }
        return Results.Json(NodeView.Of(row, [.. (await AllocationsAsync(db, http.RequestAborted))[id]]), Json.Options);
    }

    private static readonly string[] s_holdingCapacity = [.. Enum.GetValues<JobState>().Where(s => s.HoldsCapacity()).Select(s => s.ToCode())];

    /// <summary>
    /// Who holds each GPU, by node: the placements of the jobs that hold capacity, the same ones the scheduler's snapshot
    /// counts as used. One query over the jobs' state index, however many nodes are asked for.
    /// </summary>
    internal static async Task<ILookup<string, GpuAllocationView>> AllocationsAsync(HeadroomDb db, CancellationToken cancellationToken)
    {
        var jobs = await db.Jobs.AsNoTracking().Where(j => s_holdingCapacity.Contains(j.State) && j.Placement != null)
            .Select(j => new { j.Id, j.OrgId, j.Tier, j.Placement }).ToListAsync(cancellationToken);
        return jobs
            .SelectMany(j => JsonSerializer.Deserialize<List<PlacementView>>(j.Placement!, Json.Options)!
                .SelectMany(p => p.Gpus.Select(g => (p.Node, View: new GpuAllocationView(g, j.Id, j.OrgId, j.Tier, p.GpuMilli)))))
            .OrderBy(a => a.View.Gpu).ThenBy(a => a.View.JobId, StringComparer.Ordinal)
            .ToLookup(a => a.Node, a => a.View, StringComparer.Ordinal);
    }
}
