using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Runtimes.Slurm;

/// <summary>
/// One Headroom job as Slurm should run it: what the scheduler decided (tier, nodes) plus what the tenant
/// asked for. <see cref="SlurmScript.Render"/> checks it and turns it into an sbatch script.
/// </summary>
public sealed record SlurmJobSpec
{
    /// <summary>Headroom's job id; it names the Slurm job (<c>hr-&lt;id&gt;</c>) so a restarted control plane can find it.</summary>
    public required string JobId { get; init; }

    public required string Org { get; init; }

    public required string Project { get; init; }

    /// <summary>
    /// Which attempt of the job this is (1, then +1 for every attempt Headroom starts itself). It goes into the
    /// Slurm comment and <c>HEADROOM_ATTEMPT</c>, so the attempts of one job (all named <c>hr-&lt;id&gt;</c>) stay apart.
    /// </summary>
    public int Attempt { get; init; } = 1;

    /// <summary>The job's tier; it picks the partition (<see cref="SlurmLayout.Partitions"/>).</summary>
    public required Tier Tier { get; init; }

    /// <summary>The program to run (looked up on PATH on the node). Required unless <see cref="Image"/> is set.</summary>
    public string? Command { get; init; }

    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>A container image, run through the cluster's container plugin (pyxis: <c>srun --container-image</c>).</summary>
    public string? Image { get; init; }

    /// <summary>Extra environment for the workload. Names starting with <c>SLURM_</c> or <c>HEADROOM_</c> are reserved.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>The GPU type as the cluster's gres.conf names it (<c>h100</c>); null takes any type.</summary>
    public string? GpuModel { get; init; }

    public int GpusPerNode { get; init; } = 1;

    public int NodeCount { get; init; } = 1;

    /// <summary>The nodes the scheduler's plan chose (empty: Slurm chooses). When given, one per node.</summary>
    public IReadOnlyList<string> NodeNames { get; init; } = [];

    public int? CpusPerNode { get; init; }

    public int? MemoryMbPerNode { get; init; }

    /// <summary>The job's time limit (<c>--time</c>); null leaves the partition's.</summary>
    public TimeSpan? MaxDuration { get; init; }

    /// <summary>
    /// How long the workload has between its notice and being stopped. It is the <c>--signal=B:USR1@&lt;grace&gt;</c>
    /// lead before the time limit and the deadline written to the notice file; the grace Slurm really
    /// grants a preempted job is the partition's GraceTime (see deploy/slurm/README.md). Zero: no notice.
    /// </summary>
    public TimeSpan NoticeGrace { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The signal the workload gets at its notice (the batch shell relays Slurm's USR1 as this).</summary>
    public string NoticeSignal { get; init; } = "TERM";

    /// <summary>Kept across requeues; given to the workload as <c>HEADROOM_CHECKPOINT_DIR</c>. Absolute.</summary>
    public required string CheckpointDirectory { get; init; }

    /// <summary>The job's stdout and stderr, appended across requeues. Absolute, on a file system the control plane can read.</summary>
    public required string LogPath { get; init; }

    /// <summary>The workload's working directory; null uses <see cref="CheckpointDirectory"/>.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>
    /// Whether Slurm may requeue the job itself (after its preemption or a node failure) as a new run of the same
    /// Slurm job. False when Headroom starts every attempt itself: a preempted run then ends PREEMPTED.
    /// </summary>
    public bool Requeue { get; init; } = true;
}

/// <summary>A field of a spec that cannot be rendered, named as the API names it (snake_case).</summary>
public sealed record SpecError(string Field, string Message);

/// <summary>How a cluster is laid out: which partition serves each tier, and how containers are launched.</summary>
public sealed record SlurmLayout
{
    /// <summary>Tier → partition. The default is the dev cluster's (deploy/slurm/dev-cluster.sh): one partition per tier, named by its code.</summary>
    public IReadOnlyDictionary<Tier, string> Partitions { get; init; } = new Dictionary<Tier, string>
    {
        [Tier.Internal] = "internal",
        [Tier.Reserved] = "reserved",
        [Tier.OnDemand] = "on-demand",
        [Tier.Spot] = "spot",
    };

    public static SlurmLayout Default { get; } = new();
}
