using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Jobs.Slurm;

/// <summary>
/// The <c>slurm</c> runtime: every attempt is one Slurm batch job, submitted with the CLI
/// (<see cref="SlurmClient"/>) into the partition of the job's tier and pinned to the nodes the scheduler chose
/// (a fleet node's name is its Slurm NodeName). Headroom decides; Slurm executes. So each attempt is submitted with
/// <c>--no-requeue</c>: a preemption or a lost node ends the Slurm job, and Headroom's scheduler requeues the
/// Headroom job as its next attempt, a new Slurm job.
/// <para>
/// Nothing is kept in memory. The handle holds the Slurm job id, the attempt's log file and the job's checkpoint
/// directory, both under <see cref="SlurmRuntimeOptions.SharedDirectory"/>, which the control plane and the nodes
/// must see at the same path. Observe asks slurmctld, then accounting once slurmctld forgot the job; a start
/// repeated after a crash finds the attempt Slurm already holds by its name and comment and submits nothing.
/// </para>
/// <para>
/// Expected outcomes are values; Slurm being unreachable is not one the contract can carry, so a start, notice or
/// stop then throws and the scheduler's next cycle tries again from the stored state.
/// </para>
/// </summary>
internal sealed partial class SlurmRuntime : IWorkloadRuntime
{
    private readonly SlurmRuntimeOptions _options;
    private readonly SlurmClient _client;
    private readonly string _shared;
    private readonly ILogger<SlurmRuntime> _logger;

