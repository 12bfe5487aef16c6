using System.Diagnostics;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Local;

namespace Headroom.Server.Tests.Jobs.Local;

/// <summary>A new <see cref="LocalRuntime"/> over the same root is the control plane after a restart: it knows only the handles.</summary>
public sealed class LocalReattachTests : IAsyncLifetime
{
    private readonly LocalJobs _jobs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _jobs.DisposeAsync();

    [Fact]
    public async Task After_a_restart_a_running_job_is_Running_a_finished_one_Exited_with_its_code_and_a_vanished_one_Lost()
    {
        var before = _jobs.Runtime();
        var running = await _jobs.StartAsync(before, _jobs.Shell("job_running", "while :; do sleep 0.05; done"));
        var finished = await _jobs.StartAsync(before, _jobs.Shell("job_finished", "echo bye; exit 5"));
        var vanished = await _jobs.StartAsync(before, _jobs.Shell("job_vanished", "while :; do sleep 0.05; done"));
        await LocalJobs.WaitEndedAsync(before, finished);
        // The machine's view of "gone without a status": wrapper and workload both killed outright.
        var v = LocalHandle.Parse(vanished);
        Assert.Equal(0, Processes.Signal(v.WrapperPid, Processes.SigKill));
        // The workload may not have made its own process group yet (setsid runs just after its fork).
        await LocalJobs.WaitForAsync(() => Processes.Signal(-v.Pid, Processes.SigKill) == 0, "the vanished job's process group to exist");
        await LocalJobs.WaitForAsync(
            () => !Processes.IsAlive(v.WrapperPid, v.WrapperStart) && !Processes.IsAlive(v.Pid, v.PidStart), "the vanished job to be gone");

        var after = _jobs.Runtime();

        Assert.Equal(ObservedState.Running, (await after.ObserveAsync(running, CancellationToken.None)).State);
        var done = await after.ObserveAsync(finished, CancellationToken.None);
        Assert.Equal((ObservedState.Exited, 5, (int?)null), (done.State, done.ExitCode, done.Signal));
        Assert.Equal("bye\n", await LocalJobs.LogAsync(after, finished));
        var lost = await after.ObserveAsync(vanished, CancellationToken.None);
        Assert.Equal(ObservedState.Lost, lost.State);
        Assert.Contains("without an exit status", lost.Detail, StringComparison.Ordinal);

        // The restarted runtime still controls what the old one started.
        await after.StopAsync(running, CancellationToken.None);
        var stopped = await after.ObserveAsync(running, CancellationToken.None);
        Assert.Equal((ObservedState.Exited, 137, 9), (stopped.State, stopped.ExitCode, stopped.Signal));
    }

    [Fact]
    public async Task A_pid_that_now_names_another_process_is_Lost_and_never_signalled()
    {
        var runtime = _jobs.Runtime();
        // A dead attempt's directory, and a live stranger that happens to have "its" pid.
        var dir = runtime.AttemptDir("job_reused", 1);
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "claim"), "long ago\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "claim"), DateTime.UtcNow.AddHours(-1));
        using var stranger = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            var real = Processes.Read(stranger.Id)!;
            var handle = new LocalHandle(dir, stranger.Id, real.StartTime - 1, stranger.Id, real.StartTime - 1).Serialize();

            var seen = await runtime.ObserveAsync(handle, CancellationToken.None);
            await runtime.NoticeAsync(handle, DateTimeOffset.UtcNow, CancellationToken.None);
            await runtime.StopAsync(handle, CancellationToken.None);

            Assert.Equal(ObservedState.Lost, seen.State);
            Assert.True(Processes.IsAlive(stranger.Id, real.StartTime), "the stranger was signalled");
        }
        finally
        {
            stranger.Kill();
        }
    }

    [Fact]
    public async Task A_restarted_control_plane_reads_the_logs_of_a_job_that_kept_writing()
    {
        var before = _jobs.Runtime();
        var handle = await _jobs.StartAsync(before, _jobs.Shell("job_writer", "echo one; sleep 0.3; echo two"));
        var first = await before.ReadLogsAsync(handle, 0, 100, CancellationToken.None);

        var after = _jobs.Runtime();
        await LocalJobs.WaitEndedAsync(after, handle);
        var rest = await after.ReadLogsAsync(handle, first.NextOffset, 100, CancellationToken.None);

        Assert.Equal("one\ntwo\n", System.Text.Encoding.UTF8.GetString([.. first.Data, .. rest.Data]));
    }
}
