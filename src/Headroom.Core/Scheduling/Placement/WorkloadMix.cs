namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// The typical workload mix a fragmentation-aware policy measures nodes against: the distinct
/// request shapes (CPU, GPU count, milli-GPUs per GPU, model set) and how many requests of each
/// were seen. Memory is not part of a shape: it filters, but it does not fragment GPUs.
/// Counts are integers so that fragmentation sums are exact and ties are true ties.
/// </summary>
public sealed class WorkloadMix
{
    private readonly Dictionary<ShapeKey, int> _index = [];
    private readonly List<ShapeKey> _shapes = [];
    private readonly List<long> _counts = [];

    /// <summary>Number of distinct shapes, including those with zero weight.</summary>
    public int ShapeCount => _shapes.Count;

    /// <summary>
    /// Builds the mix from observed requests. Requests without GPUs get a shape id (so a policy
    /// can cache their scores) but weigh nothing: a CPU-only workload is never left stranded by GPU fragments.
    /// </summary>
    public static WorkloadMix From(IEnumerable<PlacementRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var mix = new WorkloadMix();
        foreach (var r in requests)
            mix.Add(r, r.GpuCount > 0 ? 1 : 0);
        return mix;
    }

    /// <summary>Adds <paramref name="count"/> observations of the request's shape and returns the shape id.</summary>
    public int Add(in PlacementRequest request, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var key = new ShapeKey(request.CpuMilli, request.GpuCount, request.GpuMilli, request.ModelMask);
        if (!_index.TryGetValue(key, out var id))
        {
            id = _shapes.Count;
            _index.Add(key, id);
            _shapes.Add(key);
            _counts.Add(0);
        }
        _counts[id] += count;
        return id;
    }

    /// <summary>The shape id of a request, or -1 when the mix has not seen its shape.</summary>
    public int ShapeOf(in PlacementRequest request) =>
        _index.TryGetValue(new ShapeKey(request.CpuMilli, request.GpuCount, request.GpuMilli, request.ModelMask), out var id) ? id : -1;

    /// <summary>The request with its <see cref="PlacementRequest.ShapeId"/> set from this mix.</summary>
    public PlacementRequest Tag(in PlacementRequest request) => request with { ShapeId = ShapeOf(request) };

    public ShapeKey Shape(int id) => _shapes[id];

    public long Count(int id) => _counts[id];

    /// <summary>A request shape; <see cref="ModelMask"/> 0 means any model.</summary>
    public readonly record struct ShapeKey(int CpuMilli, int GpuCount, int GpuMilli, ulong ModelMask);
}
