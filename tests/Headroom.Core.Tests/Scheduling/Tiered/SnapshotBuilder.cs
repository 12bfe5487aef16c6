using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Tests.Scheduling.Tiered;

/// <summary>Test-data builder for scheduler snapshots; times are relative to <see cref="Now"/>.</summary>
internal sealed class SnapshotBuilder
{
    public static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private readonly List<SchedulingNode> _nodes = [];
    private readonly List<RunningWorkload> _running = [];
    private readonly List<Workload> _pending = [];
    private readonly List<CapacityBlock> _blocks = [];

    public SnapshotBuilder Node(string name, int gpus = 8, string model = "h100-80gb", string region = "eu-1", string? nvlinkDomain = null, string? rack = null)
    {
        var labels = ImmutableDictionary<string, string>.Empty;
        if (nvlinkDomain is not null)
            labels = labels.Add(SchedulingNode.NvlinkDomainLabel, nvlinkDomain);
        if (rack is not null)
            labels = labels.Add(SchedulingNode.RackLabel, rack);
        _nodes.Add(new SchedulingNode(name, region, model, gpus, gpus * 16_000, gpus * 131_072) { Labels = labels });
        return this;
    }

    public SnapshotBuilder Nodes(int count, int gpus = 8, string model = "h100-80gb", string region = "eu-1")
    {
        for (var i = 0; i < count; i++)
            Node($"{model}-{_nodes.Count:D2}", gpus, model, region);
        return this;
    }

    /// <summary>Runs the workload on the named nodes, taking its GPUs from the lowest index.</summary>
    public SnapshotBuilder Running(Workload workload, TimeSpan startedAgo, string[] nodes, TimeSpan? checkpointAgo = null, TimeSpan? noticeDeadlineIn = null, int firstGpu = 0)
    {
        var allocations = nodes.Select(n => new Allocation(n, [.. Enumerable.Range(firstGpu, workload.GpusPerNode)], workload.GpuMilli, workload.CpuMilliPerNode, workload.MemoryMibPerNode));
        _running.Add(new RunningWorkload(workload, [.. allocations], Now - startedAgo, checkpointAgo is null ? null : Now - checkpointAgo, noticeDeadlineIn is null ? null : Now + noticeDeadlineIn));
        return this;
    }

    public SnapshotBuilder Pending(params Workload[] workloads)
    {
        _pending.AddRange(workloads);
        return this;
    }

    public SnapshotBuilder Reservation(string id, int gpus, TimeSpan startsIn, TimeSpan lasts, string model = "h100-80gb", string region = "eu-1", string org = "acme")
    {
        _blocks.Add(new CapacityBlock(id, org, region, model, gpus, Now + startsIn, Now + startsIn + lasts));
        return this;
    }

    public SchedulerSnapshot Build() => new([.. _nodes], [.. _running], [.. _pending], [.. _blocks]);

    public SchedulingPlan Plan(SchedulerConfig? config = null, int seed = 1) => TieredScheduler.Plan(Build(), config ?? new SchedulerConfig(), Now, seed);

    public static Workload Job(string id, Tier tier, int gpus = 8, int nodes = 1, string org = "acme", int milli = 1000, TimeSpan? submittedAgo = null) => new()
    {
        Id = id,
        Org = org,
        Tier = tier,
        GpusPerNode = gpus,
        NodeCount = nodes,
        GpuMilli = milli,
        CpuMilliPerNode = gpus * 8_000,
        MemoryMibPerNode = gpus * 65_536,
        GpuModels = ["h100-80gb"],
        Checkpoint = CheckpointPolicy.Requeue,
        SubmittedAt = Now - (submittedAgo ?? TimeSpan.FromMinutes(1)),
    };
}
