namespace Headroom.Core.Fleet;

/// <summary>
/// What a node agent's heartbeats, and their absence, do to a node's state. Pure: the caller stores the result.
/// </summary>
/// <remarks>
/// A heartbeat with health issues drains the node (no new work; what runs may finish) with a reason that starts with
/// <see cref="HealthReasonPrefix"/>. A healthy heartbeat undoes only what health did: it brings a down node back and
/// ends a drain that health started, but never an operator's cordon or drain. A node whose heartbeats stop for longer
/// than the down-after interval is down: its jobs are lost and requeued from their checkpoints.
/// </remarks>
public static class NodeLiveness
{
    public const string HealthReasonPrefix = "health: ";
    public const string SilenceReasonPrefix = "no heartbeat since ";

    /// <summary>The node's state and reason after a heartbeat that found <paramref name="issues"/>.</summary>
    public static (NodeState State, string Reason) OnHeartbeat(NodeState current, string currentReason, IReadOnlyList<GpuHealthIssue> issues)
    {
        ArgumentNullException.ThrowIfNull(issues);
        if (issues.Count > 0)
        {
            var reason = HealthReasonPrefix + string.Join("; ", issues.Select(i => i.Message));
            return current is NodeState.Ready or NodeState.Down || IsHealthDrain(current, currentReason) ? (NodeState.Draining, reason) : (current, currentReason);
        }
        return current == NodeState.Down || IsHealthDrain(current, currentReason) ? (NodeState.Ready, "") : (current, currentReason);
    }

    /// <summary>Whether a node that has sent heartbeats has been silent too long and should be marked down.</summary>
    public static bool IsSilent(NodeState current, DateTimeOffset? lastHeartbeat, DateTimeOffset now, TimeSpan downAfter) =>
        current != NodeState.Down && lastHeartbeat is { } last && now - last > downAfter;

    public static string SilenceReason(DateTimeOffset lastHeartbeat) => $"{SilenceReasonPrefix}{lastHeartbeat.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";

    private static bool IsHealthDrain(NodeState state, string reason) =>
        state == NodeState.Draining && reason.StartsWith(HealthReasonPrefix, StringComparison.Ordinal);
}
