namespace Headroom.Core.Fleet;

public enum NodeAction { Cordon, Drain, Uncordon }

/// <summary>
/// The operator's node actions as a state machine:
/// <code>
///   ready ──cordon──► cordoned ──drain──► draining
///     ▲ └──────────────drain──────────────┘  │
///     └──────────────uncordon────────────────┘
///   down: set by health checks only; no action applies until the node reports again.
/// </code>
/// </summary>
public static class NodeTransitions
{
    /// <summary>The state after <paramref name="action"/>, or an error saying why it does not apply. Repeating an action is a no-op.</summary>
    public static (NodeState State, string? Error) Apply(NodeState state, NodeAction action) => (state, action) switch
    {
        (NodeState.Down, _) => (state, "The node is down; it takes actions again once it reports healthy."),
        (NodeState.Draining, NodeAction.Cordon) => (state, "The node is draining, which already takes no new work; uncordon it first to only cordon it."),
        (_, NodeAction.Cordon) => (NodeState.Cordoned, null),
        (_, NodeAction.Drain) => (NodeState.Draining, null),
        (_, NodeAction.Uncordon) => (NodeState.Ready, null),
        _ => (state, $"Unknown action {action}."),
    };
}
