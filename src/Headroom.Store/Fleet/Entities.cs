namespace Headroom.Store.Fleet;

// Fleet objects are keyed by their names: operators and tenants read them (`us-east`, `gpu-017`),
// and a fleet file re-applied at start matches on them.

public sealed class RegionRow
{
    public required string Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ClusterRow
{
    public required string Name { get; set; }
    public required string Region { get; set; }
    public required string Runtime { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class NodeRow
{
    public required string Name { get; set; }
    public required string Cluster { get; set; }
    public required string Region { get; set; }
    public required string Runtime { get; set; }
    public required string GpuModel { get; set; }
    public int GpuCount { get; set; }
    public long GpuMemoryMib { get; set; }
    public long CpuMilli { get; set; }
    public long MemoryMib { get; set; }

    /// <summary>Topology and free-form labels as a JSON object (`nvlink-domain`, `rack`, ...).</summary>
    public string Labels { get; set; } = "{}";

    public required string State { get; set; }
    public string StateReason { get; set; } = "";

    /// <summary>The last heartbeat of the node's agent; null for a node without one (its liveness is not watched).</summary>
    public DateTimeOffset? LastHeartbeatAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class GpuRow
{
    public required string Node { get; set; }
    public int Index { get; set; }
    public required string Model { get; set; }
    public string? Uuid { get; set; }
    public long MemoryMib { get; set; }
}
