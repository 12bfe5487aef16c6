namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// Best fit: the node left with the least CPU and GPU after the placement, each normalized by the
/// largest node of the fleet and weighted equally; a fractional request takes the tightest GPU.
/// Ties (identical nodes) are broken at random with the seeded generator.
/// </summary>
public sealed class BestFitPolicy(Random random) : IPlacementPolicy
{
    private readonly Random _random = random;

    public string Name => PlacementPolicies.BestFit;

    public PlacementChoice Choose(PlacementFleet fleet, in PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        var best = -1;
        var bestScore = long.MaxValue;
        var ties = 0;
        for (var n = 0; n < fleet.NodeCount; n++)
        {
            if (!fleet.Fits(n, request))
                continue;
            var score = Leftover(fleet, n, request);
            if (score < bestScore)
            {
                best = n;
                bestScore = score;
                ties = 1;
            }
            else if (score == bestScore && _random.Next(++ties) == 0)
            {
                best = n;
            }
        }
        if (best < 0)
            return PlacementChoice.None;
        return new PlacementChoice(best, request.IsFractional ? fleet.TightestGpu(best, request.GpuMilli) : -1);
    }

    /// <summary>
    /// What the node has left after the placement, as cpuLeft/maxCpu + gpuLeft/maxGpu scaled by
    /// maxCpu × maxGpu to stay in integers; lower is a tighter fit.
    /// </summary>
    internal static long Leftover(PlacementFleet fleet, int node, in PlacementRequest request)
    {
        long cpuLeft = fleet.CpuFree(node) - request.CpuMilli;
        long gpuLeft = fleet.GpuFreeTotal(node) - request.TotalGpuMilli;
        return (cpuLeft * fleet.MaxNodeGpuMilli) + (gpuLeft * fleet.MaxNodeCpuMilli);
    }
}
