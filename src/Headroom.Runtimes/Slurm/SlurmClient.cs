using System.Globalization;
using Headroom.Core.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Headroom.Runtimes.Slurm;

/// <summary>
/// Runs Headroom jobs on one Slurm cluster through its command-line tools: submit (<c>sbatch --parsable</c>,
/// script on stdin), observe (<c>scontrol show job -o</c>, then accounting), find again after a restart
/// (<c>squeue --name=hr-&lt;id&gt;</c>), notice (<c>scancel --batch --signal=USR1</c>) and cancel
/// (<c>scancel</c>). Safe for concurrent use; every call is one or two short-lived processes.
/// Outcomes come back as values; only the caller's cancellation throws.
/// </summary>
public sealed class SlurmClient
{
    private readonly SlurmClientOptions _options;
    private readonly CommandRunner _runner;
    private readonly ILogger _logger;

    public SlurmClient(SlurmClientOptions options, ILogger<SlurmClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? NullLogger<SlurmClient>.Instance;
        // sbatch exports its own environment into the job, so the tools get only this, never the control plane's.
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["SLURM_CONF"] = options.SlurmConf,
            ["PATH"] = $"{options.BinDirectory}:/usr/local/bin:/usr/bin:/bin",
            ["LANG"] = "C.UTF-8",
        };
        foreach (var name in new[] { "HOME", "USER", "LOGNAME", "TZ" })
        {
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }
        _runner = new CommandRunner(environment, options.CommandTimeout);
    }

    /// <summary>Renders the spec and submits it. Submitting the same spec twice makes two Slurm jobs: callers
    /// that may retry look for the job with <see cref="FindAsync"/> first.</summary>
    public async Task<SubmitResult> SubmitAsync(SlurmJobSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var render = SlurmScript.Render(spec, _options.Layout);
        if (render.Script is null)
        {
            return new SubmitResult.Invalid(render.Errors);
        }
        if (PrepareDirectories(spec) is { } problem)
        {
            return new SubmitResult.Unavailable(problem);
        }
        var result = await RunAsync("sbatch", ["--parsable"], render.Script, cancellationToken);
        if (!result.Ran || (!result.Succeeded && IsUnreachable(result.Message)))
        {
            SlurmLog.Unavailable(_logger, "sbatch", result.Message);
            return new SubmitResult.Unavailable(result.Message);
        }
        if (!result.Succeeded)
        {
            SlurmLog.SubmitRejected(_logger, spec.JobId, result.Message);
            return new SubmitResult.Rejected(result.Message);
        }
        // --parsable prints "<id>" or "<id>;<cluster>".
        var text = result.StdOut.Trim().Split(';')[0];
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return new SubmitResult.Unavailable($"sbatch printed no job id: '{result.StdOut.Trim()}'");
        }
        SlurmLog.Submitted(_logger, spec.JobId, id, spec.Tier.ToCode(), spec.NodeCount, spec.GpusPerNode);
        return new SubmitResult.Submitted(id);
    }

    /// <summary>The job as slurmctld sees it, or, once slurmctld has forgotten it, as accounting recorded it.</summary>
    public async Task<ObserveResult> ObserveAsync(long slurmJobId, CancellationToken cancellationToken = default)
    {
        var id = slurmJobId.ToString(CultureInfo.InvariantCulture);
        var result = await RunAsync("scontrol", ["show", "job", "-o", id], null, cancellationToken);
        if (result.Succeeded)
        {
            var line = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            return line is not null && SlurmOutput.FromScontrol(line) is { } job
                ? new ObserveResult.Found(job)
                : new ObserveResult.Unavailable($"unreadable scontrol output: '{result.StdOut.Trim()}'");
        }
        if (!result.Ran || !IsUnknownJob(result.Message))
        {
            SlurmLog.Unavailable(_logger, "scontrol", result.Message);
            return new ObserveResult.Unavailable(result.Message);
        }
        return await ObserveEndedAsync(slurmJobId, cancellationToken);
    }

    /// <summary>Every job slurmctld holds (pending, running, or ended within MinJobAge) named for this Headroom job.</summary>
    public async Task<FindResult> FindAsync(string headroomJobId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(headroomJobId);
        var result = await RunAsync("squeue", ["-h", "--states=all", "--name=" + SlurmScript.JobName(headroomJobId), "-o", "%i"], null, cancellationToken);
        if (!result.Succeeded)
        {
            return new FindResult([], result.Message);
        }
        var jobs = new List<SlurmJobObservation>();
        foreach (var line in result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                continue;
            }
            switch (await ObserveAsync(id, cancellationToken))
            {
                case ObserveResult.Found found:
                    jobs.Add(found.Job);
                    break;
                case ObserveResult.Unavailable unavailable:
                    return new FindResult(jobs, unavailable.Message);
            }
        }
        return new FindResult(jobs, null);
    }

    /// <summary>
    /// Gives the job its notice now: the batch shell gets USR1, writes the notice file and relays the spec's
    /// notice signal to the workload (the same path as a Slurm-initiated preemption). Stopping it after the
    /// grace is the caller's <see cref="CancelAsync"/>.
    /// </summary>
    public Task<SignalResult> NoticeAsync(long slurmJobId, CancellationToken cancellationToken = default) =>
        ScancelAsync(slurmJobId, ["--batch", "--signal=USR1"], cancellationToken);

    /// <summary>
    /// Gives the job its notice with Headroom's own deadline: writes <c>HEADROOM_PREEMPT_AT=&lt;deadline&gt;</c> to the
    /// job's notice file (in its checkpoint directory, which the control plane shares with the nodes), then signals
    /// as <see cref="NoticeAsync(long, CancellationToken)"/>; the batch shell keeps a deadline it finds there.
    /// </summary>
    public async Task<SignalResult> NoticeAsync(long slurmJobId, DateTimeOffset deadline, string checkpointDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpointDirectory);
        var path = SlurmScript.NoticeFile(checkpointDirectory);
        var text = "HEADROOM_PREEMPT_AT=" + deadline.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) + "\n";
        try
        {
            // Whole or not at all: the job may read it the moment the signal lands.
            var temporary = path + ".tmp";
            await File.WriteAllTextAsync(temporary, text, cancellationToken);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new SignalResult.Unavailable($"cannot write the notice file {path}: {e.Message}");
        }
        return await NoticeAsync(slurmJobId, cancellationToken);
    }

    /// <summary>
    /// Cancels the job: with no signal, Slurm's stop (TERM to every process, KILL after KillWait); with a
    /// signal (<c>KILL</c>, <c>INT</c>, ...), only that signal to every step, and the job goes on unless it dies of it.
    /// </summary>
    public Task<SignalResult> CancelAsync(long slurmJobId, string? signal = null, CancellationToken cancellationToken = default) =>
        ScancelAsync(slurmJobId, signal is null ? [] : ["--full", "--signal=" + signal], cancellationToken);

    /// <summary>
    /// A JWT for slurmrestd (<c>scontrol token</c>; needs <c>AuthAltTypes=auth/jwt</c>, and root or SlurmUser to
    /// make one for another user). Null with the reason when none could be made.
    /// </summary>
    public async Task<(string? Token, string? Failure)> CreateTokenAsync(string userName, TimeSpan lifespan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userName);
        var seconds = ((long)Math.Ceiling(lifespan.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var result = await RunAsync("scontrol", ["token", "username=" + userName, "lifespan=" + seconds], null, cancellationToken);
        // Prints SLURM_JWT=<token>.
        var line = result.StdOut.Trim();
        return result.Succeeded && line.StartsWith("SLURM_JWT=", StringComparison.Ordinal)
            ? (line["SLURM_JWT=".Length..], null)
            : (null, result.Message);
    }

    private async Task<SignalResult> ScancelAsync(long slurmJobId, string[] options, CancellationToken cancellationToken)
    {
        var id = slurmJobId.ToString(CultureInfo.InvariantCulture);
        // scancel exits 0 even for a job it does not know; only --verbose says so (on stderr).
        var result = await RunAsync("scancel", ["--verbose", .. options, id], null, cancellationToken);
        if (result.Succeeded && !IsUnknownJob(result.Message))
        {
            SlurmLog.Signalled(_logger, slurmJobId, string.Join(' ', options));
            return new SignalResult.Sent();
        }
        if (result.Ran && IsUnknownJob(result.Message))
        {
            return new SignalResult.NotFound();
        }
        if (!result.Ran || IsUnreachable(result.Message))
        {
            SlurmLog.Unavailable(_logger, "scancel", result.Message);
            return new SignalResult.Unavailable(result.Message);
        }
        return new SignalResult.Rejected(result.Message);
    }

    /// <summary>The job as accounting recorded it (what <see cref="ObserveAsync"/> falls back to once slurmctld forgot it).</summary>
    internal async Task<ObserveResult> ObserveEndedAsync(long slurmJobId, CancellationToken cancellationToken)
    {
        if (_options.Accounting == SlurmAccounting.None)
        {
            return new ObserveResult.NotFound();
        }
        var id = slurmJobId.ToString(CultureInfo.InvariantCulture);
        string[] arguments = _options.Accounting == SlurmAccounting.CompletionLog
            ? ["-c", "-j", id, "-P", "-n", "-o", SlurmOutput.SacctFields]
            : ["-X", "-D", "-j", id, "-P", "-n", "-o", SlurmOutput.SacctFields];
        var result = await RunAsync("sacct", arguments, null, cancellationToken);
        if (!result.Succeeded)
        {
            // No completion log yet means no job has ended yet.
            if (result.Ran && result.Message.Contains("No such file", StringComparison.OrdinalIgnoreCase))
            {
                return new ObserveResult.NotFound();
            }
            SlurmLog.Unavailable(_logger, "sacct", result.Message);
            return new ObserveResult.Unavailable(result.Message);
        }
        return SlurmOutput.FromSacct(result.StdOut, slurmJobId) is { } job
            ? new ObserveResult.Found(job)
            : new ObserveResult.NotFound();
    }

    // Slurm opens --output and enters --chdir before the script runs, and creates neither. Both live on the
    // file system the control plane shares with the nodes (it reads the logs), so they are made here.
    private static string? PrepareDirectories(SlurmJobSpec spec)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(spec.LogPath)!);
            Directory.CreateDirectory(spec.CheckpointDirectory);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot create the job's log or checkpoint directory: {e.Message}";
        }
    }

    private Task<CommandResult> RunAsync(string tool, IEnumerable<string> arguments, string? stdin, CancellationToken cancellationToken) =>
        _runner.RunAsync(Path.Combine(_options.BinDirectory, tool), arguments, stdin, cancellationToken);

    private static bool IsUnknownJob(string message) =>
        message.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase);

    private static bool IsUnreachable(string message) =>
        message.Contains("Unable to contact slurm controller", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Socket timed out", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Connection refused", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Zero Bytes were transmitted", StringComparison.OrdinalIgnoreCase);
}
