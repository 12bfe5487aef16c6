namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// The free capacity of a set of nodes, laid out as flat arrays so that a placement decision
/// over thousands of nodes touches a few cache lines per node and allocates nothing.
/// Node i's GPUs are <c>GpuFree[GpuStart(i) .. GpuStart(i) + GpuCount(i))</c>.
/// </summary>
/// <remarks>
/// Invariants, kept by <see cref="Place"/> and checked by the property tests: every free
/// quantity stays within 0..capacity, so no GPU, CPU or memory is ever overcommitted;
/// <see cref="NodeVersion"/> changes whenever a node's free capacity changes.
/// </remarks>
public sealed class PlacementFleet
{
    /// <summary>At most this many distinct GPU models per fleet, so a model set fits a <see cref="ulong"/> mask with one bit to spare.</summary>
    public const int MaxModels = 63;

    /// <summary>A mask bit no node has: a model set that names no model of this fleet matches nothing.</summary>
    private const ulong NoModel = 1UL << 63;

    private readonly string[] _names;
    private readonly string[] _modelNames;
    private readonly int[] _modelId;
    private readonly int[] _cpuCapacity;
    private readonly int[] _memCapacity;
    private readonly int[] _cpuFree;
    private readonly int[] _memFree;
    private readonly int[] _gpuStart;
    private readonly int[] _gpuCount;
    private readonly int[] _gpuFree;
    private readonly int[] _wholeFree;
    private readonly int[] _maxFree;
    private readonly int[] _gpuFreeTotal;
    private readonly int[] _version;

    private PlacementFleet(IReadOnlyList<PlacementNode> nodes)
    {
        var n = nodes.Count;
        _names = new string[n];
        _modelId = new int[n];
        _cpuCapacity = new int[n];
        _memCapacity = new int[n];
        _cpuFree = new int[n];
        _memFree = new int[n];
        _gpuStart = new int[n + 1];
        _gpuCount = new int[n];
        _wholeFree = new int[n];
        _maxFree = new int[n];
        _gpuFreeTotal = new int[n];
        _version = new int[n];
        var models = new List<string>();
        var totalGpus = 0;
        for (var i = 0; i < n; i++)
        {
            var node = nodes[i];
            ArgumentOutOfRangeException.ThrowIfNegative(node.GpuCount);
            ArgumentOutOfRangeException.ThrowIfNegative(node.CpuMilli);
            ArgumentOutOfRangeException.ThrowIfNegative(node.MemoryMib);
            _names[i] = node.Name;
            var model = models.IndexOf(node.GpuModel);
            if (model < 0)
            {
                if (models.Count == MaxModels)
                    throw new ArgumentException($"more than {MaxModels} GPU models in one fleet", nameof(nodes));
                model = models.Count;
                models.Add(node.GpuModel);
            }
            _modelId[i] = model;
            _cpuCapacity[i] = node.CpuMilli;
            _memCapacity[i] = node.MemoryMib;
            _cpuFree[i] = node.CpuMilli - node.CpuMilliUsed;
            _memFree[i] = node.MemoryMib - node.MemoryMibUsed;
            if (_cpuFree[i] < 0 || _memFree[i] < 0)
                throw new ArgumentException($"node {node.Name} uses more than it has", nameof(nodes));
            _gpuStart[i] = totalGpus;
            _gpuCount[i] = node.GpuCount;
            totalGpus += node.GpuCount;
        }
        _gpuStart[n] = totalGpus;
        _gpuFree = new int[totalGpus];
        for (var i = 0; i < n; i++)
        {
            var used = nodes[i].GpuMilliUsed;
            if (used is not null && used.Count != _gpuCount[i])
                throw new ArgumentException($"node {_names[i]} lists {used.Count} GPUs but has {_gpuCount[i]}", nameof(nodes));
            for (var g = 0; g < _gpuCount[i]; g++)
            {
                var u = used?[g] ?? 0;
                if (u is < 0 or > PlacementRequest.MilliPerGpu)
                    throw new ArgumentException($"node {_names[i]} GPU {g} uses {u} milli-GPUs", nameof(nodes));
                _gpuFree[_gpuStart[i] + g] = PlacementRequest.MilliPerGpu - u;
            }
            Summarize(i);
        }
        _modelNames = [.. models];
        TotalGpuMilli = (long)totalGpus * PlacementRequest.MilliPerGpu;
        UsedGpuMilli = TotalGpuMilli;
        foreach (var f in _gpuFree)
            UsedGpuMilli -= f;
        for (var i = 0; i < n; i++)
        {
            MaxNodeCpuMilli = Math.Max(MaxNodeCpuMilli, _cpuCapacity[i]);
            MaxNodeGpuMilli = Math.Max(MaxNodeGpuMilli, _gpuCount[i] * PlacementRequest.MilliPerGpu);
        }
    }

    public static PlacementFleet Create(IReadOnlyList<PlacementNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        return new PlacementFleet(nodes);
    }

