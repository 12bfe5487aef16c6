using System.Collections.Immutable;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>
/// A node as the scheduler sees it; the server fills these from the fleet inventory. Topology
/// comes from the labels <see cref="NvlinkDomainLabel"/> and <see cref="RackLabel"/>.
/// </summary>
public sealed record SchedulingNode(string Name, string Region, string GpuModel, int GpuCount, int CpuMilli, int MemoryMib)
{
    public const string NvlinkDomainLabel = "nvlink-domain";
    public const string RackLabel = "rack";

    public ImmutableDictionary<string, string> Labels { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>Cordoned nodes keep their workloads but take no new ones.</summary>
    public bool Schedulable { get; init; } = true;

    public string? Label(string key) => Labels.TryGetValue(key, out var value) ? value : null;
}
