using System.Globalization;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Local;
using Xunit.Abstractions;

namespace Headroom.Server.Tests.Jobs.Local;

/// <summary>Notice (a signal and the deadline in a file), then the hard stop, measured from inside the job.</summary>
public sealed class LocalNoticeTests(ITestOutputHelper output) : IAsyncLifetime
{
    // The job records when it got the signal (nanoseconds, the same realtime clock as the test's) and
    // what HEADROOM_PREEMPT_AT_FILE said, and keeps running, as a job that checkpoints would.
    private const string Trapping = """
        trap 'date +%s%N >"$HEADROOM_CHECKPOINT_DIR/got"; cat "$HEADROOM_PREEMPT_AT_FILE" >"$HEADROOM_CHECKPOINT_DIR/deadline"' {0}
        echo ready
        while :; do sleep 0.05; done
        """;

    private readonly LocalJobs _jobs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _jobs.DisposeAsync();

    [Fact]
    public async Task A_noticed_job_gets_SIGTERM_and_the_deadline_keeps_running_and_is_killed_at_the_deadline_with_signal_9()
    {
        var grace = TimeSpan.FromSeconds(1);
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_notice", Trapping.Replace("{0}", "TERM", StringComparison.Ordinal)));
        await LocalJobs.WaitForAsync(() => LogHas(handle, "ready"), "the job to set its trap");
        var got = Path.Combine(_jobs.CheckpointDir("job_notice"), "got");

        // The scheduler's part: decide the deadline, notice, wait for the deadline, stop.
        var noticedAt = DateTimeOffset.UtcNow;
        var deadline = noticedAt + grace;
        await runtime.NoticeAsync(handle, deadline, CancellationToken.None);
        await LocalJobs.WaitForAsync(() => File.Exists(got) && new FileInfo(got).Length > 0, "the job to record the signal");
        var during = await runtime.ObserveAsync(handle, CancellationToken.None);
        while (DateTimeOffset.UtcNow < deadline)
            await Task.Delay(deadline - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(1));
        var beforeKill = await runtime.ObserveAsync(handle, CancellationToken.None);
        var killedAt = DateTimeOffset.UtcNow;
        await runtime.StopAsync(handle, CancellationToken.None);
        var after = await runtime.ObserveAsync(handle, CancellationToken.None);

        var gotAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(File.ReadAllText(got).Trim(), CultureInfo.InvariantCulture) / 1_000_000);
        output.WriteLine($"signal sent→received {(gotAt - noticedAt).TotalMilliseconds:F0} ms; received→kill {(killedAt - gotAt).TotalMilliseconds:F0} ms; sent→kill {(killedAt - noticedAt).TotalMilliseconds:F0} ms; grace {grace.TotalMilliseconds:F0} ms");

        Assert.Equal(deadline.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFF'Z'", CultureInfo.InvariantCulture),
            File.ReadAllText(Path.Combine(_jobs.CheckpointDir("job_notice"), "deadline")).Trim());
        Assert.Equal(ObservedState.Running, during.State);
        Assert.Contains("deadline", during.Detail, StringComparison.Ordinal);
        Assert.Equal(ObservedState.Running, beforeKill.State);
        Assert.Equal((ObservedState.Exited, 137, 9), (after.State, after.ExitCode, after.Signal));
        Assert.Contains("stopped by Headroom", after.Detail, StringComparison.Ordinal);
        // The kill came no earlier than the grace after the notice; the job itself measured at least the
        // grace less the signal's delivery (a few ms: the trap runs after the sleep in progress ends).
        Assert.True(killedAt - noticedAt >= grace);
        Assert.InRange(gotAt - noticedAt, TimeSpan.FromMilliseconds(-20), TimeSpan.FromMilliseconds(500));
        Assert.True(killedAt - gotAt >= grace - TimeSpan.FromMilliseconds(100), $"{(killedAt - gotAt).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task The_notice_signal_is_configurable_and_SIGINT_is_not_left_ignored_by_the_background_start()
    {
        var runtime = _jobs.Runtime(noticeSignal: "SIGINT");
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_int", Trapping.Replace("{0}", "INT", StringComparison.Ordinal)));
        await LocalJobs.WaitForAsync(() => LogHas(handle, "ready"), "the job to set its trap");

        await runtime.NoticeAsync(handle, DateTimeOffset.UtcNow.AddSeconds(30), CancellationToken.None);

        var got = Path.Combine(_jobs.CheckpointDir("job_int"), "got");
        await LocalJobs.WaitForAsync(() => File.Exists(got), "the job to record SIGINT");
        Assert.Equal(ObservedState.Running, (await runtime.ObserveAsync(handle, CancellationToken.None)).State);
    }

    [Fact]
    public async Task Stop_kills_the_whole_process_group_of_the_attempt()
    {
        var runtime = _jobs.Runtime();
        const string script = """
            sleep 30 & echo $! >"$HEADROOM_CHECKPOINT_DIR/child1"
            sh -c 'sleep 30 & echo $! >"$HEADROOM_CHECKPOINT_DIR/grandchild"; wait' &
            echo ready
            wait
            """;
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_tree", script));
        var grandchildFile = Path.Combine(_jobs.CheckpointDir("job_tree"), "grandchild");
        await LocalJobs.WaitForAsync(() => File.Exists(grandchildFile) && new FileInfo(grandchildFile).Length > 0, "the tree to start");
        var pids = new[] { "child1", "grandchild" }
            .Select(f => int.Parse(File.ReadAllText(Path.Combine(_jobs.CheckpointDir("job_tree"), f)).Trim(), CultureInfo.InvariantCulture))
            .ToArray();
        Assert.All(pids, p => Assert.False(Processes.Read(p)?.Ended ?? true));

        await runtime.StopAsync(handle, CancellationToken.None);

        await LocalJobs.WaitForAsync(() => pids.All(p => Processes.Read(p)?.Ended ?? true), "every process of the tree to end", 2);
        Assert.Equal(9, (await runtime.ObserveAsync(handle, CancellationToken.None)).Signal);
    }

    [Fact]
    public async Task What_a_job_leaves_behind_in_its_process_group_ends_with_it()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_orphan", "sleep 30 & echo $! >\"$HEADROOM_CHECKPOINT_DIR/child\"; exit 4"));

        var seen = await LocalJobs.WaitEndedAsync(runtime, handle);

        Assert.Equal(4, seen.ExitCode);
        var child = int.Parse(File.ReadAllText(Path.Combine(_jobs.CheckpointDir("job_orphan"), "child")).Trim(), CultureInfo.InvariantCulture);
        await LocalJobs.WaitForAsync(() => Processes.Read(child)?.Ended ?? true, "the orphan to be killed", 2);
    }

    [Fact]
    public async Task A_stop_that_races_the_start_still_kills_and_records_signal_9()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_race", "sleep 30"));

        await runtime.StopAsync(handle, CancellationToken.None);

        var seen = await LocalJobs.WaitEndedAsync(runtime, handle, 2);
        Assert.Equal((ObservedState.Exited, 137, 9), (seen.State, seen.ExitCode, seen.Signal));
    }

    private static bool LogHas(string handle, string text)
    {
        var path = Path.Combine(LocalHandle.Parse(handle).Dir, "log");
        return File.Exists(path) && File.ReadAllText(path).Contains(text, StringComparison.Ordinal);
    }
}
