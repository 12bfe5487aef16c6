namespace Headroom.Runtimes.Slurm;

/// <summary>Where finished jobs are looked up once slurmctld has forgotten them (after MinJobAge).</summary>
public enum SlurmAccounting
{
    /// <summary>Nowhere: a forgotten job is not found.</summary>
    None,

    /// <summary><c>sacct -c</c> over <c>JobCompType=jobcomp/filetxt</c>'s file; needs that file on this host.</summary>
    CompletionLog,

    /// <summary><c>sacct</c> against slurmdbd.</summary>
    Database,
}

/// <summary>How to reach one Slurm cluster through its command-line tools.</summary>
public sealed record SlurmClientOptions
{
    /// <summary>The cluster's slurm.conf; every command gets it as <c>SLURM_CONF</c>.</summary>
    public required string SlurmConf { get; init; }

    /// <summary>Where sbatch, scontrol, squeue, sacct and scancel live.</summary>
    public string BinDirectory { get; init; } = "/usr/bin";

    /// <summary>How long one command may take before it is killed and the call answers Unavailable.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public SlurmLayout Layout { get; init; } = SlurmLayout.Default;

    public SlurmAccounting Accounting { get; init; } = SlurmAccounting.CompletionLog;

    /// <summary>Every problem with these options (empty when they are usable), for validation at start.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(SlurmConf) || !Path.IsPathFullyQualified(SlurmConf))
        {
            problems.Add("slurm: slurm_conf must be an absolute path to slurm.conf");
        }
        if (string.IsNullOrWhiteSpace(BinDirectory))
        {
            problems.Add("slurm: bin_directory is required");
        }
        if (CommandTimeout <= TimeSpan.Zero)
        {
            problems.Add("slurm: command_timeout must be positive");
        }
        if (Layout.Partitions.Count == 0)
        {
            problems.Add("slurm: at least one tier must map to a partition");
        }
        return problems;
    }
}
