using Headroom.Core.Scheduling.Tiered;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

public sealed class SlurmScriptTests
{
    [Fact]
    public void A_single_node_spot_job_renders_as_its_golden_file()
    {
        var spec = Specs.Spot() with
        {
            Args = ["train.py", "--name", "it's a \"test\"", "$HOME", "a b", "", "--lr=3e-4", "*.ckpt", "multi\nline"],
            Env = new Dictionary<string, string>
            {
                ["WANDB_MODE"] = "offline",
                ["PROMPT"] = "say 'hi' & exit; `rm -rf /` $(whoami) \\ é漢🙂",
                ["EMPTY"] = "",
            },
        };

        Golden.Verify("spot-single-node.sbatch", Render(spec));
    }

    [Fact]
    public void An_internal_gang_job_on_planned_nodes_renders_as_its_golden_file()
    {
        var spec = Specs.Spot("job_gang") with
        {
            Tier = Tier.Internal,
            Command = "torchrun",
            Args = ["--nnodes=3", "--nproc-per-node=8", "pretrain.py"],
            GpuModel = null,
            GpusPerNode = 8,
            NodeCount = 3,
            NodeNames = ["gpu-node1", "gpu-node2", "gpu-node3"],
            CpusPerNode = 64,
            MemoryMbPerNode = 512_000,
            MaxDuration = null,
            NoticeGrace = TimeSpan.Zero,
            NoticeSignal = "USR1",
            Attempt = 2,
            Requeue = false,
            WorkingDirectory = "/srv/work",
        };

        Golden.Verify("internal-gang.sbatch", Render(spec));
    }

    [Fact]
    public void A_container_job_renders_as_its_golden_file()
    {
        var spec = Specs.Spot("job_image") with
        {
            Tier = Tier.OnDemand,
            Image = "nvcr.io/nvidia/pytorch:24.01-py3",
            Command = "bash",
            Args = ["-lc", "nvidia-smi && python -c 'import torch'"],
            GpusPerNode = 4,
            MaxDuration = TimeSpan.FromDays(3) + TimeSpan.FromSeconds(0.2),
            NoticeGrace = TimeSpan.FromSeconds(300),
        };

        Golden.Verify("container.sbatch", Render(spec));
    }

    [Theory]
    [InlineData(1, "0-00:00:01")]
    [InlineData(59.5, "0-00:01:00")]
    [InlineData(3600, "0-01:00:00")]
    [InlineData(86400 * 2 + 3661, "2-01:01:01")]
    public void Time_limits_are_days_hours_minutes_seconds_rounded_up(double seconds, string expected) =>
        Assert.Equal(expected, SlurmScript.TimeLimit(TimeSpan.FromSeconds(seconds)));

