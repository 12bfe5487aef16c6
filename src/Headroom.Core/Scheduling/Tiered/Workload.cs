using System.Collections.Immutable;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>
/// What a job or deployment replica set asks of the fleet. A gang: <see cref="NodeCount"/> nodes,
/// each with <see cref="GpusPerNode"/> GPUs of <see cref="GpuMilli"/> milli-GPUs (1000 for whole
/// GPUs; below 1000 only with one GPU per node), all started together or not at all.
/// </summary>
public sealed record Workload
{
    public required string Id { get; init; }

    public required string Org { get; init; }

    public string Project { get; init; } = "default";

    public required Tier Tier { get; init; }

    public int NodeCount { get; init; } = 1;

    public int GpusPerNode { get; init; } = 1;

    public int GpuMilli { get; init; } = 1000;

    /// <summary>Allowed GPU models; empty means any.</summary>
    public ImmutableArray<string> GpuModels { get; init; } = [];

    public int CpuMilliPerNode { get; init; }

    public int MemoryMibPerNode { get; init; }

    /// <summary>Region, or null for any.</summary>
    public string? Region { get; init; }

    /// <summary>For <see cref="Tier.Reserved"/>: the reservation whose block it runs in.</summary>
    public string? ReservationId { get; init; }

    public TimeSpan? MaxDuration { get; init; }

    public CheckpointPolicy Checkpoint { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>Milli-GPUs the whole gang holds.</summary>
    public long TotalGpuMilli => (long)NodeCount * GpusPerNode * GpuMilli;

    /// <summary>Checks the shape rules; returns the problem or null.</summary>
    public string? Validate()
    {
        if (NodeCount < 1 || GpusPerNode < 0 || CpuMilliPerNode < 0 || MemoryMibPerNode < 0)
            return "node count must be at least 1 and quantities must not be negative";
        if (GpusPerNode > 0 && GpuMilli is < 1 or > 1000)
            return "gpu_milli must be in 1..1000";
        if (GpusPerNode > 1 && GpuMilli != 1000)
            return "a fractional GPU share needs exactly one GPU per node";
        if (Tier == Tier.Reserved && ReservationId is null)
            return "a reserved workload names its reservation";
        return null;
    }
}

/// <summary>GPUs bound to a workload on one node: which GPUs and how many milli-GPUs of each.</summary>
public sealed record Allocation(string Node, ImmutableArray<int> Gpus, int GpuMilli, int CpuMilli, int MemoryMib);

/// <summary>A workload that holds capacity now.</summary>
/// <param name="Workload">What it asked for.</param>
/// <param name="Allocations">One per node of the gang.</param>
/// <param name="StartedAt">When it started (this run, after any requeue).</param>
/// <param name="LastCheckpointAt">Its last checkpoint, or null if none yet (work since the start is at risk).</param>
/// <param name="NoticeDeadline">Set once it has been given notice: it is stopped at this instant.</param>
public sealed record RunningWorkload(
    Workload Workload,
    ImmutableArray<Allocation> Allocations,
    DateTimeOffset StartedAt,
    DateTimeOffset? LastCheckpointAt = null,
    DateTimeOffset? NoticeDeadline = null)
{
    /// <summary>Work lost if it were stopped at <paramref name="now"/>.</summary>
    public TimeSpan WorkAtRisk(DateTimeOffset now) => now - (LastCheckpointAt ?? StartedAt);
}
