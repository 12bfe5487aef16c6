using Headroom.Core.Scheduling.Placement;

namespace Headroom.Core.Tests.Scheduling.Placement;

/// <summary>Test-data builder: <c>new FleetBuilder().Node("a", gpus: 8).WithUsed(0, 500).Build()</c>.</summary>
internal sealed class FleetBuilder
{
    private readonly List<PlacementNode> _nodes = [];

    public FleetBuilder Node(string name, int gpus = 8, string model = "h100-80gb", int cpuMilli = 96_000, int memoryMib = 786_432)
    {
        _nodes.Add(new PlacementNode(name, model, gpus, cpuMilli, memoryMib));
        return this;
    }

    /// <summary>Marks milli-GPUs as taken on the last node's GPUs, in order.</summary>
    public FleetBuilder WithUsed(params int[] gpuMilliUsed)
    {
        var last = _nodes[^1];
        var used = new int[last.GpuCount];
        gpuMilliUsed.CopyTo(used, 0);
        _nodes[^1] = last with { GpuMilliUsed = used };
        return this;
    }

    public FleetBuilder WithCpuUsed(int cpuMilli)
    {
        _nodes[^1] = _nodes[^1] with { CpuMilliUsed = cpuMilli };
        return this;
    }

    public IReadOnlyList<PlacementNode> Nodes => _nodes;

    public PlacementFleet Build() => PlacementFleet.Create(_nodes);
}

internal static class Requests
{
    public static PlacementRequest Gpus(int count, int cpuMilli = 8_000, int memoryMib = 16_384) => new(cpuMilli, memoryMib, count, PlacementRequest.MilliPerGpu);

    public static PlacementRequest Share(int milli, int cpuMilli = 4_000, int memoryMib = 8_192) => new(cpuMilli, memoryMib, 1, milli);

    public static PlacementRequest CpuOnly(int cpuMilli, int memoryMib = 8_192) => new(cpuMilli, memoryMib, 0, 0);
}
