using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Local;

namespace Headroom.Server.Tests.Jobs.Local;

/// <summary>Start, exit status, logs, environment and the at-most-once start, with real /bin/sh jobs.</summary>
public sealed class LocalRuntimeTests : IAsyncLifetime
{
    private readonly LocalJobs _jobs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _jobs.DisposeAsync();

    [Fact]
    public async Task A_job_that_prints_and_exits_0_is_Exited_0_with_its_stdout_and_stderr_in_the_log()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_ok", "echo hello; echo oops >&2; exit 0"));

        var seen = await LocalJobs.WaitEndedAsync(runtime, handle);

        Assert.Equal(ObservedState.Exited, seen.State);
        Assert.Equal(0, seen.ExitCode);
        Assert.Null(seen.Signal);
        Assert.Equal("hello\noops\n", await LocalJobs.LogAsync(runtime, handle));
        // The wrapper, the control plane's child, is reaped: finished attempts leave no zombies behind.
        var wrapper = LocalHandle.Parse(handle).WrapperPid;
        await LocalJobs.WaitForAsync(() => Processes.Read(wrapper) is null, "the wrapper to be reaped");
        Assert.Equal("local", runtime.Name);
    }

    [Fact]
    public async Task A_job_that_exits_3_is_Exited_3()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_three", "exit 3"));

        var seen = await LocalJobs.WaitEndedAsync(runtime, handle);

        Assert.Equal(ObservedState.Exited, seen.State);
        Assert.Equal(3, seen.ExitCode);
        Assert.Null(seen.Signal);
    }

    [Fact]
    public async Task A_program_that_does_not_exist_exits_127_and_the_log_says_why()
    {
        var runtime = _jobs.Runtime();
        var workload = _jobs.Shell("job_missing", "") with { Command = ["/nonexistent/train", "--epochs", "3"] };
        var handle = await _jobs.StartAsync(runtime, workload);

        var seen = await LocalJobs.WaitEndedAsync(runtime, handle);

        Assert.Equal(127, seen.ExitCode);
        Assert.Contains("/nonexistent/train", await LocalJobs.LogAsync(runtime, handle), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Arguments_reach_the_program_verbatim_with_no_shell_in_between()
    {
        var runtime = _jobs.Runtime();
        var workload = _jobs.Shell("job_args", "") with
        {
            Command = ["/bin/sh", "-c", "printf '%s|' \"$@\"", "argv0", "a b", "it's", "$HOME", "*", "-", "x=y", "line\nbreak"],
        };
        var handle = await _jobs.StartAsync(runtime, workload);

        await LocalJobs.WaitEndedAsync(runtime, handle);

        Assert.Equal("a b|it's|$HOME|*|-|x=y|line\nbreak|", await LocalJobs.LogAsync(runtime, handle));
    }

    [Fact]
    public async Task Logs_read_from_an_offset_in_chunks_of_at_most_maxBytes()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_logs", "printf abcdefghij; printf XYZ >&2"));
        await LocalJobs.WaitEndedAsync(runtime, handle);

        var first = await runtime.ReadLogsAsync(handle, 0, 4, CancellationToken.None);
        var second = await runtime.ReadLogsAsync(handle, first.NextOffset, 100, CancellationToken.None);
        var after = await runtime.ReadLogsAsync(handle, second.NextOffset, 100, CancellationToken.None);
        var beyond = await runtime.ReadLogsAsync(handle, 1000, 100, CancellationToken.None);

        Assert.Equal("abcd"u8.ToArray(), first.Data);
        Assert.Equal(4, first.NextOffset);
        Assert.Equal("efghijXYZ"u8.ToArray(), second.Data);
        Assert.Equal(13, second.NextOffset);
        Assert.Empty(after.Data);
        Assert.Equal(13, after.NextOffset);
        Assert.Empty(beyond.Data);
        Assert.Equal(1000, beyond.NextOffset);
    }

    [Fact]
    public async Task The_job_sees_its_GPUs_and_HEADROOM_variables_wins_over_the_tenant_for_them_and_never_sees_the_control_planes_environment()
    {
        Environment.SetEnvironmentVariable("LOCAL_RUNTIME_TEST_SECRET", "control-plane-only");
        var runtime = _jobs.Runtime();
        const string script = """
            printf 'CUDA=%s\n' "${CUDA_VISIBLE_DEVICES-unset}"
            printf 'MILLI=%s\n' "${HEADROOM_GPU_MILLI-unset}"
            printf 'JOB=%s\n' "$HEADROOM_JOB_ID"
            printf 'ATTEMPT=%s\n' "$HEADROOM_ATTEMPT"
            printf 'CKPT=%s\n' "$HEADROOM_CHECKPOINT_DIR"
            printf 'PREEMPT=%s\n' "$HEADROOM_PREEMPT_AT_FILE"
            printf 'FOO=%s\n' "${FOO-unset}"
            printf 'SECRET=%s\n' "${LOCAL_RUNTIME_TEST_SECRET-unset}"
            [ -d "$HEADROOM_CHECKPOINT_DIR" ] && echo CKPT_EXISTS
            [ -e "$HEADROOM_PREEMPT_AT_FILE" ] || echo NO_NOTICE_YET
            while read -r k v; do case $k in SigIgn:|SigBlk:) echo "$k$v";; esac; done </proc/$$/status
            true
            """;
        var env = new Dictionary<string, string> { ["FOO"] = "bar baz", ["HEADROOM_JOB_ID"] = "spoofed", ["CUDA_VISIBLE_DEVICES"] = "7", ["HEADROOM_GPU_MILLI"] = "1" };
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_env", script, attempt: 2, gpus: [0, 2], env: env));

        Assert.Equal(0, (await LocalJobs.WaitEndedAsync(runtime, handle)).ExitCode);
        var lines = (await LocalJobs.LogAsync(runtime, handle)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(
            [
                "CUDA=0,2", "MILLI=unset", "JOB=job_env", "ATTEMPT=2", "CKPT=" + _jobs.CheckpointDir("job_env"),
                "PREEMPT=" + Path.Combine(runtime.AttemptDir("job_env", 2), "preempt_at"), "FOO=bar baz", "SECRET=unset",
                "CKPT_EXISTS", "NO_NOTICE_YET", "SigBlk:0000000000000000", "SigIgn:0000000000000000",
            ],
            lines);
    }

    [Fact]
    public async Task A_fractional_GPU_adds_HEADROOM_GPU_MILLI_and_no_GPUs_hides_them_all()
    {
        var runtime = _jobs.Runtime();
        const string script = "printf '%s|%s\\n' \"${CUDA_VISIBLE_DEVICES-unset}\" \"${HEADROOM_GPU_MILLI-unset}\"";
        var fractional = await _jobs.StartAsync(runtime, _jobs.Shell("job_half", script, gpus: [3], gpuMilli: 500));
        var cpuOnly = await _jobs.StartAsync(runtime, _jobs.Shell("job_cpu", script, gpus: []));
        await LocalJobs.WaitEndedAsync(runtime, fractional);
        await LocalJobs.WaitEndedAsync(runtime, cpuOnly);

        Assert.Equal("3|500\n", await LocalJobs.LogAsync(runtime, fractional));
        Assert.Equal("|unset\n", await LocalJobs.LogAsync(runtime, cpuOnly));
    }

    public static TheoryData<string, string> Refused => new()
    {
        { "two nodes", "single-node" },
        { "no node", "needs one node" },
        { "no command", "command" },
        { "bad job id", "job id" },
        { "attempt 0", "attempt" },
        { "fraction of two GPUs", "fractional" },
        { "milli out of range", "gpu_milli" },
        { "bad variable", "environment" },
        { "program with =", "program name" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task What_local_cannot_run_is_refused_with_a_reason_and_nothing_starts(string name, string reason)
    {
        var runtime = _jobs.Runtime();
        var ok = _jobs.Shell("job_refused", "echo should-not-run");
        var workload = name switch
        {
            "two nodes" => ok with { Placements = [new RuntimePlacement("a", [0], 1000), new RuntimePlacement("b", [0], 1000)] },
            "no node" => ok with { Placements = [] },
            "no command" => ok with { Command = [] },
            "bad job id" => ok with { JobId = "../escape" },
            "attempt 0" => ok with { Attempt = 0 },
            "fraction of two GPUs" => ok with { Placements = [new RuntimePlacement("a", [0, 1], 500)] },
            "milli out of range" => ok with { Placements = [new RuntimePlacement("a", [0], 0)] },
            "bad variable" => ok with { Environment = new Dictionary<string, string> { ["A=B"] = "x" } },
            "program with =" => ok with { Command = ["LD_PRELOAD=/tmp/x.so", "/bin/true"] },
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        var outcome = await runtime.StartAsync(workload, CancellationToken.None);

        Assert.Null(outcome.Handle);
        Assert.Contains(reason, outcome.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_jobs.Root, "job_refused")));
    }

    [Fact]
    public async Task Starting_the_same_job_and_attempt_again_runs_it_once_and_returns_the_same_handle()
    {
        var runtime = _jobs.Runtime();
        var workload = _jobs.Shell("job_once", "echo ran >>\"$HEADROOM_CHECKPOINT_DIR/runs\"; sleep 0.3");

        // Concurrent starts in this instance, then one from a "restarted" instance.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => runtime.StartAsync(workload, CancellationToken.None))));
        var later = await _jobs.Runtime().StartAsync(workload, CancellationToken.None);
        var handle = await _jobs.StartAsync(runtime, workload);

        Assert.All(outcomes, o => Assert.Equal(handle, o.Handle));
        Assert.Equal(handle, later.Handle);
        Assert.Equal(0, (await LocalJobs.WaitEndedAsync(runtime, handle)).ExitCode);
        Assert.Equal(["ran"], File.ReadAllLines(Path.Combine(_jobs.CheckpointDir("job_once"), "runs")));
    }

    [Fact]
    public async Task A_start_again_after_a_crash_between_starting_and_writing_the_handle_rebuilds_it_from_the_wrappers_records()
    {
        var runtime = _jobs.Runtime();
        var workload = _jobs.Shell("job_crashed", "echo ran >>\"$HEADROOM_CHECKPOINT_DIR/runs\"; sleep 5");
        var handle = await _jobs.StartAsync(runtime, workload);
        var dir = runtime.AttemptDir("job_crashed", 1);
        File.Delete(Path.Combine(dir, "handle"));
        File.SetLastWriteTimeUtc(Path.Combine(dir, "claim"), DateTime.UtcNow.AddMinutes(-1));

        var again = await _jobs.Runtime().StartAsync(workload, CancellationToken.None);

        Assert.Equal(LocalHandle.Parse(handle), LocalHandle.Parse(again.Handle!));
        Assert.Equal(ObservedState.Running, (await runtime.ObserveAsync(again.Handle!, CancellationToken.None)).State);
        var runs = Path.Combine(_jobs.CheckpointDir("job_crashed"), "runs");
        await LocalJobs.WaitForAsync(() => File.Exists(runs), "the job to run");
        await Task.Delay(200); // time enough for a second run to show, were there one
        Assert.Equal(["ran"], File.ReadAllLines(runs));
    }

    [Fact]
    public async Task A_claim_left_by_a_crash_before_anything_started_is_taken_over_and_the_attempt_runs_once()
    {
        var runtime = _jobs.Runtime();
        var workload = _jobs.Shell("job_claimed", "echo ran >>\"$HEADROOM_CHECKPOINT_DIR/runs\"");
        // The control plane died right after claiming: a claim, past the start timeout, and nothing else.
        var dir = runtime.AttemptDir("job_claimed", 1);
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "claim"), "2026-11-26T00:00:00Z pid 999999\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "claim"), DateTime.UtcNow.AddMinutes(-1));

        var started = await runtime.StartAsync(workload, CancellationToken.None);
        var again = await _jobs.Runtime().StartAsync(workload, CancellationToken.None);

        Assert.NotNull(started.Handle);
        Assert.Equal(LocalHandle.Parse(started.Handle!), LocalHandle.Parse(again.Handle!));
        Assert.Equal(0, (await LocalJobs.WaitEndedAsync(runtime, started.Handle!)).ExitCode);
        await Task.Delay(200); // time enough for a second run to show, were there one
        Assert.Equal(["ran"], File.ReadAllLines(Path.Combine(_jobs.CheckpointDir("job_claimed"), "runs")));
    }

    [Fact]
    public async Task The_checkpoint_dir_survives_into_attempt_2_and_each_attempt_has_its_own_log()
    {
        var runtime = _jobs.Runtime();
        var first = await _jobs.StartAsync(runtime, _jobs.Shell("job_ckpt", "echo step=41 >\"$HEADROOM_CHECKPOINT_DIR/state\"; echo first"));
        Assert.Equal(0, (await LocalJobs.WaitEndedAsync(runtime, first)).ExitCode);

        var second = await _jobs.StartAsync(runtime, _jobs.Shell("job_ckpt", "cat \"$HEADROOM_CHECKPOINT_DIR/state\"; echo attempt=$HEADROOM_ATTEMPT", attempt: 2));
        Assert.Equal(0, (await LocalJobs.WaitEndedAsync(runtime, second)).ExitCode);

        Assert.NotEqual(first, second);
        Assert.Equal("first\n", await LocalJobs.LogAsync(runtime, first));
        Assert.Equal("step=41\nattempt=2\n", await LocalJobs.LogAsync(runtime, second));
    }

    [Fact]
    public async Task The_handle_is_compact_json_with_the_directory_and_the_pids_with_their_start_times()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_handle", "sleep 5"));

        var parsed = LocalHandle.Parse(handle);

        Assert.StartsWith("{\"dir\":", handle, StringComparison.Ordinal);
        Assert.True(handle.Length < 200, handle);
        Assert.Equal(runtime.AttemptDir("job_handle", 1), parsed.Dir);
        Assert.True(Processes.IsAlive(parsed.WrapperPid, parsed.WrapperStart));
        Assert.True(Processes.IsAlive(parsed.Pid, parsed.PidStart));
        // The workload leads its own session and group, apart from the wrapper's.
        var stat = Processes.Read(parsed.Pid)!;
        Assert.Equal(parsed.Pid, stat.ProcessGroup);
        Assert.Equal(parsed.Pid, stat.Session);
        Assert.Equal(parsed.WrapperPid, Processes.Read(parsed.WrapperPid)!.Session);
        Assert.Equal(ObservedState.Running, (await runtime.ObserveAsync(handle, CancellationToken.None)).State);
    }

    [Fact]
    public async Task Stop_after_a_job_ended_by_itself_keeps_its_exit_code_and_stop_twice_is_harmless()
    {
        var runtime = _jobs.Runtime();
        var handle = await _jobs.StartAsync(runtime, _jobs.Shell("job_done", "exit 0"));
        await LocalJobs.WaitEndedAsync(runtime, handle);

        await runtime.StopAsync(handle, CancellationToken.None);
        await runtime.StopAsync(handle, CancellationToken.None);

        var seen = await runtime.ObserveAsync(handle, CancellationToken.None);
        Assert.Equal((ObservedState.Exited, 0, (int?)null), (seen.State, seen.ExitCode, seen.Signal));
    }

    [Fact]
    public async Task A_handle_from_elsewhere_is_a_caller_bug()
    {
        var runtime = _jobs.Runtime();

        await Assert.ThrowsAsync<ArgumentException>(() => runtime.ObserveAsync("slurm:1234", CancellationToken.None));
        // A directory outside the runtime's root is refused before anything is signalled.
        await Assert.ThrowsAsync<ArgumentException>(() => runtime.StopAsync("{\"dir\":\"/etc\",\"wpid\":1,\"wst\":1,\"pid\":1,\"pst\":1}", CancellationToken.None));
    }

    [Fact]
    public void Options_list_every_problem()
    {
        var problems = new LocalRuntimeOptions { Root = " ", NoticeSignal = "SIGNOPE", StartTimeout = TimeSpan.Zero }.Validate();

        Assert.Equal(3, problems.Count);
        Assert.Equal(15, Processes.ParseSignal("SIGTERM"));
        Assert.Equal(10, Processes.ParseSignal("usr1"));
        Assert.Equal(2, Processes.ParseSignal("2"));
    }
}
