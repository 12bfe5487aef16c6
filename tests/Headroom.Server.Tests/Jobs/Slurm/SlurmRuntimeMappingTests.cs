using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Slurm;

namespace Headroom.Server.Tests.Jobs.Slurm;

/// <summary>
/// The slurm runtime's pure halves: how an attempt the scheduler placed becomes an sbatch spec, and how Slurm's view
/// of a job becomes the runtime contract's observation. No cluster needed.
/// </summary>
public sealed class SlurmRuntimeMappingTests
{
    private static readonly SlurmRuntimeOptions Options = new()
    {
        SlurmConf = "/etc/slurm/slurm.conf",
        SharedDirectory = "/shared/headroom/",
        GresTypes = new Dictionary<string, string> { ["h100-80gb"] = "h100" },
    };

    private static RuntimeWorkload Workload(params RuntimePlacement[] placements) => new(
        "job_1", 2, "org_1", "prj_1", ["python", "train.py", "--epochs", "3"], new Dictionary<string, string> { ["WANDB_MODE"] = "offline" },
        placements, TimeSpan.FromHours(1), "/var/lib/headroom/jobs/checkpoints/job_1")
    {
        Tier = Tier.Spot,
        GpuModel = "h100-80gb",
        NoticeGrace = TimeSpan.FromSeconds(120),
    };

    [Fact]
    public void A_gang_runs_on_the_planned_nodes_by_name_with_the_gres_type_of_its_gpu_model_and_files_under_the_shared_directory()
    {
        var (spec, error) = SlurmRuntime.Spec(Workload(new("gpu-07", [0, 1, 2, 3], 1000), new("gpu-08", [4, 5, 6, 7], 1000)) with
        {
            CpuMilliPerNode = 1500,
            MemoryMibPerNode = 4096,
        }, Options);

        Assert.Null(error);
        Assert.Equal(["gpu-07", "gpu-08"], spec!.NodeNames);
        Assert.Equal((2, 4, "h100"), (spec.NodeCount, spec.GpusPerNode, spec.GpuModel));
        Assert.Equal((2, 4096), (spec.CpusPerNode, spec.MemoryMbPerNode));
        Assert.Equal("python", spec.Command);
        Assert.Equal(["train.py", "--epochs", "3"], spec.Args);
        Assert.Equal((Tier.Spot, 2, "org_1", "prj_1"), (spec.Tier, spec.Attempt, spec.Org, spec.Project));
        Assert.Equal((TimeSpan.FromHours(1), TimeSpan.FromSeconds(120)), (spec.MaxDuration, spec.NoticeGrace));
        Assert.Equal("/shared/headroom/checkpoints/job_1", spec.CheckpointDirectory);
        Assert.Equal("/shared/headroom/slurm/job_1/attempt-2.log", spec.LogPath);
        // Headroom starts every attempt itself, so Slurm must not requeue one.
        Assert.False(spec.Requeue);
        Assert.True(SlurmScript.Render(spec).IsValid);
    }

    [Theory]
    [InlineData("h100-80gb", "h100")]
    [InlineData("a100-80gb", "a100-80gb")]
    [InlineData(null, null)]
    [InlineData("", null)]
    public void A_gpu_model_is_its_own_gres_type_unless_the_settings_map_it(string? model, string? gres)
    {
        var (spec, _) = SlurmRuntime.Spec(Workload(new RuntimePlacement("gpu-07", [0], 1000)) with { GpuModel = model }, Options);

        Assert.Equal(gres, spec!.GpuModel);
    }

    [Fact]
    public void A_grace_as_long_as_the_max_duration_sends_no_time_limit_notice()
    {
        var (spec, _) = SlurmRuntime.Spec(Workload(new RuntimePlacement("gpu-07", [0], 1000)) with { MaxDuration = TimeSpan.FromSeconds(60) }, Options);

        Assert.Equal(TimeSpan.Zero, spec!.NoticeGrace);
        Assert.DoesNotContain("--signal", SlurmScript.Render(spec).Script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500, 1, 1, "whole GPUs only")]
    [InlineData(1000, 2, 1, "same number of GPUs on every node")]
    public void What_slurm_cannot_run_is_refused_with_the_reason(int gpuMilli, int gpusOnFirst, int gpusOnSecond, string reason)
    {
        var (spec, error) = SlurmRuntime.Spec(Workload(
            new("gpu-07", [.. Enumerable.Range(0, gpusOnFirst)], gpuMilli),
            new("gpu-08", [.. Enumerable.Range(0, gpusOnSecond)], gpuMilli)), Options);

        Assert.Null(spec);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    private static SlurmJobObservation Seen(string state, int? exit = null, int? signal = null, string? reason = null) => new(
        42, "hr-job_1", "job_1", 1, state, reason, SlurmStates.Map(state, reason), 0, exit, signal, ["gpu-07"], "spot",
        null, null, null, "/shared/headroom/slurm/job_1/attempt-1.log", SlurmObservationSource.Controller);

    public static TheoryData<string, int?, int?, ObservedState, int?, int?> States => new()
    {
        // Slurm state, exit code, signal → observed state, exit code, signal.
        { "PENDING", null, null, ObservedState.Running, null, null },
        { "CONFIGURING", null, null, ObservedState.Running, null, null },
        { "RUNNING", null, null, ObservedState.Running, null, null },
        { "COMPLETING", null, null, ObservedState.Running, null, null },
        { "SOMETHING_NEW", null, null, ObservedState.Running, null, null },
        { "COMPLETED", 0, null, ObservedState.Exited, 0, null },
        { "FAILED", 3, null, ObservedState.Exited, 3, null },
        { "FAILED", 143, null, ObservedState.Exited, 143, 15 },
        { "CANCELLED", 0, 15, ObservedState.Exited, 143, 15 },
        { "TIMEOUT", 0, null, ObservedState.Exited, null, null },
        { "PREEMPTED", 0, 9, ObservedState.Exited, 137, 9 },
        { "NODE_FAIL", 0, null, ObservedState.Lost, null, null },
    };

    [Theory]
    [MemberData(nameof(States))]
    public void Slurm_states_map_to_running_exited_or_lost_with_the_exit_status(string state, int? exit, int? signal, ObservedState observed, int? code, int? killedBy)
    {
        var seen = SlurmRuntime.Observe(Seen(state, exit, signal));

        Assert.Equal((observed, code, killedBy), (seen.State, seen.ExitCode, seen.Signal));
        Assert.StartsWith($"Slurm job 42 {state}", seen.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("""{"dir":"/var/lib/headroom/jobs/job_1/attempt-1","wpid":1,"wst":1,"pid":2,"pst":2}""")]
    [InlineData("""{"slurm_job_id":0,"log":"/a","checkpoint":"/b"}""")]
    [InlineData("""{"slurm_job_id":4,"log":"relative.log","checkpoint":"/b"}""")]
    public void Only_a_slurm_handle_is_read_as_one(string handle)
    {
        Assert.Throws<ArgumentException>(() => SlurmHandle.Parse(handle));
    }

    [Fact]
    public void A_handle_round_trips_as_compact_json()
    {
        var handle = new SlurmHandle(42, "/shared/headroom/slurm/job_1/attempt-1.log", "/shared/headroom/checkpoints/job_1");

        Assert.Equal("""{"slurm_job_id":42,"log":"/shared/headroom/slurm/job_1/attempt-1.log","checkpoint":"/shared/headroom/checkpoints/job_1"}""", handle.Serialize());
        Assert.Equal(handle, SlurmHandle.Parse(handle.Serialize()));
    }
}
