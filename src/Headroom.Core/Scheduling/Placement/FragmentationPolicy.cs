namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// Fragmentation gradient descent (FGD, "Beware of Fragmentation", USENIX ATC 2023): place the
/// request where it grows the node's expected fragmentation the least.
/// </summary>
/// <remarks>
/// <para>
/// Fragmentation of a node for one shape of the workload mix: if the shape cannot run on the node
/// (wrong model, not enough CPU, not enough GPUs with its share free), every free milli-GPU of the
/// node is stranded for it; if it can, the GPUs whose free share is below the shape's share are.
/// Expected fragmentation weighs that by how often each shape occurs. A request's score on a node
/// is F(node after) − F(node before); for a fractional request every distinct GPU is tried.
/// </para>
/// <para>
/// <see cref="Measure.WithPacking"/> adds a second, longer-sighted term per shape: the free
/// milli-GPUs that would stay unused if the node were filled with that shape alone, counting the
/// remainder each GPU keeps after whole multiples of the share (an 810 share strands 190 of a
/// free GPU) and the GPUs the node's free CPU cannot feed. The published FGD sees neither until
/// the last pod that fits is placed; on openb this lifts allocation at x = 130 from 94.7 % to 95.7 %.
/// </para>
/// <para>
/// Quantities stay integers (shape counts × milli-GPUs), so equal nodes tie exactly; ties go to
/// the <see cref="TieBreak"/>. Scores are cached per node × shape and invalidated by
/// <see cref="PlacementFleet.NodeVersion"/>, which makes a decision mostly a scan of the filter.
/// </para>
/// </remarks>
public sealed class FragmentationPolicy : IPlacementPolicy
{
    private readonly Random _random;
    private readonly TieBreak _tieBreak;
    private readonly bool _packing;

    // The mix, flattened to the shapes that weigh something; thresholds are the distinct
    // per-GPU shares, so a node's "GPUs free ≥ share" counts are computed once per threshold.
    private readonly int _shapeCount;
    private readonly int[] _thresholds;
    private readonly int[] _cpu;
    private readonly int[] _gpus;
    private readonly int[] _threshold;
    private readonly ulong[] _mask;
    private readonly long[] _weight;

    private PlacementFleet? _fleet;
    private long[] _nodeFrag = [];
    private int[] _nodeFragVersion = [];
    private long[] _cacheDelta = [];
    private int[] _cacheGpu = [];
    private int[] _cacheVersion = [];
    private int[] _scratch = [];

    public FragmentationPolicy(string name, WorkloadMix mix, Random random, Measure measure, TieBreak tieBreak)
    {
        ArgumentNullException.ThrowIfNull(mix);
        Name = name;
        _random = random;
        _tieBreak = tieBreak;
        _packing = measure == Measure.WithPacking;
        _shapeCount = mix.ShapeCount;
        var weighed = Enumerable.Range(0, mix.ShapeCount).Where(i => mix.Count(i) > 0).ToArray();
        _thresholds = [.. weighed.Select(i => mix.Shape(i).GpuMilli).Distinct().Order()];
        _cpu = [.. weighed.Select(i => mix.Shape(i).CpuMilli)];
        _gpus = [.. weighed.Select(i => mix.Shape(i).GpuCount)];
        _threshold = [.. weighed.Select(i => Array.IndexOf(_thresholds, mix.Shape(i).GpuMilli))];
        _mask = [.. weighed.Select(i => mix.Shape(i).ModelMask)];
        _weight = [.. weighed.Select(mix.Count)];
    }

    /// <summary>What counts as fragmentation of a node for one shape of the mix.</summary>
    public enum Measure
    {
        /// <summary>As published: free milli-GPUs the next pod of the shape could not use.</summary>
        NextPod,

        /// <summary><see cref="NextPod"/> plus what filling the node with the shape alone would leave unused.</summary>
        WithPacking,
    }

    /// <summary>How to choose between nodes whose fragmentation grows by exactly the same amount.</summary>
    public enum TieBreak
    {
        /// <summary>Uniformly at random, as the published FGD does.</summary>
        Random,

        /// <summary>The tightest fit (<see cref="BestFitPolicy"/>), then at random.</summary>
        BestFit,
    }

    public string Name { get; }

    public PlacementChoice Choose(PlacementFleet fleet, in PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        Bind(fleet);
        var cached = request.ShapeId >= 0 && request.ShapeId < _shapeCount;
        var best = -1;
        var bestGpu = -1;
        var bestDelta = long.MaxValue;
        var bestFit = long.MaxValue;
        var ties = 0;
        for (var n = 0; n < fleet.NodeCount; n++)
        {
            if (!fleet.Fits(n, request))
                continue;
            long delta;
            int gpu;
            if (cached)
            {
                var slot = (n * _shapeCount) + request.ShapeId;
                var version = fleet.NodeVersion(n);
                if (_cacheVersion[slot] != version)
                {
                    _cacheDelta[slot] = Score(fleet, n, request, out _cacheGpu[slot]);
                    _cacheVersion[slot] = version;
                }
                delta = _cacheDelta[slot];
                gpu = _cacheGpu[slot];
            }
            else
            {
                delta = Score(fleet, n, request, out gpu);
            }

            if (delta > bestDelta)
                continue;
            var fit = _tieBreak == TieBreak.BestFit ? BestFitPolicy.Leftover(fleet, n, request) : 0;
            if (delta < bestDelta || fit < bestFit)
            {
                (best, bestGpu, bestDelta, bestFit, ties) = (n, gpu, delta, fit, 1);
            }
            else if (fit == bestFit && _random.Next(++ties) == 0)
            {
                (best, bestGpu) = (n, gpu);
            }
        }
        return best < 0 ? PlacementChoice.None : new PlacementChoice(best, bestGpu);
    }

