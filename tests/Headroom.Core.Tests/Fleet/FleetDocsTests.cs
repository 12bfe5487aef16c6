using System.Text.Json;
using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

/// <summary>The example fleet file and the JSON Schema in the repository agree with the parser.</summary>
public sealed class FleetDocsTests
{
    [Fact]
    public void The_example_fleet_file_parses()
    {
        var result = FleetFile.Parse(TestFiles.RepoFile("deploy/fleet.example.yaml"), "fleet.example.yaml");

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var fleet = result.Value;
        Assert.Equal(["us-east", "eu-west"], fleet.Regions.Select(r => r.Name));
        Assert.Equal(38, fleet.Nodes.Count());
        Assert.Equal(8 * 16 + 8 * 2 + 4 * 2 + 8 * 12 + 8 * 4 + 2, fleet.Nodes.Sum(n => n.GpuCount));
        Assert.Contains(fleet.Nodes, n => n.Runtime == Runtime.Local);
        Assert.Superset(
            new HashSet<string?> { "h100-80gb", "h200-141gb", "a100-80gb", "a100-40gb" },
            fleet.Nodes.Select(n => n.GpuModel).ToHashSet());
        Assert.Contains(fleet.Nodes, n => n.NvlinkDomain is not null && n.Rack is not null);
        Assert.Contains(fleet.Nodes, n => n.State == NodeState.Cordoned);
    }

    [Fact]
    public void The_dev_slurm_cluster_fleet_file_names_its_nodes_as_slurm_does()
    {
        var result = FleetFile.Parse(TestFiles.RepoFile("deploy/slurm/fleet.dev.yaml"), "fleet.dev.yaml");

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        // deploy/slurm/dev-cluster.sh: NodeName=gpu-node[1-4], Gres=gpu:h100:8.
        Assert.Equal(["gpu-node1", "gpu-node2", "gpu-node3", "gpu-node4"], result.Value.Nodes.Select(n => n.Name));
        Assert.All(result.Value.Nodes, n => Assert.Equal((Runtime.Slurm, "h100-80gb", 8), (n.Runtime, n.GpuModel, n.GpuCount)));
    }

    [Fact]
    public void The_json_schema_names_the_keys_the_parser_accepts()
    {
        using var schema = JsonDocument.Parse(TestFiles.RepoFile("docs/fleet.schema.json"));
        var root = schema.RootElement;
        var defs = root.GetProperty("$defs");

        AssertSameKeys(FleetFileReader.TopLevelKeys, root);
        AssertSameKeys(FleetFileReader.GpuModelKeys, defs.GetProperty("gpu_model"));
        AssertSameKeys(FleetFileReader.RegionKeys, defs.GetProperty("region"));
        AssertSameKeys(FleetFileReader.ClusterKeys, defs.GetProperty("cluster"));
        AssertSameKeys(FleetFileReader.NodeKeys, defs.GetProperty("node"));
        Assert.Equal(
            Enum.GetValues<Runtime>().Select(r => r.ToCode()),
            defs.GetProperty("runtime").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(
            Enum.GetValues<NodeState>().Select(s => s.ToCode()),
            defs.GetProperty("node").GetProperty("properties").GetProperty("state").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
    }

    private static void AssertSameKeys(string[] parserKeys, JsonElement objectSchema)
    {
        Assert.False(objectSchema.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(
            parserKeys.Order(StringComparer.Ordinal),
            objectSchema.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }
}