    /// <param name="options">Validated with <see cref="SlurmRuntimeOptions.Validate"/>; throws <see cref="ArgumentException"/> listing every problem.</param>
    public SlurmRuntime(SlurmRuntimeOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        _options = options;
        _shared = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SharedDirectory));
        _client = new SlurmClient(options.ClientOptions(), loggers.CreateLogger<SlurmClient>());
        _logger = loggers.CreateLogger<SlurmRuntime>();
    }

    public string Name => "slurm";

    /// <summary>The attempt's stdout and stderr (Slurm's <c>--output</c>), under the shared directory.</summary>
    internal static string LogPath(string shared, string jobId, int attempt) =>
        Path.Combine(shared, "slurm", jobId, "attempt-" + attempt.ToString(CultureInfo.InvariantCulture) + ".log");

    /// <summary>The job's checkpoint directory, kept across attempts (<c>HEADROOM_CHECKPOINT_DIR</c>), under the shared directory.</summary>
    internal static string CheckpointDir(string shared, string jobId) => Path.Combine(shared, "checkpoints", jobId);

    public async Task<StartOutcome> StartAsync(RuntimeWorkload workload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var (spec, error) = Spec(workload, _options);
        if (spec is null)
            return StartOutcome.Failed(error!);

        // At most once per attempt: a start repeated after a crash (or by a new leader) finds the Slurm job the first
        // one submitted. slurmctld keeps ended jobs for MinJobAge, which must outlast a control-plane restart.
        var found = await _client.FindAsync(workload.JobId, cancellationToken);
        if (found.Failure is not null)
            throw new InvalidOperationException($"Slurm is unavailable (squeue): {found.Failure}");
        if (found.Jobs.FirstOrDefault(j => j.Attempt == workload.Attempt) is { } existing)
        {
            LogAlreadySubmitted(_logger, workload.JobId, workload.Attempt, existing.SlurmJobId);
            return StartOutcome.Started(new SlurmHandle(existing.SlurmJobId, spec.LogPath, spec.CheckpointDirectory).Serialize());
        }

        switch (await _client.SubmitAsync(spec, cancellationToken))
        {
            case SubmitResult.Submitted submitted:
                LogSubmitted(_logger, workload.JobId, workload.Attempt, submitted.SlurmJobId, string.Join(',', spec.NodeNames));
                return StartOutcome.Started(new SlurmHandle(submitted.SlurmJobId, spec.LogPath, spec.CheckpointDirectory).Serialize());
            case SubmitResult.Invalid invalid:
                return StartOutcome.Failed("the job cannot run on Slurm: " + string.Join("; ", invalid.Errors.Select(e => $"{e.Field}: {e.Message}")));
            case SubmitResult.Rejected rejected:
                return StartOutcome.Failed("Slurm refused the job: " + rejected.Message);
            case SubmitResult.Unavailable unavailable:
                throw new InvalidOperationException($"Slurm is unavailable (sbatch): {unavailable.Message}");
            default:
                throw new InvalidOperationException("unknown submit result");
        }
    }

    public async Task NoticeAsync(string handle, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        // The deadline goes to $HEADROOM_NOTICE_FILE first, then USR1 to the batch shell, which relays TERM to the workload.
        var result = await _client.NoticeAsync(h.SlurmJobId, deadline, h.CheckpointDir, cancellationToken);
        Signalled(h, "notice", result);
    }

    public async Task StopAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        // Slurm's stop: TERM to the job (the batch shell relays it), KILL after the cluster's KillWait.
        var result = await _client.CancelAsync(h.SlurmJobId, null, cancellationToken);
        Signalled(h, "stop", result);
    }

    public async Task<Observation> ObserveAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        return await _client.ObserveAsync(h.SlurmJobId, cancellationToken) switch
        {
            ObserveResult.Found found => Observe(found.Job),
            ObserveResult.NotFound => new Observation(ObservedState.Lost,
                Detail: $"Slurm job {h.SlurmJobId.ToString(CultureInfo.InvariantCulture)} is known neither to slurmctld nor to accounting"),
            // Not knowing is not an end: keep it running, and ask again next cycle.
            ObserveResult.Unavailable unavailable => new Observation(ObservedState.Running, Detail: "Slurm unavailable: " + unavailable.Message),
            _ => throw new InvalidOperationException("unknown observe result"),
        };
    }

    public Task<LogChunk> ReadLogsAsync(string handle, long offset, int maxBytes, CancellationToken cancellationToken) =>
        LogFile.ReadAsync(Parse(handle).LogPath, offset, maxBytes, cancellationToken);

    /// <summary>
    /// Slurm's view of the attempt in the contract's three states. Everything before the end (pending while the planned
    /// node frees up, configuring, running, completing) is Running. The exit status is the batch shell's, which passes
    /// the workload's through: a code from 129 to 192, or a signal Slurm recorded, reads as that signal.
    /// </summary>
    internal static Observation Observe(SlurmJobObservation job)
    {
        var detail = $"Slurm job {job.SlurmJobId.ToString(CultureInfo.InvariantCulture)} {job.SlurmState}";
        if (job.Status is not { } status)
            return new Observation(ObservedState.Running, Detail: detail + " (a state Headroom does not know; kept as running)");
        detail += ": " + status.Reason;
        switch (status.State)
        {
            case JobState.Lost:
                return new Observation(ObservedState.Lost, Detail: detail);
            case JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Preempted:
                var (code, signal) = (job.ExitCode, job.ExitSignal);
                if (signal is { } s)
                    code = 128 + s;
                else if (code is > 128 and <= 128 + 64)
                    signal = code - 128;
                // Slurm's verdict wins over a 0 from a workload that, say, caught the time limit's TERM and exited cleanly.
                if (status.State != JobState.Succeeded && code == 0)
                    code = null;
                return new Observation(ObservedState.Exited, code, signal, detail);
            default:
                return new Observation(ObservedState.Running, Detail: detail);
        }
    }

    /// <summary>The sbatch spec of one attempt, or why it cannot run on Slurm. Pure.</summary>
    internal static (SlurmJobSpec? Spec, string? Error) Spec(RuntimeWorkload w, SlurmRuntimeOptions options)
    {
        var shared = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SharedDirectory));
        if (w.Placements.Count == 0 || w.Command.Count == 0)
            return (null, "the job has no placement or no command");
        if (w.Placements.Any(p => p.GpuMilli is > 0 and < 1000))
            return (null, "the slurm runtime runs whole GPUs only; a fractional GPU (gpu_milli below 1000) cannot be given to a Slurm job");
        var gpus = w.Placements[0].Gpus.Count;
        if (w.Placements.Any(p => p.Gpus.Count != gpus))
            return (null, "the slurm runtime needs the same number of GPUs on every node of a gang");
        // Slurm sends the time-limit notice this long before the limit; a grace as long as the limit would send it at once.
        var grace = w.MaxDuration is { } limit && w.NoticeGrace >= limit ? TimeSpan.Zero : w.NoticeGrace;
        return (new SlurmJobSpec
        {
            JobId = w.JobId,
            Org = w.OrgId,
            Project = w.ProjectId,
            Attempt = w.Attempt,
            Tier = w.Tier,
            Command = w.Command[0],
            Args = [.. w.Command.Skip(1)],
            Env = w.Environment,
            GpuModel = options.GresType(w.GpuModel),
            GpusPerNode = gpus,
            NodeCount = w.Placements.Count,
            NodeNames = [.. w.Placements.Select(p => p.Node)],
            CpusPerNode = w.CpuMilliPerNode > 0 ? (w.CpuMilliPerNode + 999) / 1000 : null,
            MemoryMbPerNode = w.MemoryMibPerNode > 0 ? w.MemoryMibPerNode : null,
            MaxDuration = w.MaxDuration,
            NoticeGrace = grace,
            CheckpointDirectory = CheckpointDir(shared, w.JobId),
            LogPath = LogPath(shared, w.JobId, w.Attempt),
            Requeue = false,
        }, null);
    }

    // A job Slurm no longer knows, or one that already ended, needs no signal; only an unreachable Slurm is a failure,
    // so that the scheduler does not record a stop that did not happen.
    private void Signalled(SlurmHandle h, string what, SignalResult result)
    {
        switch (result)
        {
            case SignalResult.Sent:
                LogSignalled(_logger, what, h.SlurmJobId);
                break;
            case SignalResult.NotFound:
                LogNotSignalled(_logger, what, h.SlurmJobId, "Slurm no longer knows it");
                break;
            case SignalResult.Rejected rejected:
                LogNotSignalled(_logger, what, h.SlurmJobId, rejected.Message);
                break;
            case SignalResult.Unavailable unavailable:
                throw new InvalidOperationException($"Slurm is unavailable ({what} of Slurm job {h.SlurmJobId.ToString(CultureInfo.InvariantCulture)}): {unavailable.Message}");
        }
    }

    private SlurmHandle Parse(string handle)
    {
        var h = SlurmHandle.Parse(handle);
        foreach (var path in new[] { h.LogPath, h.CheckpointDir })
        {
            if (!Path.GetFullPath(path).StartsWith(_shared + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new ArgumentException($"The handle's paths are not under this runtime's shared directory {_shared}.", nameof(handle));
        }
        return h;
    }

    [LoggerMessage(EventId = 5401, Level = LogLevel.Information, Message = "Submitted job {JobId} attempt {Attempt} as Slurm job {SlurmJobId} on {Nodes}")]
    private static partial void LogSubmitted(ILogger logger, string jobId, int attempt, long slurmJobId, string nodes);

    [LoggerMessage(EventId = 5402, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} is already Slurm job {SlurmJobId}; returning it, not submitting again")]
    private static partial void LogAlreadySubmitted(ILogger logger, string jobId, int attempt, long slurmJobId);

    [LoggerMessage(EventId = 5403, Level = LogLevel.Information, Message = "Sent the {What} to Slurm job {SlurmJobId}")]
    private static partial void LogSignalled(ILogger logger, string what, long slurmJobId);

    [LoggerMessage(EventId = 5404, Level = LogLevel.Information, Message = "No {What} sent to Slurm job {SlurmJobId}: {Why}")]
    private static partial void LogNotSignalled(ILogger logger, string what, long slurmJobId, string why);
}

/// <summary>
/// What the control plane persists for one Slurm attempt, as compact JSON, e.g.
/// <c>{"slurm_job_id":42,"log":"/shared/headroom/slurm/job_1/attempt-1.log","checkpoint":"/shared/headroom/checkpoints/job_1"}</c>.
/// </summary>
internal sealed record SlurmHandle(
    [property: JsonPropertyName("slurm_job_id")] long SlurmJobId,
    [property: JsonPropertyName("log")] string LogPath,
    [property: JsonPropertyName("checkpoint")] string CheckpointDir)
{
    public string Serialize() => JsonSerializer.Serialize(this);

    /// <summary>Reads a handle this runtime made; throws <see cref="ArgumentException"/> for anything else (a caller bug, not an outcome).</summary>
    public static SlurmHandle Parse(string handle) => RuntimeHandles.Parse<SlurmHandle>(handle, "slurm", h =>
        h.SlurmJobId > 0 && RuntimeHandles.IsAbsolute(h.LogPath) && RuntimeHandles.IsAbsolute(h.CheckpointDir));
}
