using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;

namespace Headroom.Runtimes.Slurm;

/// <summary>An sbatch script, or every reason the spec cannot become one.</summary>
public sealed record SlurmRender(string? Script, IReadOnlyList<SpecError> Errors)
{
    public bool IsValid => Script is not null;
}

/// <summary>
/// Renders a <see cref="SlurmJobSpec"/> as an sbatch script. Pure: the same spec and layout give the same
/// bytes (golden files hold this).
///
/// The script has two halves. The <c>#SBATCH</c> header is read by sbatch, which does no shell
/// expansion, so every value put there is checked to be a plain word rather than quoted. The body is
/// read by bash on the job's first node: it exports the job's environment (every value quoted, see
/// <see cref="ShellQuote"/>), starts the workload in the background and waits for it, so that the batch
/// shell stays free to handle signals:
/// <list type="bullet">
/// <item>USR1 is Slurm's notice. Slurm sends it when the job is preempted (with
/// <c>SlurmctldParameters=preempt_send_user_signal</c>, since a batch script without steps hears nothing
/// else until its grace time is over) and <c>&lt;grace&gt;</c> seconds before the time limit
/// (<c>--signal=B:USR1@&lt;grace&gt;</c>). The shell writes the deadline to <c>$HEADROOM_NOTICE_FILE</c>
/// as <c>HEADROOM_PREEMPT_AT=&lt;RFC 3339&gt;</c> and the bare time to <c>$HEADROOM_PREEMPT_AT_FILE</c> (as the
/// local runtime does), logs it and relays the spec's notice signal to the workload.</item>
/// <item>TERM is the stop: it is relayed, and Slurm sends KILL <c>KillWait</c> seconds later.</item>
/// </list>
/// Every <c>headroom:</c> line in the log carries an epoch time, so notices and stops can be measured.
/// </summary>
public static partial class SlurmScript
{
    private static readonly string[] NoticeSignals = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2"];

    // Names bash itself sets, reads or refuses: an export of one would not reach the workload as given, or would
    // change how the script itself runs.
    private static readonly HashSet<string> ShellNames = new(StringComparer.Ordinal)
    {
        "_", "IFS", "UID", "EUID", "PPID", "PWD", "OLDPWD", "SHLVL", "SHELLOPTS", "BASHOPTS", "SECONDS", "RANDOM",
        "SRANDOM", "LINENO", "EPOCHSECONDS", "EPOCHREALTIME", "BASHPID", "GROUPS", "FUNCNAME", "PIPESTATUS", "OPTIND",
    };
    private const int MaxSignalLeadSeconds = 65535;

