namespace Headroom.Core.Fleet;

/// <summary>
/// The declared fleet: regions → clusters → nodes. <see cref="GpuModels"/> is the whole catalog
/// in force (built-in models first, then those the file declared), so every node's
/// <see cref="NodeSpec.GpuModel"/> names one of them.
/// </summary>
public sealed record FleetSpec(IReadOnlyList<GpuModel> GpuModels, IReadOnlyList<RegionSpec> Regions)
{
    public IEnumerable<NodeSpec> Nodes => Regions.SelectMany(r => r.Clusters).SelectMany(c => c.Nodes);
}

public sealed record RegionSpec(string Name, IReadOnlyList<ClusterSpec> Clusters);

public sealed record ClusterSpec(string Name, Runtime Runtime, IReadOnlyList<NodeSpec> Nodes);

/// <summary>
/// One machine. Node names are unique across the fleet. <paramref name="GpuModel"/> is null
/// exactly when <paramref name="GpuCount"/> is zero. Quantities are integers: CPU in millicores,
/// memory in MiB.
/// </summary>
public sealed record NodeSpec(
    string Name,
    string? GpuModel,
    int GpuCount,
    int CpuMillicores,
    int MemoryMiB,
    IReadOnlyDictionary<string, string> Labels,
    Runtime Runtime,
    NodeState State)
{
    public string? NvlinkDomain => Labels.GetValueOrDefault(NodeLabels.NvlinkDomain);

    public string? Rack => Labels.GetValueOrDefault(NodeLabels.Rack);
}

/// <summary>Label keys the scheduler reads for topology; any other key is free-form.</summary>
public static class NodeLabels
{
    /// <summary>Nodes with the same value share an NVLink/NVSwitch fabric.</summary>
    public const string NvlinkDomain = "nvlink-domain";

    public const string Rack = "rack";
}
