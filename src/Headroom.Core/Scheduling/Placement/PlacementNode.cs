namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// One node as the placement engine sees it: what it has, not what it is called in the fleet
/// inventory. The server fills these from the fleet; the simulator from a trace.
/// </summary>
/// <param name="Name">Stable node name; ties and reports refer to it.</param>
/// <param name="GpuModel">GPU model name, e.g. <c>h100-80gb</c> or <c>V100M32</c>.</param>
/// <param name="GpuCount">Number of GPUs on the node.</param>
/// <param name="CpuMilli">Allocatable CPU in millicores.</param>
/// <param name="MemoryMib">Allocatable memory in MiB.</param>
public sealed record PlacementNode(string Name, string GpuModel, int GpuCount, int CpuMilli, int MemoryMib)
{
    /// <summary>Milli-GPUs already taken on each GPU (length <see cref="GpuCount"/>); null when the node is empty.</summary>
    public IReadOnlyList<int>? GpuMilliUsed { get; init; }

    public int CpuMilliUsed { get; init; }

    public int MemoryMibUsed { get; init; }
}