    public static SlurmRender Render(SlurmJobSpec spec, SlurmLayout? layout = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        layout ??= SlurmLayout.Default;
        var errors = Validate(spec, layout);
        if (errors.Count > 0)
        {
            return new SlurmRender(null, errors);
        }

        var s = new StringBuilder();
        void Directive(string option) => s.Append("#SBATCH ").Append(option).Append('\n');

        s.Append("#!/bin/bash\n");
        Directive($"--job-name={JobName(spec.JobId)}");
        Directive(Invariant($"--comment=headroom:job={spec.JobId},attempt={spec.Attempt},org={spec.Org},project={spec.Project}"));
        Directive($"--partition={layout.Partitions[spec.Tier]}");
        Directive(Invariant($"--nodes={spec.NodeCount}"));
        Directive("--ntasks-per-node=1");
        Directive(Invariant($"--gres=gpu:{(spec.GpuModel is null ? "" : spec.GpuModel + ":")}{spec.GpusPerNode}"));
        if (spec.NodeNames.Count > 0)
        {
            Directive($"--nodelist={string.Join(',', spec.NodeNames)}");
        }
        if (spec.CpusPerNode is { } cpus)
        {
            Directive(Invariant($"--cpus-per-task={cpus}"));
        }
        if (spec.MemoryMbPerNode is { } memory)
        {
            Directive(Invariant($"--mem={memory}M"));
        }
        if (spec.MaxDuration is { } duration)
        {
            Directive($"--time={TimeLimit(duration)}");
        }
        var grace = Seconds(spec.NoticeGrace);
        if (grace > 0)
        {
            Directive(Invariant($"--signal=B:USR1@{grace}"));
        }
        Directive(spec.Requeue ? "--requeue" : "--no-requeue");
        Directive($"--chdir={spec.WorkingDirectory ?? spec.CheckpointDirectory}");
        Directive($"--output={spec.LogPath}");
        Directive("--open-mode=append");

        s.Append($"# Rendered by Headroom for job {spec.JobId}; runs on the job's first node. USR1 is the notice: the deadline goes to\n");
        s.Append($"# $HEADROOM_NOTICE_FILE and the workload gets {spec.NoticeSignal}. TERM is the stop (KILL follows). Lines starting headroom: carry epoch times.\n");
        s.Append("set -u\n");
        void Export(string name, string value) => s.Append("export ").Append(name).Append('=').Append(ShellQuote.Quote(value)).Append('\n');
        Export("HEADROOM_JOB_ID", spec.JobId);
        Export("HEADROOM_ORG", spec.Org);
        Export("HEADROOM_PROJECT", spec.Project);
        Export("HEADROOM_ATTEMPT", spec.Attempt.ToString(CultureInfo.InvariantCulture));
        Export("HEADROOM_CHECKPOINT_DIR", spec.CheckpointDirectory);
        s.Append($"export HEADROOM_NOTICE_FILE=\"$HEADROOM_CHECKPOINT_DIR/{NoticeFileName}\"\n");
        // The local runtime's name for the deadline, so a workload reads it the same way on either runtime.
        s.Append($"export HEADROOM_PREEMPT_AT_FILE=\"$HEADROOM_CHECKPOINT_DIR/{PreemptAtFileName}\"\n");
        s.Append("export HEADROOM_RESTART_COUNT=\"${SLURM_RESTART_COUNT:-0}\"\n");
        foreach (var (name, value) in spec.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            Export(name, value);
        }
        s.Append(Invariant($$"""
            mkdir -p -- "$HEADROOM_CHECKPOINT_DIR"
            rm -f -- "$HEADROOM_NOTICE_FILE" "$HEADROOM_PREEMPT_AT_FILE"
            echo "headroom: start at $(date +%s.%N) on $(hostname) slurm_job=$SLURM_JOB_ID restart=$HEADROOM_RESTART_COUNT gpus=${CUDA_VISIBLE_DEVICES:-}"
            headroom_child=
            headroom_notice() {
              local deadline
              # Headroom writes the deadline before it signals; Slurm's own notice (preemption, time limit) does not.
              if [ ! -s "$HEADROOM_NOTICE_FILE" ]; then
                echo "HEADROOM_PREEMPT_AT=$(date -u -d "@$(($(date +%s) + {{grace}}))" +%Y-%m-%dT%H:%M:%SZ)" > "$HEADROOM_NOTICE_FILE"
              fi
              deadline=$(cat "$HEADROOM_NOTICE_FILE")
              printf '%s\n' "${deadline#HEADROOM_PREEMPT_AT=}" > "$HEADROOM_PREEMPT_AT_FILE.tmp" && mv -f -- "$HEADROOM_PREEMPT_AT_FILE.tmp" "$HEADROOM_PREEMPT_AT_FILE"
              echo "headroom: notice at $(date +%s.%N), stop expected by ${deadline#HEADROOM_PREEMPT_AT=}"
              [ -z "$headroom_child" ] || kill -{{spec.NoticeSignal}} "$headroom_child" 2>/dev/null
            }
            headroom_stop() {
              echo "headroom: stop at $(date +%s.%N)"
              [ -z "$headroom_child" ] || kill -TERM "$headroom_child" 2>/dev/null
            }
            trap headroom_notice USR1
            trap headroom_stop TERM

            """));
        s.Append(Launch(spec)).Append(" &\n");
        // `wait` returns early whenever a trapped signal arrives: wait again until the workload is gone.
        s.Append("""
            headroom_child=$!
            while :; do
              wait "$headroom_child"
              headroom_status=$?
              kill -0 "$headroom_child" 2>/dev/null || break
            done
            echo "headroom: exit $headroom_status at $(date +%s.%N)"
            exit "$headroom_status"

            """);
        return new SlurmRender(s.ToString(), []);
    }

