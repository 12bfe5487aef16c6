using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

public sealed class LocalFleetTests
{
    private static readonly GpuReading H100 = Assert.Single(NvidiaSmi.ParseXml(TestFiles.Fixture("nvidia-smi-q.xml")).Value!);

    [Fact]
    public void Builds_one_local_node_from_the_readings()
    {
        var fleet = LocalFleet.Build("gpu-box", 32000, 262144, [H100]);

        var region = Assert.Single(fleet.Regions);
        var cluster = Assert.Single(region.Clusters);
        Assert.Equal(("local", "local", Runtime.Local), (region.Name, cluster.Name, cluster.Runtime));
        var node = Assert.Single(cluster.Nodes);
        Assert.Equal(
            ("gpu-box", "h100-80gb", 1, 32000, 262144, Runtime.Local, NodeState.Ready),
            (node.Name, node.GpuModel, node.GpuCount, node.CpuMillicores, node.MemoryMiB, node.Runtime, node.State));
        Assert.Empty(node.Labels);
        Assert.Equal(GpuCatalog.BuiltIn.Models, fleet.GpuModels);
    }

    [Fact]
    public void Without_nvidia_smi_the_node_has_no_gpus()
    {
        var node = LocalFleet.Build("laptop", 8000, 16384, []).Nodes.Single();

        Assert.Equal((null, 0), (node.GpuModel, node.GpuCount));
    }

    [Fact]
    public void Counts_each_gpu_once_and_the_most_numerous_model()
    {
        GpuReading[] readings =
        [
            H100 with { Index = 0, Uuid = "a" },
            H100 with { Index = 0, Uuid = "a" },
            H100 with { Index = 1, Uuid = "b", Name = "NVIDIA L4", MemoryTotalMiB = 23034 },
            H100 with { Index = 2, Uuid = "c" },
        ];

        var node = LocalFleet.Build("box", 8000, 16384, readings).Nodes.Single();

        Assert.Equal(("h100-80gb", 2), (node.GpuModel, node.GpuCount));
    }

    [Fact]
    public void An_unknown_product_becomes_a_model_of_its_own()
    {
        var rtx = H100 with { Name = "NVIDIA GeForce RTX 4090", ModelId = null, MemoryTotalMiB = 24564 };

        var fleet = LocalFleet.Build("desk", 8000, 16384, [rtx, rtx with { Index = 1, Uuid = "other" }]);

        Assert.Equal(("geforce-rtx-4090-24gb", 2), (fleet.Nodes.Single().GpuModel, fleet.Nodes.Single().GpuCount));
        Assert.Equal(new GpuModel("geforce-rtx-4090-24gb", "NVIDIA GeForce RTX 4090", 24564), fleet.GpuModels[^1]);
    }

    [Theory]
    [InlineData("gpu-box", "gpu-box")]
    [InlineData("GPU_Box.example.com", "gpu-box.example.com")]
    [InlineData("  -weird host- ", "weird-host")]
    [InlineData("___", "localhost")]
    public void Host_names_become_valid_node_names(string hostName, string nodeName)
    {
        Assert.Equal(nodeName, LocalFleet.NodeName(hostName));
        Assert.Matches(FleetFileReader.NodeNamePattern(), nodeName);
    }
}
