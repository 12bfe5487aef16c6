using Headroom.Core.Scheduling.Placement;

namespace Headroom.Core.Simulation.Openb;

/// <summary>
/// Replays the FGD paper's openb experiment (bench/data/openb/README.md): pods arrive one after
/// another and never leave, each is placed by the policy or skipped, and the GPU allocation is
/// recorded against how much has been requested so far.
/// </summary>
/// <remarks>
/// Order of steps for one seed, all randomness from <c>new Random(seed)</c>:
/// 1. the pod list sorted by name (ordinal), then shuffled (Fisher–Yates);
/// 2. inflation: pods drawn uniformly with replacement and appended while the requested
///    milli-GPUs stay within <c>inflationPercent</c> % of the fleet's capacity (the first draw that
///    would exceed it ends the list);
/// 3. each pod placed by the named policy (seeded with the same seed) or skipped;
/// 4. after each pod, x = round(requested / capacity × 100) and the allocation % is added to
///    bucket x; alloc(x) is the bucket's mean.
/// The typical workload mix for fragmentation-aware policies is the original pod list.
/// </remarks>
public static class OpenbReplay
{
    public const int DefaultInflationPercent = 130;

    /// <summary>The arrival levels the paper compares.</summary>
    public static IReadOnlyList<int> ReportedLevels { get; } = [90, 100, 130];

    /// <summary>Replays one seed. Returns null when the policy name is unknown.</summary>
    public static OpenbRun? Run(
        IReadOnlyList<PlacementNode> nodes,
        IReadOnlyList<OpenbPod> pods,
        string policyName,
        int seed,
        int inflationPercent = DefaultInflationPercent)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(pods);
        var fleet = PlacementFleet.Create(nodes);
        var requests = Requests(fleet, pods, out var mix);
        // One generator for the whole run, as the artifact draws from one global stream: the
        // shuffle, the inflation, then the policy. Two generators built from the same seed would
        // repeat each other's draws, tying the policy's choices to the arrival order.
        var random = new Random(seed);
        var order = ArrivalOrder(pods, requests, fleet.TotalGpuMilli, random, inflationPercent);
        var policy = PlacementPolicies.Create(policyName, mix, random);
        if (policy is null)
            return null;
        return Replay(fleet, policy, requests, order, inflationPercent);
    }

    /// <summary>The pods as placement requests tagged with their shape in the mix they form.</summary>
    public static PlacementRequest[] Requests(PlacementFleet fleet, IReadOnlyList<OpenbPod> pods, out WorkloadMix mix)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(pods);
        var requests = new PlacementRequest[pods.Count];
        for (var i = 0; i < pods.Count; i++)
        {
            var p = pods[i];
            requests[i] = new PlacementRequest(p.CpuMilli, p.MemoryMib, p.GpuCount, p.GpuMilli, fleet.ModelMask(p.GpuModels));
        }
        mix = WorkloadMix.From(requests);
        for (var i = 0; i < requests.Length; i++)
            requests[i] = mix.Tag(requests[i]);
        return requests;
    }

    /// <summary>Steps 1 and 2: indices into the pod list in arrival order, inflated.</summary>
    public static int[] ArrivalOrder(IReadOnlyList<OpenbPod> pods, PlacementRequest[] requests, long capacityMilli, Random random, int inflationPercent)
    {
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(random);
        var order = Enumerable.Range(0, pods.Count).OrderBy(i => pods[i].Name, StringComparer.Ordinal).ToList();
        for (var i = order.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var limit = capacityMilli * inflationPercent / 100;
        long requested = 0;
        foreach (var i in order)
            requested += requests[i].TotalGpuMilli;
        while (pods.Count > 0)
        {
            var k = random.Next(pods.Count);
            if (requested + requests[k].TotalGpuMilli > limit)
                break;
            requested += requests[k].TotalGpuMilli;
            order.Add(k);
        }
        return [.. order];
    }

    /// <summary>Steps 3 and 4 over a prepared fleet and arrival order.</summary>
    public static OpenbRun Replay(PlacementFleet fleet, IPlacementPolicy policy, PlacementRequest[] requests, int[] order, int maxLevel)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(order);
        var sums = new double[maxLevel + 1];
        var counts = new int[maxLevel + 1];
        var capacity = (double)fleet.TotalGpuMilli;
        long requested = 0;
        var placed = 0;
        foreach (var i in order)
        {
            var request = requests[i];
            requested += request.TotalGpuMilli;
            var choice = policy.Choose(fleet, request);
            if (choice.Found && fleet.Place(choice.Node, choice.Gpu, request))
                placed++;
            var level = (int)Math.Round(requested / capacity * 100, MidpointRounding.AwayFromZero);
            if (level <= maxLevel)
            {
                sums[level] += fleet.UsedGpuMilli / capacity * 100;
                counts[level]++;
            }
        }
        var curve = new double[maxLevel + 1];
        for (var x = 0; x <= maxLevel; x++)
            curve[x] = counts[x] == 0 ? double.NaN : sums[x] / counts[x];
        return new OpenbRun(policy.Name, order.Length, placed, curve);
    }
}

/// <summary>One seed's replay.</summary>
/// <param name="Policy">Policy name.</param>
/// <param name="Decisions">Pods offered to the policy.</param>
/// <param name="Placed">Pods placed.</param>
/// <param name="Allocation">Allocation % by arrival level x (index), NaN where no pod arrived at that level.</param>
public sealed record OpenbRun(string Policy, int Decisions, int Placed, IReadOnlyList<double> Allocation)
{
    /// <summary>Allocation at level x, or the last level reached below it when no pod's arrival rounded to x.</summary>
    public double At(int level)
    {
        for (var x = Math.Min(level, Allocation.Count - 1); x >= 0; x--)
        {
            if (!double.IsNaN(Allocation[x]))
                return Allocation[x];
        }
        return 0;
    }
}
