using Headroom.Runtimes.Slurm;

namespace Headroom.Server.Jobs.Slurm;

/// <summary>
/// Settings of the <c>slurm</c> runtime (the <c>slurm</c> section of the settings; see docs/runtimes.md). The runtime
/// exists on a replica only when they are given.
/// </summary>
public sealed record SlurmRuntimeOptions
{
    /// <summary>The cluster's slurm.conf; every Slurm command gets it as <c>SLURM_CONF</c>.</summary>
    public required string SlurmConf { get; init; }

    /// <summary>Where sbatch, scontrol, squeue, sacct and scancel live.</summary>
    public string BinDirectory { get; init; } = "/usr/bin";

    /// <summary>
    /// A directory the control plane and every Slurm node see at the same path: each attempt's log
    /// (<c>slurm/&lt;job&gt;/attempt-&lt;n&gt;.log</c>) and each job's checkpoints (<c>checkpoints/&lt;job&gt;</c>) live here.
    /// </summary>
    public required string SharedDirectory { get; init; }

    /// <summary>Fleet GPU model → the GRES type the cluster's gres.conf names it by; a model not listed is its own type.</summary>
    public IReadOnlyDictionary<string, string> GresTypes { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Tier → partition; the default has one partition per tier, named by the tier's code (as deploy/slurm/dev-cluster.sh makes them).</summary>
    public SlurmLayout Layout { get; init; } = SlurmLayout.Default;

    /// <summary>Where ended jobs are looked up once slurmctld forgot them (after its MinJobAge).</summary>
    public SlurmAccounting Accounting { get; init; } = SlurmAccounting.CompletionLog;

    /// <summary>How long one Slurm command may take; past it the call counts as Slurm being unavailable.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The GRES type for a fleet GPU model.</summary>
    public string? GresType(string? gpuModel) =>
        string.IsNullOrEmpty(gpuModel) ? null : GresTypes.TryGetValue(gpuModel, out var type) ? type : gpuModel;

    public SlurmClientOptions ClientOptions() => new()
    {
        SlurmConf = SlurmConf,
        BinDirectory = BinDirectory,
        CommandTimeout = CommandTimeout,
        Layout = Layout,
        Accounting = Accounting,
    };

    /// <summary>Every problem with these settings, named as the settings name them; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = ClientOptions().Validate().ToList();
        if (problems.Count == 0 && !File.Exists(SlurmConf))
            problems.Add($"slurm: slurm_conf '{SlurmConf}' does not exist");
        if (!string.IsNullOrWhiteSpace(BinDirectory) && !File.Exists(Path.Combine(BinDirectory, "sbatch")))
            problems.Add($"slurm: bin_directory '{BinDirectory}' has no sbatch");
        if (string.IsNullOrWhiteSpace(SharedDirectory) || !Path.IsPathFullyQualified(SharedDirectory))
            problems.Add("slurm: shared_directory must be an absolute path");
        foreach (var (model, type) in GresTypes)
        {
            if (string.IsNullOrWhiteSpace(type) || type.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
                problems.Add($"slurm: gres_types.{model}: '{type}' is not a GRES type name (letters, digits, '.', '_', '-')");
        }
        return problems;
    }
}