    /// <summary>The file a job's notice deadline is written to (<c>$HEADROOM_NOTICE_FILE</c>): <c>HEADROOM_PREEMPT_AT=&lt;RFC 3339&gt;</c>.</summary>
    public static string NoticeFile(string checkpointDirectory) => Path.Combine(checkpointDirectory, NoticeFileName);

    internal const string NoticeFileName = "headroom-notice";

    internal const string PreemptAtFileName = "headroom-preempt-at";

    /// <summary>The Slurm job name for a Headroom job: how a restarted control plane finds its jobs.</summary>
    public static string JobName(string jobId) => "hr-" + jobId;

    /// <summary>Slurm's <c>days-hours:minutes:seconds</c>, rounded up to whole seconds.</summary>
    internal static string TimeLimit(TimeSpan duration)
    {
        var total = Seconds(duration);
        return Invariant($"{total / 86400}-{total / 3600 % 24:00}:{total / 60 % 60:00}:{total % 60:00}");
    }

    private static long Seconds(TimeSpan span) => (long)Math.Ceiling(span.TotalSeconds);

    // One task per node: the workload is a per-node launcher (torchrun, deepspeed, a server). A single
    // node runs it straight from the batch shell, which then relays signals to it directly; several
    // nodes, or a container, go through srun, which relays them to every task.
    private static string Launch(SlurmJobSpec spec)
    {
        var line = spec.NodeCount > 1 || spec.Image is not null
            ? Invariant($"srun --nodes={spec.NodeCount} --ntasks-per-node=1 --kill-on-bad-exit=1")
            : "";
        if (spec.Image is not null)
        {
            line += " --container-image=" + ShellQuote.Quote(spec.Image)
                + " --container-mounts=\"$HEADROOM_CHECKPOINT_DIR:$HEADROOM_CHECKPOINT_DIR\"";
        }
        var command = spec.Command is null ? spec.Args : [spec.Command, .. spec.Args];
        if (command.Count > 0)
        {
            line += (line.Length > 0 ? " " : "") + ShellQuote.Join(command);
        }
        return line;
    }

