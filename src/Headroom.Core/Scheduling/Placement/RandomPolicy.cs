namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// Uniformly random among the nodes that fit, and for a fractional request uniformly random among
/// the node's GPUs with room ("random fit" throughout). The baseline every other policy is measured against.
/// </summary>
public sealed class RandomPolicy(Random random) : IPlacementPolicy
{
    private readonly Random _random = random;
    private int[] _fitting = [];

    public string Name => PlacementPolicies.Random;

    public PlacementChoice Choose(PlacementFleet fleet, in PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        if (_fitting.Length < fleet.NodeCount)
            _fitting = new int[fleet.NodeCount];
        var count = 0;
        for (var n = 0; n < fleet.NodeCount; n++)
        {
            if (fleet.Fits(n, request))
                _fitting[count++] = n;
        }
        if (count == 0)
            return PlacementChoice.None;
        var node = _fitting[_random.Next(count)];
        return new PlacementChoice(node, request.IsFractional ? RandomGpu(fleet, node, request.GpuMilli) : -1);
    }

    private int RandomGpu(PlacementFleet fleet, int node, int milli)
    {
        var free = fleet.GpuFree(node);
        int chosen = -1, seen = 0;
        for (var g = 0; g < free.Length; g++)
        {
            if (free[g] >= milli && _random.Next(++seen) == 0)
                chosen = g;
        }
        return chosen;
    }
}
