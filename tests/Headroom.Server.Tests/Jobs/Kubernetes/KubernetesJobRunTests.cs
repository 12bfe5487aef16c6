using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Tests;
using k8s;
using k8s.Autorest;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Tests.Jobs.Kubernetes;

/// <summary>
/// Jobs end to end through the API on a real Kubernetes API server: the scheduler loop places them on the fleet's
/// Kubernetes nodes, and the kubernetes runtime creates, binds, observes, cancels and preempts their pods, which a
/// <see cref="FakeKubelet"/> runs as local processes. Each test has a node of its own.
/// </summary>
public sealed class KubernetesJobRunTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly IKubernetes _client = KubernetesCluster.Client();
    private readonly string _node = KubernetesCluster.NewNodes("e2e", 1)[0];
    private FakeKubelet? _kubelet;

    public async Task InitializeAsync() => _kubelet = await FakeKubelet.StartAsync(_client, [_node], 8, Path.Combine(_dir.Path, "kubelet"));

    public async Task DisposeAsync()
    {
        if (_kubelet is not null)
            await _kubelet.DisposeAsync();
        _client.Dispose();
        _dir.Dispose();
    }

    private static bool In(JsonObject job, string state) => job["state"]!.GetValue<string>() == state;

    private static async Task<string> WaitForLogAsync(HttpClient client, string jobId, string text, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var logs = await client.GetStringAsync($"/v1/jobs/{jobId}/logs");
            if (logs.Contains(text, StringComparison.Ordinal))
                return logs;
            Assert.True(DateTime.UtcNow < deadline, $"the logs of {jobId} never showed '{text}'; they hold:\n{logs}");
            await Task.Delay(100);
        }
    }

    private static async Task<string> PodAsync(TestServer server, string jobId)
    {
        await using var db = server.Database.Open();
        var handle = await db.Jobs.AsNoTracking().Where(j => j.Id == jobId).Select(j => j.RuntimeHandle).SingleAsync();
        return KubernetesHandle.Parse(handle!).Pods[0];
    }

    [Fact]
    public async Task A_job_runs_as_a_pod_headroom_binds_to_its_node_logs_and_succeeds_and_what_cannot_run_is_refused()
    {
        await using var server = await KubernetesCluster.StartServerAsync(_node, TimeSpan.FromSeconds(3));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        var id = (await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, gpus_per_node = 2, max_duration_seconds = 300,
            command = new[] { "/bin/bash", "-c", "echo \"hello from $HEADROOM_JOB_ID attempt $HEADROOM_ATTEMPT\"; echo \"$GREETING\"" },
            env = new Dictionary<string, string> { ["GREETING"] = "bonjour" },
        }))["id"]!.GetValue<string>();
        var done = await owner.WaitForJobAsync(id, j => In(j, "succeeded") || In(j, "failed"), seconds: 30);
        var logs = await owner.GetStringAsync($"/v1/jobs/{id}/logs");
        var events = await owner.GetJsonAsync($"/v1/jobs/{id}/events");
        var pod = await _client.CoreV1.ReadNamespacedPodAsync(await PodAsync(server, id), "default");

        Assert.True(In(done, "succeeded"), $"{done}\n{logs}");
        Assert.Equal(0, done["exit_code"]!.GetValue<int>());
        Assert.Contains($"hello from {id} attempt 1", logs, StringComparison.Ordinal);
        Assert.Contains("bonjour", logs, StringComparison.Ordinal);
        Assert.Equal(["queued", "scheduled", "starting", "running", "succeeded"], events["data"]!.AsArray().Select(e => e!["to_state"]!.GetValue<string>()));
        Assert.Equal(("headroom", _node, "2"), (pod.Spec.SchedulerName, pod.Spec.NodeName, pod.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"].ToString()));
        Assert.Equal(3, pod.Spec.TerminationGracePeriodSeconds);

        // The API's own validation still refuses what no node could run, before anything reaches Kubernetes ...
        using var tooBig = await owner.PostAsync("/v1/jobs", JsonContent(new { project_id = project, gpus_per_node = 16, command = new[] { "true" } }));
        Assert.Equal("gpus_per_node", (await HttpJson.ErrorAsync(tooBig, 400))["param"]!.GetValue<string>());
        // ... and a fractional GPU, which the fleet could place, fails with the runtime's reason.
        var half = (await owner.PostJsonAsync("/v1/jobs", new { project_id = project, gpu_milli = 500, command = new[] { "true" } }))["id"]!.GetValue<string>();
        var failed = await owner.WaitForJobAsync(half, j => In(j, "failed") || In(j, "succeeded"), seconds: 20);
        var reason = (await owner.GetJsonAsync($"/v1/jobs/{half}/events"))["data"]!.AsArray().Last()!["reason"]!.GetValue<string>();
        Assert.True(In(failed, "failed"), failed.ToString());
        Assert.Contains("whole GPUs only", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_running_kubernetes_job_is_cancelled_and_its_pod_deleted()
    {
        await using var server = await KubernetesCluster.StartServerAsync(_node, TimeSpan.FromSeconds(3));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var id = (await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, command = new[] { "/bin/bash", "-c", "echo work: started; sleep 120" },
        }))["id"]!.GetValue<string>();
        await owner.WaitForJobAsync(id, j => In(j, "running"), seconds: 30);
        await WaitForLogAsync(owner, id, "work: started");
        var pod = await PodAsync(server, id);

        var asked = await owner.PostJsonAsync($"/v1/jobs/{id}/cancel", new { }, HttpStatusCode.OK);
        var done = await owner.WaitForJobAsync(id, j => In(j, "cancelled"), seconds: 20);
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedPodAsync(pod, "default"));

        Assert.True(asked["cancel_requested"]!.GetValue<bool>());
        Assert.NotNull(done["ended_at"]);
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task An_internal_job_preempts_a_spot_pod_which_gets_term_a_full_grace_before_the_kill_and_resumes_from_its_checkpoint()
    {
        var grace = TimeSpan.FromSeconds(3);
        await using var server = await KubernetesCluster.StartServerAsync(_node, grace);
        using var cast = await server.PreemptionCastAsync();
        var (tenant, admin, project, internalProject) = cast;

        // Attempt 1 checkpoints at its notice (TERM) but keeps working, so the kill comes at the end of the grace and the
        // job's own clock measures the time between the two; attempt 2 finds the checkpoint and finishes.
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            if [ -f "$dir/step" ]; then echo "resumed from step $(cat "$dir/step") at attempt $HEADROOM_ATTEMPT"; exit 0; fi
            trap 'date +%s.%N > "$dir/term"; cp "$HEADROOM_PREEMPT_AT_FILE" "$dir/deadline"; echo 42 > "$dir/step"; echo checkpointed' TERM
            echo "working at attempt $HEADROOM_ATTEMPT"
            while :; do date +%s.%N > "$dir/alive.tmp"; mv "$dir/alive.tmp" "$dir/alive"; sleep 0.05; done
            """;
        var spot = (await tenant.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, tier = "spot", checkpoint = "requeue", gpus_per_node = 8, command = new[] { "/bin/bash", "-c", script },
        }))["id"]!.GetValue<string>();
        await tenant.WaitForJobAsync(spot, j => In(j, "running"), seconds: 30);
        await WaitForLogAsync(tenant, spot, "working at attempt 1");

        var urgent = (await admin.PostJsonAsync("/v1/jobs", new
        {
            project_id = internalProject, tier = "internal", gpus_per_node = 8,
            command = new[] { "/bin/bash", "-c", "echo \"internal ran at attempt $HEADROOM_ATTEMPT\"" },
        }))["id"]!.GetValue<string>();
        var internalDone = await admin.WaitForJobAsync(urgent, j => In(j, "succeeded") || In(j, "failed"), seconds: 30);
        var spotDone = await tenant.WaitForJobAsync(spot, j => In(j, "succeeded") || In(j, "failed"), seconds: 30);

        var events = (await tenant.GetJsonAsync($"/v1/jobs/{spot}/events"))["data"]!.AsArray().Select(e => e!).ToList();
        var notice = events.Single(e => e["reason"]!.GetValue<string>().StartsWith("notice: ", StringComparison.Ordinal));
        var preempted = events.Single(e => e["to_state"]!.GetValue<string>() == "preempted");
        var checkpoints = Path.Combine(server.Settings.JobsDir, "checkpoints", spot);
        var term = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "term")), CultureInfo.InvariantCulture);
        var alive = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "alive")), CultureInfo.InvariantCulture);
        var deadline = DateTimeOffset.Parse((await File.ReadAllTextAsync(Path.Combine(checkpoints, "deadline"))).Trim(), CultureInfo.InvariantCulture);
        var stopsAt = DateTimeOffset.Parse(notice["reason"]!.GetValue<string>().Split("stops at ")[1], CultureInfo.InvariantCulture);

        Assert.True(In(spotDone, "succeeded"), spotDone.ToString());
        Assert.Equal(2, spotDone["attempt"]!.GetValue<int>());
        Assert.Contains("resumed from step 42 at attempt 2", await tenant.GetStringAsync($"/v1/jobs/{spot}/logs"), StringComparison.Ordinal);
        Assert.Contains($"notice: preempted for {urgent}", notice["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        // TERM came at the notice, the kill a full grace later (the last sign of life, 50 ms apart, is just before it).
        Assert.True(alive - term >= grace.TotalSeconds - 0.5, $"killed {alive - term:F2} s after the TERM; the grace is {grace.TotalSeconds} s");
        Assert.True((stopsAt - deadline).Duration() < TimeSpan.FromSeconds(1), $"the job read deadline {deadline:O}; Headroom stops it at {stopsAt:O}");
        Assert.True(In(internalDone, "succeeded"), internalDone.ToString());
        Assert.Contains("internal ran at attempt 1", await admin.GetStringAsync($"/v1/jobs/{urgent}/logs"), StringComparison.Ordinal);
        Assert.True(internalDone["started_at"]!.GetValue<DateTimeOffset>() >= preempted["time"]!.GetValue<DateTimeOffset>(),
            $"internal started {internalDone["started_at"]}, before the spot job was preempted at {preempted["time"]}");
    }

    private static StringContent JsonContent(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}
