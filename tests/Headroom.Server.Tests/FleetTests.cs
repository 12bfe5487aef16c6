using System.Net;
using System.Net.Http.Json;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;

namespace Headroom.Server.Tests;

public sealed class FleetTests
{
    public const string TwoRegionFleet = """
        version: 1
        regions:
          - name: us-east
            clusters:
              - name: use1-train
                runtime: slurm
                nodes:
                  - name: use1-h100
                    count: 2
                    gpu_model: h100-80gb
                    gpu_count: 8
                    cpu_millicores: 224000
                    memory_mib: 2063872
                    labels: { nvlink-domain: nvl-1, rack: r01 }
              - name: use1-serve
                runtime: kubernetes
                nodes:
                  - name: use1-h200-01
                    gpu_model: h200-141gb
                    gpu_count: 8
                    cpu_millicores: 192000
                    memory_mib: 2063872
          - name: eu-west
            clusters:
              - name: euw1
                runtime: local
                nodes:
                  - name: euw1-a100-01
                    gpu_model: a100-80gb
                    gpu_count: 4
                    cpu_millicores: 64000
                    memory_mib: 515072
        """;

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task The_fleet_file_becomes_regions_clusters_nodes_and_gpus(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider, fleetYaml: TwoRegionFleet);
        using var admin = server.Admin();

        var regions = await admin.GetJsonAsync("/v1/fleet/regions");
        var nodes = await admin.GetJsonAsync("/v1/fleet/nodes?region=us-east&gpu_model=h100-80gb");
        var node = await admin.GetJsonAsync("/v1/fleet/nodes/use1-h100-01");

