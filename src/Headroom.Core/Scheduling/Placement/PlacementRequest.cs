namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// What one workload replica asks of one node, in integers: either a share of one GPU
/// (<see cref="GpuCount"/> 1 and <see cref="GpuMilli"/> below 1000) or whole GPUs
/// (<see cref="GpuMilli"/> 1000), or no GPU at all.
/// </summary>
/// <param name="CpuMilli">CPU in millicores.</param>
/// <param name="MemoryMib">Memory in MiB.</param>
/// <param name="GpuCount">GPUs on the node.</param>
/// <param name="GpuMilli">Milli-GPUs of each of those GPUs; 1000 for whole GPUs.</param>
/// <param name="ModelMask">Allowed GPU models as bits of <see cref="PlacementFleet.ModelId"/>; 0 means any model.</param>
/// <param name="ShapeId">Index of this request's shape in the policy's workload mix, or -1 when it has none; lets policies cache per shape.</param>
public readonly record struct PlacementRequest(
    int CpuMilli,
    int MemoryMib,
    int GpuCount,
    int GpuMilli,
    ulong ModelMask = 0,
    int ShapeId = -1)
{
    public const int MilliPerGpu = 1000;

    /// <summary>True when the request takes part of one GPU, which other requests may share.</summary>
    public bool IsFractional => GpuCount == 1 && GpuMilli < MilliPerGpu;

    /// <summary>Total milli-GPUs requested.</summary>
    public int TotalGpuMilli => GpuCount * GpuMilli;

    /// <summary>Checks the shape rules; returns the problem or null.</summary>
    public string? Validate()
    {
        if (CpuMilli < 0 || MemoryMib < 0 || GpuCount < 0 || GpuMilli < 0)
            return "quantities must not be negative";
        if (GpuCount == 0 && GpuMilli != 0)
            return "gpu_milli without GPUs";
        if (GpuCount > 0 && (GpuMilli == 0 || GpuMilli > MilliPerGpu))
            return "gpu_milli must be in 1..1000";
        if (GpuCount > 1 && GpuMilli != MilliPerGpu)
            return "a fractional GPU share needs exactly one GPU";
        return null;
    }
}
