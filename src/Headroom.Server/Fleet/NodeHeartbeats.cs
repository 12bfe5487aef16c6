using Headroom.Core.Fleet;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Fleet;

/// <summary>What a node agent sends: the output of <c>nvidia-smi</c> with <see cref="NvidiaSmi.QueryArguments"/>, or why it has none.</summary>
public sealed record NodeHeartbeatRequest(string? NvidiaSmi, string? Error);

public sealed record NodeHealthIssueView(string Kind, int? GpuIndex, string Message);

public sealed record NodeHeartbeatView(NodeView Node, IReadOnlyList<NodeHealthIssueView> Issues)
{
    public string Object => "node_heartbeat";
}

/// <summary>
/// <c>POST /v1/fleet/nodes/{id}/heartbeat</c>: a node agent reports its GPUs. The server reads them with its own parser
/// and health rules (<see cref="GpuHealth"/>), so every agent is judged alike, and moves the node by
/// <see cref="NodeLiveness"/>. A heartbeat that changes nothing leaves no audit record (agents send one every few
/// seconds); one that drains a node or brings it back does.
/// </summary>
internal static class NodeHeartbeats
{
    public const int MaxOutputChars = 1 << 20;

    public static async Task<IResult> Receive(HttpContext http, string id, NodeHeartbeatRequest? body, Database database, TimeProvider time, HeadroomSettings settings)
    {
        if (body is null)
            return Errors.MissingBody;
        if (body.NvidiaSmi is null == body.Error is null)
            return Errors.BadRequest("Send exactly one of nvidia_smi (the output of nvidia-smi) and error (why there is none).", "nvidia_smi");
        if (body.NvidiaSmi is { Length: > MaxOutputChars })
            return Errors.BadRequest($"nvidia_smi: at most {MaxOutputChars} characters.", "nvidia_smi");
        if (Validate.Text(body.Error, "error", 2000) is { } badError)
            return badError;

        await using var db = database.Open();
        var row = await db.Nodes.SingleOrDefaultAsync(n => n.Name == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("node", id);
        if (!FleetCodes.TryParseNodeState(row.State, out var current))
            throw new InvalidOperationException($"Node {row.Name} has an unknown state code '{row.State}' in the store.");

        IReadOnlyList<GpuHealthIssue> issues;
        if (body.Error is { } error)
        {
            issues = [new GpuHealthIssue(GpuHealthIssueKind.MissingGpus, null, $"nvidia-smi failed on the node: {error}")];
        }
        else
        {
            var parsed = NvidiaSmi.ParseQueryCsv(body.NvidiaSmi!);
            issues = parsed.Value is { } readings
                ? GpuHealth.Assess(readings, row.GpuCount, settings.MaxGpuTemperatureC)
                : [new GpuHealthIssue(GpuHealthIssueKind.MissingGpus, null, $"nvidia-smi output unreadable: {string.Join("; ", parsed.Problems.Take(3))}")];
        }

        var (next, reason) = NodeLiveness.OnHeartbeat(current, row.StateReason, issues);
        var now = time.GetUtcNow();
        row.LastHeartbeatAt = now;
        if (next != current || reason != row.StateReason)
        {
            row.State = next.ToCode();
            row.StateReason = reason;
            row.UpdatedAt = now;
        }
        else
        {
            http.Items[AuditMiddleware.AlreadyAuditedItem] = true;
        }
        await db.SaveChangesAsync(http.RequestAborted);
        return Results.Json(new NodeHeartbeatView(NodeView.Of(row, [.. (await FleetEndpoints.AllocationsAsync(db, http.RequestAborted))[id]]),
            [.. issues.Select(i => new NodeHealthIssueView(i.Kind.ToCode(), i.GpuIndex, i.Message))]), Json.Options);
    }
}

/// <summary>
/// On the control-loop replica: marks down every node whose agent has gone silent for longer than
/// <see cref="HeadroomSettings.NodeDownAfter"/>. The scheduler then fences and requeues what ran there.
/// </summary>
internal sealed partial class NodeWatch(Database database, Leadership leadership, HeadroomSettings settings, TimeProvider time, ILogger<NodeWatch> logger)
    : LeaderLoop(leadership, time, logger)
{
    private static readonly string Down = NodeState.Down.ToCode();

    protected override TimeSpan Period => TimeSpan.FromTicks(Math.Clamp(settings.NodeDownAfter.Ticks / 4, TimeSpan.TicksPerMillisecond * 250, TimeSpan.TicksPerSecond * 5));

    protected override async Task RunPassAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await using var db = database.Open();
        var silent = await db.Nodes.Where(n => n.State != Down && n.LastHeartbeatAt != null).ToListAsync(cancellationToken);
        foreach (var node in silent)
        {
            if (!FleetCodes.TryParseNodeState(node.State, out var state) || !NodeLiveness.IsSilent(state, node.LastHeartbeatAt, now, settings.NodeDownAfter))
                continue;
            node.State = Down;
            node.StateReason = NodeLiveness.SilenceReason(node.LastHeartbeatAt!.Value);
            node.UpdatedAt = now;
            LogDown(logger, node.Name, node.LastHeartbeatAt.Value);
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Node {Node} is down: no heartbeat since {LastHeartbeat:O}")]
    private static partial void LogDown(ILogger logger, string node, DateTimeOffset lastHeartbeat);
}
