using System.Diagnostics;
using System.Globalization;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using Xunit.Abstractions;
using static Headroom.Runtimes.Tests.Slurm.SlurmCluster;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>Submit, run, log, fail, cancel and gang jobs on the real dev cluster (gpu-node1..3; gpu-node4 is the preemption test's).</summary>
public sealed class SlurmClusterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = NewWorkDirectory();

    [Fact]
    public async Task A_one_GPU_job_runs_and_succeeds_with_its_GPU_visible_its_environment_intact_and_its_log_in_a_file()
    {
        var client = Client();
        const string nasty = "it's \"quoted\" $HOME `date` \\ ; & é漢🙂\nsecond line";
        var jobId = NewJobId("job_one");
        var spec = Spec(_directory, jobId, "spot", "gpu-node1", """
            echo "cvd=$CUDA_VISIBLE_DEVICES gpus=$SLURM_JOB_GPUS arg=$1"
            printf '%s' "$NASTY" > "$HEADROOM_CHECKPOINT_DIR/nasty.txt"
            printf '%s' "$2" > "$HEADROOM_CHECKPOINT_DIR/arg.txt"
            sleep 2
            """, "first arg", nasty) with { Env = new Dictionary<string, string> { ["NASTY"] = nasty } };

        var clock = Stopwatch.StartNew();
        var id = await SubmitAsync(client, spec);
        var running = await WaitAsync(client, id, j => j.Status?.State is JobState.Running or JobState.Succeeded, TimeSpan.FromSeconds(30));
        output.WriteLine($"submit → running: {clock.ElapsedMilliseconds} ms");
        Assert.Equal(JobState.Running, running.Status!.State);
        Assert.Equal(["gpu-node1"], running.Nodes);
        Assert.Equal(jobId, running.HeadroomJobId);
        Assert.Equal(1, running.Attempt);
        Assert.Equal("spot", running.Partition);
        Assert.Equal(spec.LogPath, running.LogPath);

        var found = await client.FindAsync(jobId);
        Assert.Null(found.Failure);
        Assert.Equal(id, Assert.Single(found.Jobs).SlurmJobId);

        var done = await WaitForStateAsync(client, id, JobState.Succeeded);
        Assert.Equal(0, done.ExitCode);
        Assert.NotNull(done.EndTime);
        var log = await WaitForLogAsync(spec.LogPath, "headroom: exit 0 at ");
        output.WriteLine(log);
        Assert.Contains("cvd=0 gpus=0 arg=first arg\n", log, StringComparison.Ordinal);
        Assert.Contains($"headroom: start at ", log, StringComparison.Ordinal);
        Assert.Contains("headroom: exit 0 at ", log, StringComparison.Ordinal);
        Assert.Equal(nasty, await File.ReadAllTextAsync(Path.Combine(spec.CheckpointDirectory, "nasty.txt")));
        Assert.Equal(nasty, await File.ReadAllTextAsync(Path.Combine(spec.CheckpointDirectory, "arg.txt")));
    }

    [Fact]
    public async Task A_job_that_exits_non_zero_fails_with_its_exit_code()
    {
        var client = Client();
        var id = await SubmitAsync(client, Spec(_directory, NewJobId("job_fail"), "on-demand", "gpu-node1", "echo bad >&2; exit 3"));

        var done = await WaitForStateAsync(client, id, JobState.Failed);

        Assert.Equal(3, done.ExitCode);
        Assert.Equal("FAILED", done.SlurmState);
    }

    [Fact]
    public async Task An_ended_job_is_found_in_the_completion_log_once_the_controller_forgets_it()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_acct"), "spot", "gpu-node1", "exit 4");
        var id = await SubmitAsync(client, spec);
        await WaitForStateAsync(client, id, JobState.Failed);

        // slurmctld keeps ended jobs for MinJobAge (300 s); ask accounting directly, as ObserveAsync will after that.
        var recorded = await WaitForRecordAsync(() => client.ObserveEndedAsync(id, default), TimeSpan.FromSeconds(10));

        Assert.Equal(SlurmObservationSource.Accounting, recorded.Source);
        Assert.Equal(spec.JobId, recorded.HeadroomJobId);
        Assert.Equal(JobState.Failed, recorded.Status!.State);
        Assert.Equal(4, recorded.ExitCode);
        Assert.Equal(["gpu-node1"], recorded.Nodes);
        Assert.Equal("spot", recorded.Partition);
        Assert.Equal(0, recorded.Restarts);
        Assert.NotNull(recorded.EndTime);
    }

    [Fact]
    public async Task Accounting_in_slurmdbd_is_read_when_the_cluster_has_it_and_reported_unavailable_when_not()
    {
        var client = Client();
        var database = new SlurmClient(new SlurmClientOptions { SlurmConf = Conf, Accounting = SlurmAccounting.Database });
        var spec = Spec(_directory, NewJobId("job_db"), "spot", "gpu-node1", "exit 5");
        var id = await SubmitAsync(client, spec);
        await WaitForStateAsync(client, id, JobState.Failed);

        if (Scontrol("show", "config").Contains("accounting_storage/slurmdbd", StringComparison.Ordinal))
        {
            // dev-cluster.sh with ACCOUNTING=1.
            var recorded = await WaitForRecordAsync(() => database.ObserveEndedAsync(id, default), TimeSpan.FromSeconds(10));
            Assert.Equal(spec.JobId, recorded.HeadroomJobId);
            Assert.Equal(5, recorded.ExitCode);
            Assert.Equal(JobState.Failed, recorded.Status!.State);
        }
        else
        {
            var unavailable = Assert.IsType<ObserveResult.Unavailable>(await database.ObserveEndedAsync(id, default));
            Assert.Contains("accounting storage is disabled", unavailable.Message, StringComparison.Ordinal);
        }
    }

    private static async Task<SlurmJobObservation> WaitForRecordAsync(Func<Task<ObserveResult>> observe, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        ObserveResult last;
        do
        {
            last = await observe();
            if (last is ObserveResult.Found { Job: var job })
            {
                return job;
            }
            await Task.Delay(100);
        }
        while (clock.Elapsed < timeout);
        Assert.Fail($"never recorded: {last}");
        return null!;
    }

    [Fact]
    public async Task A_running_job_is_cancelled_and_hears_the_stop()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_cancel"), "reserved", "gpu-node2", "trap 'echo work: TERM; exit 143' TERM; echo work: started; while :; do sleep 0.2; done");
        var id = await SubmitAsync(client, spec);
        await WaitForStateAsync(client, id, JobState.Running);
        await WaitForLogAsync(spec.LogPath, "work: started");

        var clock = Stopwatch.StartNew();
        Assert.IsType<SignalResult.Sent>(await client.CancelAsync(id));
        var cancelled = await WaitForStateAsync(client, id, JobState.Cancelled);
        output.WriteLine($"cancel → cancelled: {clock.ElapsedMilliseconds} ms");

        Assert.Equal("CANCELLED", cancelled.SlurmState);
        var log = await WaitForLogAsync(spec.LogPath, "work: TERM");
        Assert.Contains("headroom: stop at ", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_notice_from_Headroom_hands_its_deadline_to_the_workload_with_the_notice_signal()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_notice"), "spot", "gpu-node3",
            "trap 'echo \"work: USR2, $(cat \"$HEADROOM_NOTICE_FILE\")\"; exit 0' USR2; echo work: started; while :; do sleep 0.2; done")
            with { NoticeSignal = "USR2" };
        var id = await SubmitAsync(client, spec);
        await WaitForStateAsync(client, id, JobState.Running);
        await WaitForLogAsync(spec.LogPath, "work: started");

        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        Assert.IsType<SignalResult.Sent>(await client.NoticeAsync(id, deadline, spec.CheckpointDirectory));

        // The workload chose to finish at its notice: the job succeeds rather than being stopped.
        var done = await WaitForStateAsync(client, id, JobState.Succeeded);
        var log = await WaitForLogAsync(spec.LogPath, "headroom: exit 0");
        Assert.Contains("headroom: notice at ", log, StringComparison.Ordinal);
        var seen = DateTimeOffset.Parse(log.Split("work: USR2, HEADROOM_PREEMPT_AT=")[1].Split('\n')[0], CultureInfo.InvariantCulture);
        Assert.Equal(deadline.ToUnixTimeSeconds(), seen.ToUnixTimeSeconds());
        Assert.Equal(0, done.Restarts);
    }

    [Fact]
    public async Task A_gang_job_runs_one_task_on_each_planned_node_with_all_its_GPUs()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_gang"), "internal", "gpu-node2",
            "echo \"rank=$SLURM_PROCID node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES\"") with
        {
            NodeCount = 2,
            NodeNames = ["gpu-node2", "gpu-node3"],
            GpusPerNode = 4,
        };

        var id = await SubmitAsync(client, spec);
        var done = await WaitForStateAsync(client, id, JobState.Succeeded);

        Assert.Equal(["gpu-node2", "gpu-node3"], done.Nodes);
        var lines = (await File.ReadAllLinesAsync(spec.LogPath)).Where(l => l.StartsWith("rank=", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["rank=0 node=gpu-node2 cvd=0,1,2,3", "rank=1 node=gpu-node3 cvd=0,1,2,3"], lines);
    }

    [Fact]
    public async Task Slurm_refuses_a_GPU_type_the_cluster_lacks_and_an_invalid_spec_never_reaches_it()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_a100"), "spot", "gpu-node1", "true") with { GpuModel = "a100" };

        var rejected = Assert.IsType<SubmitResult.Rejected>(await client.SubmitAsync(spec));
        Assert.Contains("Batch job submission failed", rejected.Message, StringComparison.Ordinal);

        var invalid = Assert.IsType<SubmitResult.Invalid>(await client.SubmitAsync(spec with { GpusPerNode = 0 }));
        Assert.Equal("gpus_per_node", Assert.Single(invalid.Errors).Field);
    }

    [Fact]
    public async Task A_job_Slurm_never_had_is_not_found()
    {
        var client = Client();

        Assert.IsType<ObserveResult.NotFound>(await client.ObserveAsync(987_654_321));
        Assert.IsType<SignalResult.NotFound>(await client.CancelAsync(987_654_321));
        var found = await client.FindAsync("job_never");
        Assert.Null(found.Failure);
        Assert.Empty(found.Jobs);
    }

    [Fact]
    public async Task Without_a_controller_calls_answer_unavailable()
    {
        var client = new SlurmClient(new SlurmClientOptions { SlurmConf = Conf, BinDirectory = "/nonexistent" });

        Assert.IsType<ObserveResult.Unavailable>(await client.ObserveAsync(1));
        Assert.IsType<SubmitResult.Unavailable>(await client.SubmitAsync(Spec(_directory, NewJobId("job_x"), "spot", "gpu-node1", "true")));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
