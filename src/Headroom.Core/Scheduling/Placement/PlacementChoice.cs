namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// A policy's answer for one request: a node, and for a fractional request the GPU on it.
/// <see cref="None"/> means no node passed the filter; it is a value, not an error.
/// </summary>
/// <param name="Node">Node index in the <see cref="PlacementFleet"/>, or -1.</param>
/// <param name="Gpu">GPU index on the node for a fractional request; -1 for whole GPUs (the lowest free ones are taken).</param>
public readonly record struct PlacementChoice(int Node, int Gpu)
{
    public static PlacementChoice None => new(-1, -1);

    public bool Found => Node >= 0;
}
