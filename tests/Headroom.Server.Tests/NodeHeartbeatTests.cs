using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Server.Tests;

/// <summary>Node agents' heartbeats: health drains a node, silence takes it down, and its jobs are fenced and requeued.</summary>
public sealed class NodeHeartbeatTests
{
    private static Task<TestServer> StartAsync(int gpus, TimeSpan downAfter) => TestServer.StartAsync(fleetYaml: TestFleets.LocalBox(gpus), configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        NodeDownAfter = downAfter,
        Scheduler = new SchedulerConfig { Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => TimeSpan.FromSeconds(1)) },
    });

    /// <summary>nvidia-smi's <c>--query-gpu ... --format=csv,noheader,nounits</c> output for H100s, as on a real node.</summary>
    private static string NvidiaSmi(int gpus, int hotGpu = -1, int eccGpu = -1) => string.Join('\n', Enumerable.Range(0, gpus).Select(i => string.Create(CultureInfo.InvariantCulture,
        $"{i}, GPU-1fd8df79-c8c2-0a90-4940-d449e947a5f{i}, NVIDIA H100 80GB HBM3, 00000000:00:0{6 + i}.0, 81559, 0, 81079, 0, 0, {(i == hotGpu ? 93 : 37)}, 73.20, 700.00, 345, 1980, {(i == eccGpu ? 2 : 0)}, P0, Disabled"))) + "\n";

    private static Task<JsonObject> BeatAsync(HttpClient admin, object body) => admin.PostJsonAsync("/v1/fleet/nodes/box-1/heartbeat", body, HttpStatusCode.OK);

    [Fact]
    public async Task Health_drains_the_node_and_recovery_undoes_only_what_health_did()
    {
        await using var server = await StartAsync(2, TimeSpan.FromMinutes(5));
        using var admin = server.Admin();

        var healthy = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2) });
        var hot = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2, hotGpu: 1) });
        var recovered = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2) });
        var missing = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(1) });
        var failed = await BeatAsync(admin, new { error = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" });
        await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2) });
        await admin.PostJsonAsync("/v1/fleet/nodes/box-1/drain", new { reason = "maintenance" }, HttpStatusCode.OK);
        var operatorDrain = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2) });
        var ecc = await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(2, eccGpu: 0) });

        Assert.Equal("ready", healthy["node"]!["state"]!.GetValue<string>());
        Assert.Empty(healthy["issues"]!.AsArray());
        Assert.Equal("draining", hot["node"]!["state"]!.GetValue<string>());
        Assert.StartsWith("health: GPU 1", hot["node"]!["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("over_temperature", hot["issues"]![0]!["kind"]!.GetValue<string>());
        Assert.Equal("ready", recovered["node"]!["state"]!.GetValue<string>());
        Assert.Equal("missing_gpus", missing["issues"]![0]!["kind"]!.GetValue<string>());
        Assert.Contains("couldn't communicate", failed["node"]!["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("maintenance", operatorDrain["node"]!["state_reason"]!.GetValue<string>());
        Assert.Equal("uncorrectable_ecc_errors", ecc["issues"]![0]!["kind"]!.GetValue<string>());
        Assert.Equal("maintenance", ecc["node"]!["state_reason"]!.GetValue<string>());

        // Only heartbeats that moved the node are in the audit log; the steady ones are not.
        var audit = await admin.GetJsonAsync("/v1/audit?limit=100");
        var beats = audit["data"]!.AsArray().Count(r => r!["action"]!.GetValue<string>() == "fleet.nodes.heartbeat");
        Assert.Equal(5, beats); // hot, recovered, missing, failed, healthy again
    }

    [Fact]
    public async Task Bad_heartbeats_are_refused_and_change_nothing()
    {
        await using var server = await StartAsync(2, TimeSpan.FromMinutes(5));
        using var admin = server.Admin();
        var (_, tenantKey) = await server.CreateTenantAsync("acme");
        using var tenant = server.Client(tenantKey);

        using var both = await admin.PostAsJsonAsync("/v1/fleet/nodes/box-1/heartbeat", new { nvidia_smi = NvidiaSmi(2), error = "x" });
        using var neither = await admin.PostAsJsonAsync("/v1/fleet/nodes/box-1/heartbeat", new { });
        using var unknown = await admin.PostAsJsonAsync("/v1/fleet/nodes/box-9/heartbeat", new { nvidia_smi = NvidiaSmi(2) });
        using var garbage = await admin.PostAsJsonAsync("/v1/fleet/nodes/box-1/heartbeat", new { nvidia_smi = "not, a, gpu" });
        using var byTenant = await tenant.PostAsJsonAsync("/v1/fleet/nodes/box-1/heartbeat", new { nvidia_smi = NvidiaSmi(2) });

        await HttpJson.ErrorAsync(both, 400);
        await HttpJson.ErrorAsync(neither, 400);
        await HttpJson.ErrorAsync(unknown, 404);
        await HttpJson.ErrorAsync(byTenant, 403);
        var node = await admin.GetJsonAsync("/v1/fleet/nodes/box-1");
        Assert.Equal("draining", node["state"]!.GetValue<string>()); // unreadable output is a sick node, not a 500
        Assert.Contains("unreadable", node["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(garbage.IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_silent_node_goes_down_its_job_is_stopped_and_requeued_and_resumes_when_the_node_is_back()
    {
        await using var server = await StartAsync(1, TimeSpan.FromSeconds(1));
        using var admin = server.Admin();
        await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(1) });
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        // Heartbeats keep coming while the job starts; then they stop.
        using var beating = new CancellationTokenSource();
        var beats = Task.Run(async () =>
        {
            while (!beating.IsCancellationRequested)
            {
                await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(1) });
                await Task.Delay(200);
            }
        });
        var job = await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, checkpoint = "requeue",
            command = new[] { "/bin/sh", "-c", "echo $$ >> \"$HEADROOM_CHECKPOINT_DIR/pids\"; sleep 60" },
        });
        var id = job["id"]!.GetValue<string>();
        await owner.WaitForJobAsync(id, j => j["state"]!.GetValue<string>() == "running");
        await beating.CancelAsync();
        await beats;

        var requeued = await owner.WaitForJobAsync(id, j => j["state"]!.GetValue<string>() == "queued" && j["attempt"]!.GetValue<int>() == 2);
        var node = await admin.GetJsonAsync("/v1/fleet/nodes/box-1");
        var events = (await owner.GetJsonAsync($"/v1/jobs/{id}/events"))["data"]!.AsArray();
        var pidFile = Path.Combine(server.Settings.JobsDir, "checkpoints", id, "pids");
        var firstPid = int.Parse((await File.ReadAllLinesAsync(pidFile))[0], CultureInfo.InvariantCulture);

        Assert.Equal("down", node["state"]!.GetValue<string>());
        Assert.StartsWith("no heartbeat since", node["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(events, e => e!["to_state"]!.GetValue<string>() == "lost" && e["reason"]!.GetValue<string>().Contains("node box-1 is down", StringComparison.Ordinal));
        Assert.False(Directory.Exists($"/proc/{firstPid}") && !File.ReadAllText($"/proc/{firstPid}/stat").Contains(") Z ", StringComparison.Ordinal),
            $"attempt 1 (pid {firstPid}) still runs after its node went down");
        Assert.Equal(2, requeued["attempt"]!.GetValue<int>());

        // The node answers again: the job resumes there as attempt 2, and only attempt 2 runs.
        await BeatAsync(admin, new { nvidia_smi = NvidiaSmi(1) });
        var resumed = await owner.WaitForJobAsync(id, j => j["state"]!.GetValue<string>() == "running");
        Assert.Equal(2, resumed["attempt"]!.GetValue<int>());
        await owner.PostJsonAsync($"/v1/jobs/{id}/cancel", new { }, HttpStatusCode.OK);
    }

}