    private static List<SpecError> Validate(SlurmJobSpec spec, SlurmLayout layout)
    {
        var errors = new List<SpecError>();
        void Error(string field, string message) => errors.Add(new SpecError(field, message));

        foreach (var (field, value) in new[] { ("job_id", spec.JobId), ("org", spec.Org), ("project", spec.Project) })
        {
            if (!IdPattern().IsMatch(value ?? ""))
            {
                Error(field, "must be 1-64 letters, digits, '.', '_' or '-'");
            }
        }
        if (spec.Attempt < 1)
        {
            Error("attempt", "must be at least 1");
        }
        if (!layout.Partitions.ContainsKey(spec.Tier))
        {
            Error("tier", $"no partition serves tier '{Code(spec.Tier)}' on this cluster; it serves {string.Join(", ", layout.Partitions.Keys.Order().Select(Code))}");
        }
        if (string.IsNullOrEmpty(spec.Command) && spec.Image is null)
        {
            Error("command", "a command or a container image is required");
        }
        if (spec.Command is { } command && !ShellQuote.CanQuote(command))
        {
            Error("command", "must not contain NUL or unpaired surrogates");
        }
        if (spec.Image is { } image && !PlainWordPattern().IsMatch(image))
        {
            Error("image", "must be a non-empty image reference without spaces or quotes");
        }
        for (var i = 0; i < spec.Args.Count; i++)
        {
            if (spec.Args[i] is null || !ShellQuote.CanQuote(spec.Args[i]))
            {
                Error($"args[{i}]", "must not contain NUL or unpaired surrogates");
            }
        }
        foreach (var (name, value) in spec.Env)
        {
            if (!EnvNamePattern().IsMatch(name))
            {
                Error($"env.{name}", "names are letters, digits and '_', not starting with a digit");
            }
            else if (name.StartsWith("SLURM_", StringComparison.Ordinal) || name.StartsWith("HEADROOM_", StringComparison.Ordinal))
            {
                Error($"env.{name}", "names starting with SLURM_ or HEADROOM_ are reserved");
            }
            else if (ShellNames.Contains(name) || name.StartsWith("BASH_", StringComparison.Ordinal))
            {
                Error($"env.{name}", "is a shell variable bash sets or reads itself");
            }
            if (value is null || !ShellQuote.CanQuote(value))
            {
                Error($"env.{name}", "values must not contain NUL or unpaired surrogates");
            }
        }
        if (spec.GpuModel is { } model && !IdPattern().IsMatch(model))
        {
            Error("gpu_model", "must be a GRES type name: letters, digits, '.', '_' or '-'");
        }
        if (spec.GpusPerNode < 1)
        {
            Error("gpus_per_node", "must be at least 1");
        }
        if (spec.NodeCount < 1)
        {
            Error("node_count", "must be at least 1");
        }
        if (spec.NodeNames.Count > 0 && spec.NodeNames.Count != spec.NodeCount)
        {
            Error("node_names", $"the plan names {spec.NodeNames.Count} nodes for a {spec.NodeCount}-node job");
        }
        foreach (var node in spec.NodeNames)
        {
            if (!IdPattern().IsMatch(node ?? ""))
            {
                Error("node_names", $"'{node}' is not a node name");
            }
        }
        if (spec.NodeNames.Distinct(StringComparer.Ordinal).Count() != spec.NodeNames.Count)
        {
            Error("node_names", "a node is named twice: no job may run twice on one node");
        }
        if (spec.CpusPerNode is < 1)
        {
            Error("cpus_per_node", "must be at least 1");
        }
        if (spec.MemoryMbPerNode is < 1)
        {
            Error("memory_mb_per_node", "must be at least 1");
        }
        if (spec.MaxDuration is { } duration && duration <= TimeSpan.Zero)
        {
            Error("max_duration", "must be positive");
        }
        if (spec.NoticeGrace < TimeSpan.Zero || Seconds(spec.NoticeGrace) > MaxSignalLeadSeconds)
        {
            Error("notice_grace", Invariant($"must be between 0 and {MaxSignalLeadSeconds} seconds"));
        }
        else if (spec.MaxDuration is { } limit && limit > TimeSpan.Zero && spec.NoticeGrace >= limit)
        {
            // Slurm would send the time-limit notice the moment the job starts.
            Error("notice_grace", "must be shorter than max_duration");
        }
        if (!NoticeSignals.Contains(spec.NoticeSignal, StringComparer.Ordinal))
        {
            Error("notice_signal", $"must be one of {string.Join(", ", NoticeSignals)}");
        }
        CheckPath(errors, "checkpoint_directory", spec.CheckpointDirectory);
        CheckPath(errors, "log_path", spec.LogPath);
        if (spec.WorkingDirectory is not null)
        {
            CheckPath(errors, "working_directory", spec.WorkingDirectory);
        }
        return errors;
    }

    // Paths land in #SBATCH lines (not expanded by any shell) and in --container-mounts, so they are
    // kept to plain absolute paths rather than quoted.
    private static void CheckPath(List<SpecError> errors, string field, string? path)
    {
        if (path is null || !PathPattern().IsMatch(path))
        {
            errors.Add(new SpecError(field, "must be an absolute path without spaces, quotes or any of % # $ ` \\ : ,"));
        }
    }

    private static string Code(Tier tier) => Enum.IsDefined(tier) ? tier.ToCode() : tier.ToString();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNamePattern();

    [GeneratedRegex("^[^\\s'\"\\\\`$]+$")]
    private static partial Regex PlainWordPattern();

    [GeneratedRegex("^/[^\\s'\"\\\\`$%#:,]*$")]
    private static partial Regex PathPattern();
}