    public int NodeCount => _names.Length;

    public int GpuCountTotal => _gpuFree.Length;

    public long TotalGpuMilli { get; }

    /// <summary>Milli-GPUs currently allocated across the fleet.</summary>
    public long UsedGpuMilli { get; private set; }

    public int MaxNodeCpuMilli { get; }

    public int MaxNodeGpuMilli { get; }

    public IReadOnlyList<string> ModelNames => _modelNames;

    /// <summary>The model's bit index, or -1 when no node has that model.</summary>
    public int ModelId(string model) => Array.IndexOf(_modelNames, model);

    /// <summary>The mask for a set of model names; models absent from the fleet add nothing. An empty set means any model (0).</summary>
    public ulong ModelMask(IEnumerable<string> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        ulong mask = 0;
        var any = false;
        foreach (var m in models)
        {
            any = true;
            var id = ModelId(m);
            if (id >= 0)
                mask |= 1UL << id;
        }
        // A non-empty set that names no model of this fleet must match nothing, not everything.
        return any && mask == 0 ? NoModel : mask;
    }

    public string NodeName(int node) => _names[node];

    public int NodeModel(int node) => _modelId[node];

    public int CpuFree(int node) => _cpuFree[node];

    public int MemoryFree(int node) => _memFree[node];

    public int CpuCapacity(int node) => _cpuCapacity[node];

    public int MemoryCapacity(int node) => _memCapacity[node];

    public int GpuCount(int node) => _gpuCount[node];

    public int GpuStart(int node) => _gpuStart[node];

    /// <summary>Free milli-GPUs of each GPU of the node.</summary>
    public ReadOnlySpan<int> GpuFree(int node) => _gpuFree.AsSpan(_gpuStart[node], _gpuCount[node]);

    /// <summary>Number of the node's GPUs with nothing allocated.</summary>
    public int WholeGpusFree(int node) => _wholeFree[node];

    /// <summary>The largest free share of any one GPU of the node.</summary>
    public int MaxGpuFree(int node) => _maxFree[node];

    public int GpuFreeTotal(int node) => _gpuFreeTotal[node];

    /// <summary>Changes whenever the node's free capacity changes; policies key their caches on it.</summary>
    public int NodeVersion(int node) => _version[node];

    /// <summary>The filter every policy shares: model, CPU, memory and GPU shape all fit.</summary>
    public bool Fits(int node, in PlacementRequest request)
    {
        if (request.ModelMask != 0 && (request.ModelMask & (1UL << _modelId[node])) == 0)
            return false;
        if (_cpuFree[node] < request.CpuMilli || _memFree[node] < request.MemoryMib)
            return false;
        if (request.GpuCount == 0)
            return true;
        return request.IsFractional
            ? _maxFree[node] >= request.GpuMilli
            : _wholeFree[node] >= request.GpuCount;
    }

    /// <summary>
    /// Takes the request's resources on the chosen node: for a fractional request the chosen GPU
    /// (or the tightest that fits when <paramref name="gpu"/> is -1), for whole GPUs the lowest-indexed free ones.
    /// Returns false and changes nothing when the request does not fit there.
    /// </summary>
    public bool Place(int node, int gpu, in PlacementRequest request)
    {
        if (!Fits(node, request))
            return false;
        var start = _gpuStart[node];
        if (request.IsFractional)
        {
            if (gpu < 0)
                gpu = TightestGpu(node, request.GpuMilli);
            if (gpu >= _gpuCount[node] || _gpuFree[start + gpu] < request.GpuMilli)
                return false;
            _gpuFree[start + gpu] -= request.GpuMilli;
        }
        else if (request.GpuCount > 0)
        {
            var left = request.GpuCount;
            for (var g = start; left > 0; g++)
            {
                if (_gpuFree[g] == PlacementRequest.MilliPerGpu)
                {
                    _gpuFree[g] = 0;
                    left--;
                }
            }
        }
        _cpuFree[node] -= request.CpuMilli;
        _memFree[node] -= request.MemoryMib;
        UsedGpuMilli += request.TotalGpuMilli;
        Summarize(node);
        return true;
    }

    /// <summary>The fitting GPU with the least free share (lowest index on ties), or -1.</summary>
    public int TightestGpu(int node, int milli)
    {
        var free = GpuFree(node);
        var best = -1;
        for (var g = 0; g < free.Length; g++)
        {
            if (free[g] >= milli && (best < 0 || free[g] < free[best]))
                best = g;
        }
        return best;
    }

    private void Summarize(int node)
    {
        var free = GpuFree(node);
        int whole = 0, max = 0, total = 0;
        foreach (var f in free)
        {
            if (f == PlacementRequest.MilliPerGpu)
                whole++;
            if (f > max)
                max = f;
            total += f;
        }
        _wholeFree[node] = whole;
        _maxFree[node] = max;
        _gpuFreeTotal[node] = total;
        _version[node]++;
    }
}
