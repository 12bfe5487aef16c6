namespace Headroom.Core.Fleet;

public enum NodeAction { Cordon, Drain, Uncordon }

/// <summary>
/// The operator's node actions as a state machine over the persisted state codes:
/// <code>
///   ready ──cordon──► cordoned ──drain──► draining
///     ▲ └──────────────drain──────────────┘  │
///     └──────────────uncordon────────────────┘
///   down: set by health checks only; no action applies until the node reports again.
/// </code>
/// Cordoned takes no new work; draining takes none and its running work is moved off.
/// </summary>
public static class NodeStates
{
    public const string Ready = "ready";
    public const string Cordoned = "cordoned";
    public const string Draining = "draining";
    public const string Down = "down";

    public static IReadOnlyList<string> All { get; } = [Ready, Cordoned, Draining, Down];

    public static bool IsKnown(string state) => All.Contains(state);

    /// <summary>The state after <paramref name="action"/>, or an error saying why it does not apply. Repeating an action is a no-op.</summary>
    public static (string State, string? Error) Apply(string state, NodeAction action) => (state, action) switch
    {
        (Down, _) => (state, "The node is down; it takes actions again once it reports healthy."),
        (Ready or Cordoned, NodeAction.Cordon) => (Cordoned, null),
        (Draining, NodeAction.Cordon) => (state, "The node is draining, which already takes no new work; uncordon it first to only cordon it."),
        (_, NodeAction.Drain) => (Draining, null),
        (_, NodeAction.Uncordon) => (Ready, null),
        _ => (state, $"Unknown node state '{state}'."),
    };
}
