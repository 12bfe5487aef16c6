using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

public sealed class FleetFileTests
{
    private const string OneCluster = """
        version: 1
        regions:
          - name: us-east
            clusters:
              - name: train
                runtime: slurm
                nodes:
                  - name: gpu
                    count: 3
                    gpu_model: h100-80gb
                    gpu_count: 8
                    cpu_millicores: 96000
                    memory_mib: 1048576
                    labels: { rack: r1, nvlink-domain: d1, size: 12 }
                  - name: gpu-special
                    gpu_model: h100-80gb
                    gpu_count: 8
                    cpu_millicores: 96000
                    memory_mib: 1048576
                    runtime: kubernetes
                    state: cordoned
                  - name: login
                    cpu_millicores: 8000
                    memory_mib: 32768
        """;

    [Fact]
    public void Reads_regions_clusters_and_nodes_with_defaults_and_counted_names()
    {
        var result = FleetFile.Parse(OneCluster);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var cluster = Assert.Single(Assert.Single(result.Value.Regions).Clusters);
        Assert.Equal(("train", Runtime.Slurm), (cluster.Name, cluster.Runtime));
        Assert.Equal(["gpu-01", "gpu-02", "gpu-03", "gpu-special", "login"], cluster.Nodes.Select(n => n.Name));

        var counted = cluster.Nodes[1];
        Assert.Equal(("h100-80gb", 8, 96000, 1048576), (counted.GpuModel, counted.GpuCount, counted.CpuMillicores, counted.MemoryMiB));
        Assert.Equal((Runtime.Slurm, NodeState.Ready), (counted.Runtime, counted.State));
        Assert.Equal(("r1", "d1"), (counted.Rack, counted.NvlinkDomain));
        Assert.Equal("12", counted.Labels["size"]);

        Assert.Equal((Runtime.Kubernetes, NodeState.Cordoned), (cluster.Nodes[3].Runtime, cluster.Nodes[3].State));
        Assert.Equal((null, 0), (cluster.Nodes[4].GpuModel, cluster.Nodes[4].GpuCount));
        Assert.Equal(GpuCatalog.BuiltIn.Models, result.Value.GpuModels);
    }

    [Fact]
    public void Cluster_runtime_defaults_to_local()
    {
        var result = FleetFile.Parse("""
            regions: [{ name: r, clusters: [{ name: c, nodes: [{ name: n, cpu_millicores: 1000, memory_mib: 1024 }] }] }]
            """);

        Assert.True(result.Succeeded);
        Assert.Equal(Runtime.Local, result.Value.Nodes.Single().Runtime);
    }

    [Theory]
    [InlineData(1, "n-01")]
    [InlineData(9, "n-09")]
    [InlineData(99, "n-99")]
    [InlineData(100, "n-100")]
    [InlineData(100, "n-001")]
    public void Counted_names_are_padded_to_the_width_of_the_count(int count, string oneOfThem) =>
        Assert.Contains(oneOfThem, FleetFileReader.CountedNames("n", count));

    [Fact]
    public void Reads_json_by_content_and_by_file_name()
    {
        const string json = """
            {"regions": [{"name": "eu-west", "clusters": [{"name": "c", "runtime": "kubernetes", "nodes": [
              {"name": "a100", "count": 2, "gpu_model": "a100-80gb", "gpu_count": 8, "cpu_millicores": 128000, "memory_mib": 1031168,
            	"labels": {"rack": "r11"}}]}]}]}
            """;

        foreach (var result in new[] { FleetFile.Parse(json), FleetFile.Parse(json, "fleet.json"), FleetFile.Parse(json, "fleet.yaml") })
        {
            Assert.True(result.Succeeded, string.Join("\n", result.Problems));
            Assert.Equal(["a100-01", "a100-02"], result.Value.Nodes.Select(n => n.Name));
            Assert.All(result.Value.Nodes, n => Assert.Equal(Runtime.Kubernetes, n.Runtime));
        }
    }

    [Fact]
    public void Json_mistakes_are_reported_in_json_terms_with_their_position()
    {
        var problem = Assert.Single(FleetFile.Parse("{\n  \"regions\": [],\n}", "fleet.json").Problems);

        Assert.StartsWith("invalid JSON:", problem.Message, StringComparison.Ordinal);
        Assert.Equal(3, problem.Line);
    }