    /// <summary>
    /// The growth of the node's expected fragmentation if the request is placed there, and for a
    /// fractional request the GPU that grows it least (the tightest among equals).
    /// </summary>
    internal long Score(PlacementFleet fleet, int node, in PlacementRequest request, out int gpu)
    {
        var before = NodeFragmentation(fleet, node);
        var free = _scratch.AsSpan(0, fleet.GpuCount(node));
        fleet.GpuFree(node).CopyTo(free);
        var model = fleet.NodeModel(node);
        var cpu = fleet.CpuFree(node) - request.CpuMilli;
        gpu = -1;
        if (!request.IsFractional)
        {
            var left = request.GpuCount;
            for (var g = 0; left > 0 && g < free.Length; g++)
            {
                if (free[g] == PlacementRequest.MilliPerGpu)
                {
                    free[g] = 0;
                    left--;
                }
            }
            return Fragmentation(model, cpu, free) - before;
        }

        var best = long.MaxValue;
        for (var g = 0; g < free.Length; g++)
        {
            var f = free[g];
            if (f < request.GpuMilli || free[..g].Contains(f))
                continue; // too small, or a GPU with the same free share was tried already
            free[g] = f - request.GpuMilli;
            var after = Fragmentation(model, cpu, free);
            free[g] = f;
            if (after < best || (after == best && f < free[gpu]))
                (best, gpu) = (after, g);
        }
        return best - before;
    }

    /// <summary>Expected fragmentation of the node as it is now, cached by node version.</summary>
    internal long NodeFragmentation(PlacementFleet fleet, int node)
    {
        var version = fleet.NodeVersion(node);
        if (_nodeFragVersion[node] != version)
        {
            _nodeFrag[node] = Fragmentation(fleet.NodeModel(node), fleet.CpuFree(node), fleet.GpuFree(node));
            _nodeFragVersion[node] = version;
        }
        return _nodeFrag[node];
    }

    /// <summary>
    /// Σ over shapes of count × stranded milli-GPUs for a node with the given model, free CPU and
    /// free share per GPU (see the class remarks for what is stranded).
    /// </summary>
    internal long Fragmentation(int model, int cpuFree, ReadOnlySpan<int> free)
    {
        long total = 0;
        foreach (var f in free)
            total += f;
        if (total == 0)
            return 0;

        // Per distinct share t: GPUs with at least t free, milli-GPUs on GPUs with less, and how
        // many pods of share t the GPUs could hold in all.
        Span<int> fitting = stackalloc int[_thresholds.Length];
        Span<long> stranded = stackalloc long[_thresholds.Length];
        Span<int> pods = stackalloc int[_thresholds.Length];
        for (var k = 0; k < _thresholds.Length; k++)
        {
            var t = _thresholds[k];
            int c = 0, p = 0;
            long s = 0;
            foreach (var f in free)
            {
                if (f >= t)
                    c++;
                else
                    s += f;
                p += f / t;
            }
            fitting[k] = c;
            stranded[k] = s;
            pods[k] = p;
        }

        var bit = 1UL << model;
        long sum = 0;
        for (var i = 0; i < _weight.Length; i++)
        {
            if (_mask[i] != 0 && (_mask[i] & bit) == 0)
            {
                sum += _weight[i] * (_packing ? 2 * total : total);
                continue;
            }
            var k = _threshold[i];
            var runs = cpuFree >= _cpu[i] && fitting[k] >= _gpus[i];
            var frag = runs ? stranded[k] : total;
            if (_packing)
            {
                var byCpu = _cpu[i] == 0 ? int.MaxValue : cpuFree / _cpu[i];
                var byGpu = pods[k] / _gpus[i];
                frag += total - ((long)Math.Min(byCpu, byGpu) * _gpus[i] * _thresholds[k]);
            }
            sum += _weight[i] * frag;
        }
        return sum;
    }

    private void Bind(PlacementFleet fleet)
    {
        if (ReferenceEquals(_fleet, fleet))
            return;
        _fleet = fleet;
        var nodes = fleet.NodeCount;
        _nodeFrag = new long[nodes];
        _nodeFragVersion = new int[nodes];
        _cacheDelta = new long[nodes * _shapeCount];
        _cacheGpu = new int[nodes * _shapeCount];
        _cacheVersion = new int[nodes * _shapeCount];
        var maxGpus = 0;
        for (var n = 0; n < nodes; n++)
            maxGpus = Math.Max(maxGpus, fleet.GpuCount(n));
        _scratch = new int[maxGpus];
    }
}
