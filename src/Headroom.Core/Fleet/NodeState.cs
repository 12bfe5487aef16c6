namespace Headroom.Core.Fleet;

/// <summary>
/// Whether a node takes new work. The numeric values and the codes in <see cref="FleetCodes"/>
/// are persisted and frozen by a test: add new states at the end, never renumber.
/// </summary>
public enum NodeState
{
    /// <summary>Takes new work.</summary>
    Ready = 0,

    /// <summary>Keeps its running work but takes no new work.</summary>
    Cordoned = 1,

    /// <summary>Takes no new work and its running work is being moved off (notices sent).</summary>
    Draining = 2,

    /// <summary>Unreachable or broken; nothing runs on it.</summary>
    Down = 3,
}