    [Fact]
    public void Declared_gpu_models_can_be_used_by_nodes_and_join_the_catalog()
    {
        var result = FleetFile.Parse("""
            gpu_models:
              - id: h100-nvl-94gb
                name: NVIDIA H100 NVL
                memory_mib: 95830
                aliases: [H100 NVL 94GB]
            regions:
              - name: r
                clusters:
                  - name: c
                    nodes: [{ name: n, gpu_model: h100-nvl-94gb, gpu_count: 4, cpu_millicores: 1000, memory_mib: 1024 }]
            """);

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var declared = result.Value.GpuModels[^1];
        Assert.Equal(("h100-nvl-94gb", "NVIDIA H100 NVL", 95830), (declared.Id, declared.Name, declared.MemoryMiB));
        Assert.Equal(["H100 NVL 94GB"], declared.Aliases);
        Assert.Equal(GpuCatalog.BuiltIn.Models.Count + 1, result.Value.GpuModels.Count);
    }

    public static TheoryData<string, string, string> Mistakes => new()
    {
        { Node("gpu_model: h100, gpu_count: 8"), "regions[0].clusters[0].nodes[0].gpu_model", "unknown GPU model 'h100'; known models: a100-40gb, a100-80gb, b200-180gb, h100-80gb, h200-141gb, l4-24gb, l40s-48gb" },
        { Node("gpu_count: 8"), "regions[0].clusters[0].nodes[0].gpu_model", "is required when gpu_count is above 0" },
        { Node("gpu_model: h100-80gb"), "regions[0].clusters[0].nodes[0].gpu_count", "is required" },
        { Node("gpu_model: h100-80gb, gpu_count: 0"), "regions[0].clusters[0].nodes[0].gpu_count", "must be at least 1; found 0" },
        { Node("gpu_count: -1"), "regions[0].clusters[0].nodes[0].gpu_count", "must be at least 0; found -1" },
        { Node("count: 0"), "regions[0].clusters[0].nodes[0].count", "must be at least 1; found 0" },
        { Node("count: -3"), "regions[0].clusters[0].nodes[0].count", "must be at least 1; found -3" },
        { Node("count: 100001"), "regions[0].clusters[0].nodes[0].count", "the fleet declares more than 100000 nodes" },
        { Node("count: 2147483647"), "regions[0].clusters[0].nodes[0].count", "the fleet declares more than 100000 nodes" },
        { Node("count: 1.5"), "regions[0].clusters[0].nodes[0].count", "expected a whole number; found '1.5'" },
        { Node("count: '2'"), "regions[0].clusters[0].nodes[0].count", "expected a whole number; found the string '2'" },
        { Node("count: 99999999999"), "regions[0].clusters[0].nodes[0].count", "must be at most 2147483647; found 99999999999" },
        { Node("runtime: slrum"), "regions[0].clusters[0].nodes[0].runtime", "unknown runtime 'slrum'; expected one of: local, slurm, kubernetes" },
        { Node("state: up"), "regions[0].clusters[0].nodes[0].state", "unknown state 'up'; expected one of: ready, cordoned, draining, down" },
        { Node("gpu_modle: h100-80gb"), "regions[0].clusters[0].nodes[0].gpu_modle", "unknown key; expected one of: name, count, gpu_model, gpu_count, cpu_millicores, memory_mib, runtime, state, labels" },
        { Node("labels: { Rack: r1 }"), "regions[0].clusters[0].nodes[0].labels.Rack", "a label key is lower-case letters" },
        { Node("labels: { rack: [r1] }"), "regions[0].clusters[0].nodes[0].labels.rack", "a label value is a string, found a list" },
        { Node("labels: [rack]"), "regions[0].clusters[0].nodes[0].labels", "expected a mapping of label keys to values, found a list" },
        { Node("name: GPU_1"), "regions[0].clusters[0].nodes[0].name", "'GPU_1' is not a valid name" },
        { Node("name: ~"), "regions[0].clusters[0].nodes[0].name", "is required" },
        { Node("memory_mib: "), "regions[0].clusters[0].nodes[0].memory_mib", "is required" },
        { Fleet("[{ name: us-east, clusters: [{ name: c, runtime: Slurm, nodes: [] }] }]"), "regions[0].clusters[0].runtime", "unknown runtime 'Slurm'" },
        { Fleet("[{ name: us-east, clusters: [{ name: c, nodes: [] }] }]"), "regions[0].clusters[0].nodes", "must list at least one entry" },
        { Fleet("[{ name: us-east, clusters: [] }]"), "regions[0].clusters", "must list at least one entry" },
        { Fleet("[{ name: us-east, clusters: {} }]"), "regions[0].clusters", "expected a list; found a mapping" },
        { Fleet("[{ name: us-east, zones: [] }]"), "regions[0].zones", "unknown key; expected one of: name, clusters" },
        { Fleet("[us-east]"), "regions[0]", "expected a mapping with keys name, clusters; found 'us-east'" },
        { Fleet("[]"), "regions", "must list at least one entry" },
        { Fleet($"[{Region("a")}, {Region("b", "n2")}, {Region("a", "n3")}]"), "regions[2].name", "duplicate region name 'a', already declared at regions[0].name" },
        { "version: 2\n" + Fleet(Region("a")), "version", "unsupported version 2; this Headroom reads version 1" },
        { "regoins: []\n" + Fleet(Region("a")), "regoins", "unknown key; expected one of: version, gpu_models, regions" },
        { "{}", "regions", "is required" },
        { "- a\n- b", "", "expected a mapping with keys version, gpu_models, regions; found a list" },
        { "gpu_models: [{ id: h100-80gb, name: X, memory_mib: 1 }]\n" + Fleet(Region("a")), "gpu_models[0].id", "GPU model 'h100-80gb' is built in" },
        { "gpu_models: [{ id: x, name: X, memory_mib: 1 }, { id: x, name: Y, memory_mib: 1 }]\n" + Fleet(Region("a")), "gpu_models[1].id", "duplicate GPU model id 'x', already declared at gpu_models[0].id" },
        { "gpu_models: [{ id: x, memory_mib: 1 }]\n" + Fleet(Region("a")), "gpu_models[0].name", "is required" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Reports_a_mistake_at_its_path(string yaml, string path, string message)
    {
        var result = FleetFile.Parse(yaml);

        Assert.False(result.Succeeded);
        Assert.Contains(result.Problems, p => p.Path == path && p.Message.StartsWith(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_names_are_reported_at_the_second_declaration()
    {
        var result = FleetFile.Parse("""
            regions:
              - name: r
                clusters:
                  - name: c
                    nodes:
                      - { name: gpu, count: 4, cpu_millicores: 1000, memory_mib: 1024 }
                  - name: c
                    nodes:
                      - { name: gpu-03, cpu_millicores: 1000, memory_mib: 1024 }
                      - { name: gpu, count: 2, cpu_millicores: 1000, memory_mib: 1024 }
            """);

        Assert.Equal(
            [
                "regions[0].clusters[1].name (line 7, column 15): duplicate cluster name 'c', already declared at regions[0].clusters[0].name",
                "regions[0].clusters[1].nodes[0].name (line 9, column 21): duplicate node name 'gpu-03', already declared at regions[0].clusters[0].nodes[0].name",
                "regions[0].clusters[1].nodes[1].name (line 10, column 21): duplicate node name 'gpu-01', already declared at regions[0].clusters[0].nodes[0].name (and 1 more names from count)",
            ],
            result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Reports_every_problem_at_once()
    {
        var result = FleetFile.Parse("""
            regions:
              - name: us-east
                clusters:
                  - name: c
                    runtime: slrum
                    nodes:
                      - { name: a, gpu_model: h99, gpu_count: 8, cpu_millicores: 0, memory_mib: 1024 }
                      - { name: b, cpu_millicores: 1000, memory_mib: 1024, colour: blue }
              - name: us-east
                clusters: []
            """);

        Assert.Equal(
            [
                "regions[0].clusters[0].runtime",
                "regions[0].clusters[0].nodes[0].gpu_model",
                "regions[0].clusters[0].nodes[0].cpu_millicores",
                "regions[0].clusters[0].nodes[1].colour",
                "regions[1].name",
                "regions[1].clusters",
            ],
            result.Problems.Select(p => p.Path));
    }

    [Theory]
    [InlineData("regions:\n  - name: a\n   clusters: []", 3, 4)]
    [InlineData("regions: [", 2, 1)]
    [InlineData("regions: \"unterminated", 1, 10)]
    [InlineData("a: 1\na: 2", 2, 1)]
    public void Yaml_syntax_errors_are_problems_with_line_and_column(string yaml, int line, int column)
    {
        var problem = Assert.Single(FleetFile.Parse(yaml).Problems);

        Assert.Equal("", problem.Path);
        Assert.Equal((line, column), (problem.Line, problem.Column));
        Assert.DoesNotContain("Idx:", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "the fleet file is empty")]
    [InlineData("# only a comment\n", "the fleet file is empty")]
    [InlineData("regions: []\n---\nregions: []\n", "a fleet file holds one YAML document; found a second")]
    [InlineData("a: &x [1]\nb: *x\n", "YAML aliases are not supported in a fleet file; use count for identical nodes")]
    public void Refuses_what_a_fleet_file_cannot_be(string yaml, string message) =>
        Assert.Equal(message, Assert.Single(FleetFile.Parse(yaml).Problems).Message);

    [Theory]
    [InlineData("- :")]
    [InlineData("2:\t{\r907:")]
    public void Input_that_trips_yamldotnet_is_still_a_problem(string yaml) =>
        Assert.StartsWith("unreadable YAML:", Assert.Single(FleetFile.Parse(yaml).Problems).Message, StringComparison.Ordinal);

    [Fact]
    public void Refuses_deep_nesting_without_exhausting_the_stack()
    {
        var problem = Assert.Single(FleetFile.Parse("regions: " + new string('[', 200_000)).Problems);

        Assert.Equal("nesting deeper than 32 levels", problem.Message);
    }

    [Fact]
    public void Refuses_oversized_input_from_strings_and_readers()
    {
        var huge = "# " + new string('x', FleetFile.MaxChars);

        Assert.StartsWith("the fleet file has", Assert.Single(FleetFile.Parse(huge).Problems).Message, StringComparison.Ordinal);
        Assert.StartsWith("the fleet file has", Assert.Single(FleetFile.Parse(new StringReader(huge)).Problems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_from_a_text_reader() =>
        Assert.Equal(5, FleetFile.Parse(new StringReader(OneCluster)).Value?.Nodes.Count());

    [Fact]
    public void Stops_listing_problems_after_the_limit()
    {
        var nodes = string.Join(", ", Enumerable.Range(0, 2 * FleetFileReader.MaxProblems).Select(_ => "{ bad: 1 }"));
        var problems = FleetFile.Parse(Fleet($"[{{ name: r, clusters: [{{ name: c, nodes: [{nodes}] }}] }}]")).Problems;

        Assert.Equal(FleetFileReader.MaxProblems + 1, problems.Count);
        Assert.StartsWith("more than", problems[^1].Message, StringComparison.Ordinal);
    }

    private static string Fleet(string regions) => $"regions: {regions}\n";

    private static string Region(string name, string node = "n") =>
        $"{{ name: {name}, clusters: [{{ name: c, nodes: [{{ name: {node}, cpu_millicores: 1000, memory_mib: 1024 }}] }}] }}";

    /// <summary>A one-node fleet whose node has <paramref name="fields"/> on top of (or instead of) valid defaults.</summary>
    private static string Node(string fields)
    {
        var values = new Dictionary<string, string> { ["name"] = "n", ["cpu_millicores"] = "1000", ["memory_mib"] = "1024" };
        foreach (var field in fields.Split(", "))
        {
            var colon = field.IndexOf(':', StringComparison.Ordinal);
            values[field[..colon].Trim()] = field[(colon + 1)..].Trim();
        }
        var node = string.Join("\n", values.Select(v => $"            {v.Key}: {v.Value}"));
        return $"""
            regions:
              - name: us-east
                clusters:
                  - name: c
                    nodes:
                      -
            {node}
            """;
    }
}
