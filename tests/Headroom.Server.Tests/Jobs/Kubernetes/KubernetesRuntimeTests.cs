using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Tests;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Headroom.Server.Tests.Jobs.Kubernetes;

/// <summary>
/// The kubernetes runtime against a real API server, below the scheduler, with a <see cref="FakeKubelet"/> running the
/// pods as local processes: pods are created for Headroom's scheduler and bound where it planned, a repeated start adopts
/// the pod it made, exit codes, signals and logs come back through the API, and notice and stop are deletions.
/// </summary>
public sealed class KubernetesRuntimeTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly IKubernetes _client = KubernetesCluster.Client();
    private readonly IReadOnlyList<string> _nodes = KubernetesCluster.NewNodes("rt", 2);
    private readonly List<KubernetesRuntime> _runtimes = [];
    private FakeKubelet? _kubelet;

    public async Task InitializeAsync() => _kubelet = await FakeKubelet.StartAsync(_client, _nodes, 8, Path.Combine(_dir.Path, "kubelet"));

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes)
            runtime.Dispose();
        if (_kubelet is not null)
            await _kubelet.DisposeAsync();
        _client.Dispose();
        _dir.Dispose();
    }

    private KubernetesRuntime Runtime()
    {
        var runtime = new KubernetesRuntime(KubernetesCluster.Options(_dir.Path), TimeProvider.System, NullLoggerFactory.Instance);
        _runtimes.Add(runtime);
        return runtime;
    }

    private static RuntimeWorkload Workload(string script, params RuntimePlacement[] placements) =>
        new("job_rt" + Guid.NewGuid().ToString("N")[..8], 1, "org_test", "prj_test", ["/bin/bash", "-c", script],
            new Dictionary<string, string> { ["GREETING"] = "bonjour" }, placements, TimeSpan.FromMinutes(5), "")
        {
            Tier = Tier.Spot,
            GpuModel = "h100-80gb",
            NoticeGrace = TimeSpan.FromSeconds(7),
        };

    private static async Task<Observation> WaitAsync(KubernetesRuntime runtime, string handle, Func<Observation, bool> until, double seconds = 20)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var seen = await runtime.ObserveAsync(handle, CancellationToken.None);
            if (until(seen))
                return seen;
            Assert.True(clock.Elapsed.TotalSeconds < seconds, $"still {seen.State}: {seen.Detail}");
            await Task.Delay(50);
        }
    }

    private static async Task<string> LogAsync(KubernetesRuntime runtime, string handle)
    {
        // Small reads, so the offset is carried across calls as a follower does.
        var log = new StringBuilder();
        long offset = 0;
        while (true)
        {
            var chunk = await runtime.ReadLogsAsync(handle, offset, 16, CancellationToken.None);
            if (chunk.Data.Length == 0)
                return log.ToString();
            log.Append(Encoding.UTF8.GetString(chunk.Data));
            offset = chunk.NextOffset;
        }
    }

    [Fact]
    public async Task An_attempt_is_a_pod_headroom_binds_to_its_node_and_a_repeated_start_adopts_it_so_it_runs_once()
    {
        var workload = Workload(
            "echo \"hello from $HEADROOM_JOB_ID attempt $HEADROOM_ATTEMPT rank $HEADROOM_NODE_RANK\"; echo \"checkpoint=$HEADROOM_CHECKPOINT_DIR\"; echo \"$GREETING\"; exit 3",
            new RuntimePlacement(_nodes[1], [0, 1], 1000));
        var runtime = Runtime();

        var first = await runtime.StartAsync(workload, CancellationToken.None);
        var again = await Runtime().StartAsync(workload, CancellationToken.None);
        var ended = await WaitAsync(runtime, first.Handle!, o => o.State != ObservedState.Running);
        var pods = await _client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "headroom.dev/job=" + workload.JobId);
        var pod = Assert.Single(pods.Items);
        var log = await LogAsync(Runtime(), first.Handle!);

        Assert.Null(first.Error);
        Assert.Equal(first.Handle, again.Handle);
        Assert.Equal(KubernetesRuntime.PodName(workload.JobId, 1, 0), pod.Metadata.Name);
        Assert.Equal("headroom", pod.Spec.SchedulerName);
        Assert.Equal(_nodes[1], pod.Spec.NodeName);
        Assert.Equal("2", pod.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.Equal("2", pod.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"].ToString());
        Assert.Equal(7, pod.Spec.TerminationGracePeriodSeconds);
        Assert.Equal("spot", pod.Metadata.Labels["headroom.dev/tier"]);
        Assert.Equal((ObservedState.Exited, 3, (int?)null), (ended.State, ended.ExitCode, ended.Signal));
        // It ran once: the second start adopted the pod rather than running the attempt again.
        Assert.Equal(1, CountOf(log, $"hello from {workload.JobId} attempt 1 rank 0\n"));
        Assert.Contains($"checkpoint={Path.Combine(_dir.Path, "checkpoints", workload.JobId)}\n", log, StringComparison.Ordinal);
        Assert.Contains("bonjour", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_start_repeated_after_a_crash_between_create_and_bind_binds_the_pod_the_first_one_made()
    {
        var workload = Workload("echo \"ran at attempt $HEADROOM_ATTEMPT\"", new RuntimePlacement(_nodes[1], [2], 1000));
        // The first start died after creating its pod: it is there, unbound, and no kubelet runs it.
        var (pods, _) = KubernetesRuntime.Pods(workload, KubernetesCluster.Options(_dir.Path));
        await _client.CoreV1.CreateNamespacedPodAsync(pods![0], "default");

        var runtime = Runtime();
        var outcome = await runtime.StartAsync(workload, CancellationToken.None);
        var ended = await WaitAsync(runtime, outcome.Handle!, o => o.State != ObservedState.Running);
        var pod = await _client.CoreV1.ReadNamespacedPodAsync(pods[0].Metadata.Name, "default");

        Assert.Equal((ObservedState.Exited, 0), (ended.State, ended.ExitCode));
        Assert.Equal(_nodes[1], pod.Spec.NodeName);
        Assert.Equal("ran at attempt 1\n", await LogAsync(runtime, outcome.Handle!));
    }

    [Fact]
    public async Task A_stop_kills_the_pod_at_once_and_a_restarted_runtime_finds_a_pod_deleted_behind_its_back_lost()
    {
        var runtime = Runtime();
        var stopped = (await runtime.StartAsync(Workload("trap '' TERM; echo started; sleep 300", new RuntimePlacement(_nodes[0], [0], 1000)), CancellationToken.None)).Handle!;
        var deleted = (await runtime.StartAsync(Workload("echo started; sleep 300", new RuntimePlacement(_nodes[0], [1], 1000)), CancellationToken.None)).Handle!;
        var restarted = Runtime();
        await WaitAsync(restarted, stopped, o => o.Detail.Contains("Running", StringComparison.Ordinal));
        await WaitAsync(restarted, deleted, o => o.Detail.Contains("Running", StringComparison.Ordinal));

        var clock = Stopwatch.StartNew();
        await restarted.StopAsync(stopped, CancellationToken.None);
        var afterStop = await restarted.ObserveAsync(stopped, CancellationToken.None);
        await restarted.StopAsync(stopped, CancellationToken.None);
        // Someone else deletes the other pod outright: nothing recorded how it ended.
        var name = KubernetesHandle.Parse(deleted).Pods[0];
        await _client.CoreV1.DeleteNamespacedPodAsync(name, "default", gracePeriodSeconds: 0);
        var lost = await WaitAsync(restarted, deleted, o => o.State != ObservedState.Running);

        Assert.Equal((ObservedState.Exited, 137, (int?)9), (afterStop.State, afterStop.ExitCode, afterStop.Signal));
        // Grace 0: the TERM-ignoring workload did not hold the stop up for its 7 s grace.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), clock.Elapsed.ToString());
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedPodAsync(KubernetesHandle.Parse(stopped).Pods[0], "default"));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
        Assert.Equal(ObservedState.Lost, lost.State);
        Assert.Contains("gone without an exit status", lost.Detail, StringComparison.Ordinal);
        Assert.Equal(ObservedState.Lost, (await Runtime().ObserveAsync(deleted, CancellationToken.None)).State);
    }

    [Fact]
    public async Task A_notice_records_the_deadline_and_deletes_with_a_grace_that_ends_there_term_first_kill_at_the_end()
    {
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            trap 'date +%s.%N > "$dir/term"; cp "$HEADROOM_PREEMPT_AT_FILE" "$dir/deadline"' TERM
            echo working
            while :; do date +%s.%N > "$dir/alive.tmp"; mv "$dir/alive.tmp" "$dir/alive"; sleep 0.05; done
            """;
        var workload = Workload(script, new RuntimePlacement(_nodes[0], [2, 3], 1000));
        var runtime = Runtime();
        var handle = (await runtime.StartAsync(workload, CancellationToken.None)).Handle!;
        await WaitAsync(runtime, handle, o => o.Detail.Contains("Running", StringComparison.Ordinal));
        var checkpoint = Path.Combine(_dir.Path, "checkpoints", workload.JobId);
        while (!File.Exists(Path.Combine(checkpoint, "alive")))
            await Task.Delay(20);

        var deadline = DateTimeOffset.UtcNow.AddSeconds(2);
        await runtime.NoticeAsync(handle, deadline, CancellationToken.None);
        var pod = await _client.CoreV1.ReadNamespacedPodAsync(KubernetesHandle.Parse(handle).Pods[0], "default");
        var ended = await WaitAsync(runtime, handle, o => o.State != ObservedState.Running);
        var term = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoint, "term")), CultureInfo.InvariantCulture);
        var alive = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoint, "alive")), CultureInfo.InvariantCulture);

        Assert.Equal(deadline.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), pod.Metadata.Annotations[KubernetesRuntime.PreemptAtAnnotation]);
        Assert.NotNull(pod.Metadata.DeletionTimestamp);
        Assert.InRange(pod.Metadata.DeletionGracePeriodSeconds ?? 0, 1, 2);
        Assert.Equal((ObservedState.Exited, 137, (int?)9), (ended.State, ended.ExitCode, ended.Signal));
        // The workload read the deadline when the TERM came, kept working through the grace and was killed at its end.
        Assert.Equal(pod.Metadata.Annotations[KubernetesRuntime.PreemptAtAnnotation], (await File.ReadAllTextAsync(Path.Combine(checkpoint, "deadline"))).Trim());
        Assert.True(alive - term >= 1.4, $"killed {alive - term:F2} s after the TERM");
    }

    [Fact]
    public async Task A_fractional_gpu_or_a_reserved_variable_cannot_run_on_kubernetes()
    {
        var fractional = await Runtime().StartAsync(Workload("true", new RuntimePlacement(_nodes[0], [0], 500)), CancellationToken.None);
        var reserved = Workload("true", new RuntimePlacement(_nodes[0], [0], 1000)) with { Environment = new Dictionary<string, string> { ["HEADROOM_JOB_ID"] = "x" } };

        Assert.Contains("whole GPUs only", fractional.Error, StringComparison.Ordinal);
        Assert.Equal("env: HEADROOM_JOB_ID is reserved for Headroom", (await Runtime().StartAsync(reserved, CancellationToken.None)).Error);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