    public static TheoryData<string, SlurmJobSpec> BadSpecs => new()
    {
        { "gpus_per_node", Specs.Spot() with { GpusPerNode = 0 } },
        { "node_count", Specs.Spot() with { NodeCount = 0 } },
        { "max_duration", Specs.Spot() with { MaxDuration = TimeSpan.FromMinutes(-5) } },
        { "tier", Specs.Spot() with { Tier = (Tier)42 } },
        { "job_id", Specs.Spot() with { JobId = "job 1" } },
        { "org", Specs.Spot() with { Org = "" } },
        { "project", Specs.Spot() with { Project = "a/b" } },
        { "command", Specs.Spot() with { Command = null } },
        { "command", Specs.Spot() with { Command = "py\0thon" } },
        { "args[1]", Specs.Spot() with { Args = ["ok", "bad\0arg"] } },
        { "args[0]", Specs.Spot() with { Args = ["\ud800"] } },
        { "image", Specs.Spot() with { Image = "my image" } },
        { "env.1BAD", Specs.Spot() with { Env = new Dictionary<string, string> { ["1BAD"] = "x" } } },
        { "env.SLURM_JOB_ID", Specs.Spot() with { Env = new Dictionary<string, string> { ["SLURM_JOB_ID"] = "7" } } },
        { "env.HEADROOM_JOB_ID", Specs.Spot() with { Env = new Dictionary<string, string> { ["HEADROOM_JOB_ID"] = "x" } } },
        { "env._", Specs.Spot() with { Env = new Dictionary<string, string> { ["_"] = "x" } } },
        { "env.IFS", Specs.Spot() with { Env = new Dictionary<string, string> { ["IFS"] = ":" } } },
        { "env.BASH_ENV", Specs.Spot() with { Env = new Dictionary<string, string> { ["BASH_ENV"] = "/x" } } },
        { "env.OK", Specs.Spot() with { Env = new Dictionary<string, string> { ["OK"] = "a\0b" } } },
        { "gpu_model", Specs.Spot() with { GpuModel = "h100 80gb" } },
        { "node_names", Specs.Spot() with { NodeNames = ["gpu-node1", "gpu-node2"] } },
        { "node_names", Specs.Spot() with { NodeCount = 2, NodeNames = ["gpu-node1", "gpu-node1"] } },
        { "node_names", Specs.Spot() with { NodeNames = ["gpu node1"] } },
        { "cpus_per_node", Specs.Spot() with { CpusPerNode = 0 } },
        { "attempt", Specs.Spot() with { Attempt = 0 } },
        { "memory_mb_per_node", Specs.Spot() with { MemoryMbPerNode = -1 } },
        { "notice_grace", Specs.Spot() with { NoticeGrace = TimeSpan.FromSeconds(-1) } },
        { "notice_grace", Specs.Spot() with { NoticeGrace = TimeSpan.FromDays(1) } },
        { "notice_grace", Specs.Spot() with { MaxDuration = TimeSpan.FromMinutes(2) } },
        { "notice_signal", Specs.Spot() with { NoticeSignal = "KILL" } },
        { "checkpoint_directory", Specs.Spot() with { CheckpointDirectory = "relative/dir" } },
        { "checkpoint_directory", Specs.Spot() with { CheckpointDirectory = "/ckpt/a:b" } },
        { "log_path", Specs.Spot() with { LogPath = "/logs/job %j.log" } },
        { "log_path", Specs.Spot() with { LogPath = "/logs/$USER.log" } },
        { "working_directory", Specs.Spot() with { WorkingDirectory = "/srv/my work" } },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void A_bad_spec_renders_nothing_and_names_the_field(string field, SlurmJobSpec spec)
    {
        var render = SlurmScript.Render(spec);

        Assert.False(render.IsValid);
        Assert.Null(render.Script);
        Assert.Contains(render.Errors, e => e.Field == field);
    }

    [Fact]
    public void Every_error_of_a_spec_is_reported_at_once()
    {
        var render = SlurmScript.Render(Specs.Spot() with { GpusPerNode = 0, NodeCount = 0, Tier = (Tier)42 });

        Assert.Equal(["tier", "gpus_per_node", "node_count"], render.Errors.Select(e => e.Field));
    }

    [Fact]
    public void An_image_alone_is_enough()
    {
        var render = SlurmScript.Render(Specs.Spot() with { Command = null, Args = [], Image = "alpine:3" });

        Assert.True(render.IsValid, string.Join("; ", render.Errors));
        Assert.Contains("srun --nodes=1 --ntasks-per-node=1 --kill-on-bad-exit=1 --container-image=alpine:3 --container-mounts=", render.Script, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_tier_names_the_tiers_the_layout_serves()
    {
        var layout = new SlurmLayout { Partitions = new Dictionary<Tier, string> { [Tier.Spot] = "preemptible" } };

        Assert.Contains("#SBATCH --partition=preemptible\n", SlurmScript.Render(Specs.Spot(), layout).Script, StringComparison.Ordinal);
        Assert.Equal("no partition serves tier 'internal' on this cluster; it serves spot",
            Assert.Single(SlurmScript.Render(Specs.Spot() with { Tier = Tier.Internal }, layout).Errors).Message);
    }

    private static string Render(SlurmJobSpec spec)
    {
        var render = SlurmScript.Render(spec);
        Assert.True(render.IsValid, string.Join("; ", render.Errors));
        return render.Script!;
    }
}
