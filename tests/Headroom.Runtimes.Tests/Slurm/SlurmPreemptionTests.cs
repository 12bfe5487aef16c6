using System.Diagnostics;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using Xunit.Abstractions;
using static Headroom.Runtimes.Tests.Slurm.SlurmCluster;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>
/// Jobs that lose their node on the real dev cluster's gpu-node4, one after the other (the other test classes keep
/// off it): a spot job preempted by an internal job gets its notice and at least the partition's grace before it
/// is stopped (measured in the job), is requeued, and finishes later from its checkpoint; a job whose node fails
/// is lost and requeued.
/// </summary>
public sealed class SlurmPreemptionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = NewWorkDirectory();

    // The workload checkpoints when told (TERM at the notice) and, restarted with a checkpoint, resumes and ends.
    private const string Workload = """
        ck="$HEADROOM_CHECKPOINT_DIR/step"
        if [ -f "$ck" ]; then echo "work: resumed from step $(cat "$ck") restart=$HEADROOM_RESTART_COUNT"; exit 0; fi
        trap 'echo "work: TERM at $(date +%s.%N)"; cat "$HEADROOM_NOTICE_FILE"; echo 42 > "$ck"' TERM
        echo "work: started"
        while :; do sleep 0.2; done
        """;

    [Fact]
    public async Task A_spot_job_gets_its_notice_and_grace_is_requeued_and_finishes_from_its_checkpoint()
    {
        var client = Client();
        var grace = GraceSeconds;
        var spot = Spec(_directory, NewJobId("job_spot"), "spot", "gpu-node4", Workload) with { GpusPerNode = 8 };
        var spotId = await SubmitAsync(client, spot);
        await WaitForStateAsync(client, spotId, JobState.Running);

        var clock = Stopwatch.StartNew();
        var submitted = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var urgent = Spec(_directory, NewJobId("job_internal"), "internal", "gpu-node4", "echo \"internal ran on $CUDA_VISIBLE_DEVICES\"; sleep 2") with { GpusPerNode = 8 };
        var urgentId = await SubmitAsync(client, urgent);

        // Watch the spot job through its grace and its requeue.
        var seen = new List<string>();
        double? noticeSeen = null, stopSeen = null;
        var requeued = await WaitAsync(client, spotId, j => j.Restarts >= 1 && j.Status?.State != JobState.Running, TimeSpan.FromSeconds(90), j =>
        {
            var entry = $"{j.SlurmState}/{j.Reason}/{j.Status?.State}/restarts={j.Restarts}: {j.Status?.Reason}";
            if (seen.Count == 0 || seen[^1] != entry)
            {
                seen.Add(entry);
                output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s  {entry}");
            }
            if (j.PreemptTime is not null)
            {
                noticeSeen ??= clock.Elapsed.TotalSeconds;
            }
            if (j.SlurmState != "RUNNING")
            {
                stopSeen ??= clock.Elapsed.TotalSeconds;
            }
        });
        Assert.Equal(JobState.Queued, requeued.Status!.State);
        Assert.Contains(seen, e => e.Contains("preemption notice given", StringComparison.Ordinal));

        var urgentDone = await WaitForStateAsync(client, urgentId, JobState.Succeeded, 60);
        var spotDone = await WaitForStateAsync(client, spotId, JobState.Succeeded, 90);
        output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s  spot job succeeded after {spotDone.Restarts} restart(s)");

        var log = await File.ReadAllTextAsync(spot.LogPath);
        output.WriteLine(log);
        var notice = LogTime(log, "notice");
        var stop = LogTime(log, "stop");
        Assert.True(notice is not null, "the batch shell never logged its notice (USR1)");
        Assert.True(stop is not null, "the batch shell never logged the stop (TERM)");
        var noticeToStop = stop!.Value - notice!.Value;
        output.WriteLine($"notice {notice - submitted:0.00} s after the internal job was submitted; notice → stop {noticeToStop:0.00} s (grace {grace} s); " +
            $"controller showed PreemptTime at {noticeSeen:0.0} s, the stop at {stopSeen:0.0} s");

        Assert.True(noticeToStop >= grace - 0.5, $"the job was stopped {noticeToStop:0.00} s after its notice, less than the {grace} s grace");
        Assert.Contains("work: TERM at ", log, StringComparison.Ordinal);
        Assert.Contains("HEADROOM_PREEMPT_AT=", log, StringComparison.Ordinal);
        Assert.Contains("DUE TO PREEMPTION", log, StringComparison.Ordinal);
        Assert.Contains("work: resumed from step 42 restart=1", log, StringComparison.Ordinal);
        Assert.Equal(1, spotDone.Restarts);
        Assert.Equal(["gpu-node4"], urgentDone.Nodes);
        // The internal job got the GPUs only once the spot job had let go of them.
        Assert.True(urgentDone.StartTime!.Value.ToUnixTimeSeconds() >= Math.Floor(stop.Value), "the internal job started before the spot job stopped");
    }

    [Fact]
    public async Task A_job_whose_node_fails_is_lost_then_requeued_and_runs_again()
    {
        var client = Client();
        var spec = Spec(_directory, NewJobId("job_nodefail"), "spot", "gpu-node4",
            "echo \"work: run $HEADROOM_RESTART_COUNT\"; [ \"$HEADROOM_RESTART_COUNT\" -gt 0 ] && exit 0; sleep 300");
        var id = await SubmitAsync(client, spec);
        await WaitForStateAsync(client, id, JobState.Running);
        await WaitForLogAsync(spec.LogPath, "work: run 0");
        var clock = Stopwatch.StartNew();
        try
        {
            // An operator (or slurmctld, when slurmd stops answering) marks the node down.
            Scontrol("update", "nodename=gpu-node4", "state=down", "reason=headroom-test");
            var requeued = await WaitAsync(client, id, j => j.Restarts == 1, TimeSpan.FromSeconds(20));
            Assert.Equal(JobState.Queued, requeued.Status!.State);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s  requeued: {requeued.Status.Reason}");

            // That run's record says why it ended.
            var run = Assert.IsType<ObserveResult.Found>(await client.ObserveEndedAsync(id, default)).Job;
            Assert.Equal("NODE_FAIL", run.SlurmState);
            Assert.Equal(JobState.Lost, run.Status!.State);
        }
        finally
        {
            Scontrol("update", "nodename=gpu-node4", "state=resume");
        }

        var done = await WaitForStateAsync(client, id, JobState.Succeeded, 60);
        output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s  ran again and succeeded");
        Assert.Equal(1, done.Restarts);
        Assert.Contains("work: run 1", await WaitForLogAsync(spec.LogPath, "headroom: exit 0"), StringComparison.Ordinal);
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