        Assert.Equal(["eu-west", "us-east"], regions["data"]!.AsArray().Select(r => r!["name"]!.GetValue<string>()));
        var usEast = regions["data"]![1]!;
        Assert.Equal(16, usEast["gpus"]!.AsArray().Single(g => g!["gpu_model"]!.GetValue<string>() == "h100-80gb")!["total"]!.GetValue<int>());
        Assert.Equal(["use1-h100-01", "use1-h100-02"], nodes["data"]!.AsArray().Select(n => n!["name"]!.GetValue<string>()));
        Assert.Equal(8, node["gpus"]!.AsArray().Count);
        Assert.Equal(81559, node["gpu_memory_mib"]!.GetValue<int>());
        Assert.Equal("nvl-1", node["labels"]!["nvlink-domain"]!.GetValue<string>());
        Assert.Equal("slurm", node["runtime"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_node_reports_which_GPUs_running_jobs_hold_and_in_which_tier(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider, fleetYaml: TestFleets.LocalBox(4));
        using var admin = server.Admin();
        var (orgId, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var onDemand = (await owner.PostJsonAsync("/v1/jobs", new { project_id = project, gpus_per_node = 2, command = new[] { "/bin/sleep", "60" } }))["id"]!.GetValue<string>();
        var spot = (await owner.PostJsonAsync("/v1/jobs", new { project_id = project, gpus_per_node = 1, tier = "spot", command = new[] { "/bin/sleep", "60" } }))["id"]!.GetValue<string>();
        await owner.WaitForJobAsync(onDemand, j => j["state"]!.GetValue<string>() == "running");
        await owner.WaitForJobAsync(spot, j => j["state"]!.GetValue<string>() == "running");

        var node = await admin.GetJsonAsync("/v1/fleet/nodes/box-1");
        var listed = (await admin.GetJsonAsync("/v1/fleet/nodes"))["data"]![0]!;
        using var tenantAsks = await owner.GetAsync("/v1/fleet/nodes/box-1");

        Assert.Equal(3000, node["allocated_milli_gpus"]!.GetValue<long>());
        var allocations = node["allocations"]!.AsArray().Select(a => (
            Gpu: a!["gpu"]!.GetValue<int>(), Job: a["job_id"]!.GetValue<string>(), Org: a["org_id"]!.GetValue<string>(), Tier: a["tier"]!.GetValue<string>(), Milli: a["milli_gpus"]!.GetValue<int>())).ToList();
        Assert.Equal(3, allocations.Select(a => a.Gpu).Distinct().Count());
        Assert.Equal(2, allocations.Count(a => a.Job == onDemand && a.Tier == "on-demand" && a.Milli == 1000));
        Assert.Single(allocations, a => a.Job == spot && a.Tier == "spot");
        Assert.All(allocations, a => Assert.Equal(orgId, a.Org));
        Assert.Equal(node["allocations"]!.ToJsonString(), listed["allocations"]!.ToJsonString());
        Assert.Equal(HttpStatusCode.Forbidden, tenantAsks.StatusCode);

        await owner.PostJsonAsync($"/v1/jobs/{onDemand}/cancel", new { }, HttpStatusCode.OK);
        await owner.WaitForJobAsync(onDemand, j => j["state"]!.GetValue<string>() == "cancelled");
        node = await admin.GetJsonAsync("/v1/fleet/nodes/box-1");
        Assert.Equal(1000, node["allocated_milli_gpus"]!.GetValue<long>());
        Assert.Equal(spot, Assert.Single(node["allocations"]!.AsArray())!["job_id"]!.GetValue<string>());
        await owner.PostJsonAsync($"/v1/jobs/{spot}/cancel", new { }, HttpStatusCode.OK);
    }

    [Fact]
    public async Task Tenants_see_capacity_but_not_nodes()
    {
        await using var server = await TestServer.StartAsync(fleetYaml: TwoRegionFleet);
        var (_, key) = await server.CreateTenantAsync("acme");
        using var tenant = server.Client(key);

        var clusters = await tenant.GetJsonAsync("/v1/fleet/clusters?region=eu-west");
        using var nodes = await tenant.GetAsync("/v1/fleet/nodes");

        var cluster = Assert.Single(clusters["data"]!.AsArray())!;
        Assert.Equal(4, cluster["gpus"]![0]!["schedulable"]!.GetValue<int>());
        await HttpJson.ErrorAsync(nodes, 403);
    }

    [Fact]
    public async Task Cordon_drain_and_uncordon_follow_the_state_machine_and_survive_a_restart()
    {
        var dir = new TempDirectory();
        var fleet = Path.Combine(dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TwoRegionFleet);
        var database = StoreConnection.SqliteFile(Path.Combine(dir.Path, "h.db"));
        await using (var server = await TestServer.StartAsync(configure: s => s with { DataDir = dir.Path, Database = database, FleetFile = fleet }))
        {
            using var admin = server.Admin();
            var cordoned = await admin.PostJsonAsync("/v1/fleet/nodes/use1-h200-01/cordon", new { reason = "firmware" }, HttpStatusCode.OK);
            using var cordonDraining = await admin.PostAsJsonAsync("/v1/fleet/nodes/use1-h100-01/drain", new { });
            using var thenCordon = await admin.PostAsJsonAsync("/v1/fleet/nodes/use1-h100-01/cordon", new { });
            var regions = await admin.GetJsonAsync("/v1/fleet/regions");

            Assert.Equal("cordoned", cordoned["state"]!.GetValue<string>());
            Assert.Equal("firmware", cordoned["state_reason"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.OK, cordonDraining.StatusCode);
            Assert.Equal("invalid_node_state", (await HttpJson.ErrorAsync(thenCordon, 409))["code"]!.GetValue<string>());
            var usEast = regions["data"]![1]!["gpus"]!.AsArray();
            Assert.Equal(8, usEast.Single(g => g!["gpu_model"]!.GetValue<string>() == "h100-80gb")!["schedulable"]!.GetValue<int>());
            Assert.Equal(0, usEast.Single(g => g!["gpu_model"]!.GetValue<string>() == "h200-141gb")!["schedulable"]!.GetValue<int>());
        }

        // A restart re-applies the file; the operator's states stay, a node dropped from the file goes.
        await File.WriteAllTextAsync(fleet, TwoRegionFleet.Replace("count: 2", "count: 1", StringComparison.Ordinal));
        await using (var server = await TestServer.StartAsync(configure: s => s with { DataDir = dir.Path, Database = database, FleetFile = fleet }))
        {
            using var admin = server.Admin();
            Assert.Equal("cordoned", (await admin.GetJsonAsync("/v1/fleet/nodes/use1-h200-01"))["state"]!.GetValue<string>());
            Assert.Equal("draining", (await admin.GetJsonAsync("/v1/fleet/nodes/use1-h100-01"))["state"]!.GetValue<string>());
            using var gone = await admin.GetAsync("/v1/fleet/nodes/use1-h100-02");
            await HttpJson.ErrorAsync(gone, 404);
            var uncordoned = await admin.PostJsonAsync("/v1/fleet/nodes/use1-h200-01/uncordon", new { }, HttpStatusCode.OK);
            Assert.Equal("ready", uncordoned["state"]!.GetValue<string>());
        }
        dir.Dispose();
    }

    [Fact]
    public async Task Without_a_fleet_file_the_fleet_is_this_machine()
    {
        await using var server = await TestServer.StartAsync();
        using var admin = server.Admin();

        var nodes = await admin.GetJsonAsync("/v1/fleet/nodes");

        var node = Assert.Single(nodes["data"]!.AsArray())!;
        Assert.Equal("local", node["region"]!.GetValue<string>());
        Assert.Equal("local", node["runtime"]!.GetValue<string>());
        Assert.Equal(Environment.ProcessorCount * 1000, node["cpu_milli"]!.GetValue<int>());
    }
}
