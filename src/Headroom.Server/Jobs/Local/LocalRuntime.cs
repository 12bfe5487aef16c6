using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Jobs.Local;

/// <summary>
/// The <c>local</c> runtime: every attempt is a process tree on this machine.
/// <para>
/// Process layout. The control plane starts <c>setsid /bin/sh wrapper.sh</c>: the wrapper leads a
/// session of its own, so a signal to the control plane (Ctrl-C, kill -9) does not reach it and it
/// outlives a control-plane crash. The wrapper starts the workload in the background through
/// <c>setsid env --default-signal</c>, so the workload leads a second session and process group
/// (id = its pid) with default signal dispositions (a background job of sh would otherwise ignore
/// SIGINT and SIGQUIT), and its stdout/stderr go straight to the attempt's log file. The wrapper
/// waits for it and writes its exit status to a file (tmp + rename). Notice and stop signal the
/// workload's group and session, never the wrapper, so the wrapper survives a hard stop and records
/// 137 (killed by signal 9).
/// </para>
/// <para>
/// Files, one directory per attempt (<c>&lt;root&gt;/&lt;job&gt;/attempt-&lt;n&gt;/</c>): <c>claim</c> (who
/// started it; created exclusively, so an attempt starts once), <c>wrapper.sh</c>, <c>wrapper</c> and <c>workload</c>
/// ("pid starttime", written by the wrapper), <c>handle</c>, <c>log</c>, <c>preempt_at</c>,
/// <c>noticed</c>, <c>stopped</c>, <c>exit</c>, <c>work/</c> (the working directory and HOME).
/// </para>
/// <para>
/// Re-attach is reading those files and /proc: nothing is held in memory, so a new instance after a
/// restart answers exactly as the old one would have. Max duration is not enforced here: the
/// scheduler stops an attempt that runs past it with <see cref="StopAsync"/>.
/// </para>
/// </summary>
internal sealed partial class LocalRuntime : IWorkloadRuntime
{
    // $1 attempt dir, $2 setsid, $3 env, then the command. Order matters:
    //  1. its own output goes to wrapper.log, never to the control plane (a pipe would SIGPIPE it after a crash);
    //  2. traps with a handler (not '' = ignore, which children would inherit) keep a stray HUP/INT/TERM
    //     from ending the wrapper before it has recorded the status;
    //  3. "wrapper" is written before the workload starts, "workload" right after the fork;
    //  4. a stop that came before "workload" was written left "stopped": the wrapper checks it after
    //     writing "workload" (and before starting), the stop writes "stopped" before reading "workload",
    //     so one of the two always kills it;
    //  5. wait is interrupted by trapped signals, so it loops until the workload is really gone;
    //  6. what the workload left behind in its process group dies with it (as Slurm ends a batch
    //     step), so no orphan keeps the GPUs the scheduler now gives to someone else;
    //  7. the status is renamed into place, so a reader sees all of it or nothing.
    private const string WrapperScript = """
        set -u
        d=$1 setsid_bin=$2 env_bin=$3
        shift 3
        job_path=$PATH
        PATH=/usr/sbin:/usr/bin:/sbin:/bin
        exec </dev/null >>"$d/wrapper.log" 2>&1
        st() { s=; read -r s 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }; s=${s##*) }; set -- $s; echo "${20:-0}"; }
        put() { printf '%s\n' "$2" >"$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"; }
        trap : HUP INT TERM
        put wrapper "$$ $(st $$)"
        rc=137
        if [ ! -e "$d/stopped" ]; then
          PATH=$job_path "$setsid_bin" "$env_bin" --default-signal -- "$@" >>"$d/log" 2>&1 &
          pid=$!
          put workload "$pid $(st $pid)"
          if [ -e "$d/stopped" ]; then kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid"; fi
          while :; do
            wait "$pid"
            rc=$?
            kill -0 "$pid" 2>/dev/null || break
          done
          kill -s KILL -- "-$pid" 2>/dev/null
        fi
        put exit "$rc"
        """;

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeName();

    private readonly LocalRuntimeOptions _options;
    private readonly string _root;
    private readonly int _noticeSignal;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalRuntime> _logger;

    /// <param name="options">Validated with <see cref="LocalRuntimeOptions.Validate"/>; throws <see cref="ArgumentException"/> listing every problem.</param>
    /// <param name="time">Stamps the markers (claim, noticed, stopped). Waits on real processes use the real clock.</param>
    public LocalRuntime(LocalRuntimeOptions options, TimeProvider time, ILogger<LocalRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        _options = options;
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Root));
        _noticeSignal = Processes.ParseSignal(options.NoticeSignal)!.Value;
        _time = time;
        _logger = logger;
    }

    public string Name => "local";

    /// <summary>The directory of one attempt; exposed for tests and operators.</summary>
    public string AttemptDir(string jobId, int attempt) =>
        Path.Combine(_root, jobId, "attempt-" + attempt.ToString(CultureInfo.InvariantCulture));

    public async Task<StartOutcome> StartAsync(RuntimeWorkload workload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        if (Check(workload) is { } error)
            return StartOutcome.Failed(error);
        var tools = FindTools();
        if (tools.Error is not null)
            return StartOutcome.Failed(tools.Error);
        cancellationToken.ThrowIfCancellationRequested();

        var dir = AttemptDir(workload.JobId, workload.Attempt);
        var checkpoint = string.IsNullOrEmpty(workload.CheckpointDir)
            ? Path.Combine(_root, workload.JobId, "checkpoint")
            : Path.GetFullPath(workload.CheckpointDir);
        // Logs and checkpoints are the tenants': the root is the control plane's user's alone.
        if (!OperatingSystem.IsWindows())
            Directory.CreateDirectory(_root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(dir);

        // The claim is the "at most once": whoever creates it starts the attempt; everyone else
        // (a retry, a second replica, the same call after a crash) gets the existing handle.
        if (!TryClaim(dir))
        {
            var existing = await ExistingHandleAsync(dir);
            // Past the start timeout with no handle, no wrapper record and no exit status, the control plane that
            // claimed the attempt died between its claim and the start: nothing of the attempt ever ran (a wrapper
            // records itself as its first act). Taking the claim over and starting it is then the only way the job
            // runs at all, and still at most once.
            if (!NeverStarted(dir) || !TryTakeOverClaim(dir))
            {
                LogAlreadyStarted(_logger, workload.JobId, workload.Attempt);
                return StartOutcome.Started(existing);
            }
        }

        var work = Path.Combine(dir, "work");
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(checkpoint);

        var start = new ProcessStartInfo(tools.Setsid!)
        {
            UseShellExecute = false,
            WorkingDirectory = work,
        };
        // A file, not sh -c, so that ps shows which attempt a wrapper belongs to and an operator can read it.
        var wrapper = Path.Combine(dir, "wrapper.sh");
        File.WriteAllText(wrapper, WrapperScript + "\n");
        foreach (var arg in (string[])["/bin/sh", wrapper, dir, tools.Setsid!, tools.Env!])
            start.ArgumentList.Add(arg);
        foreach (var arg in workload.Command)
            start.ArgumentList.Add(arg);
        // The control plane's own environment (database URLs, keys) never reaches a workload.
        start.Environment.Clear();
        foreach (var (key, value) in JobEnvironment(workload, dir, work, checkpoint))
            start.Environment[key] = value;

        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Win32Exception e)
        {
            // Nothing ran, so giving the claim back is safe and lets a retry start it.
            File.Delete(Path.Combine(dir, "claim"));
            return StartOutcome.Failed($"could not start the local wrapper: {e.Message}");
        }

        // From here on something runs: no cancellation, or the handle would be lost to this caller.
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (!File.Exists(Path.Combine(dir, "workload")) && !File.Exists(Path.Combine(dir, "exit")) && Stopwatch.GetTimestamp() < deadline)
            await Task.Delay(Poll, CancellationToken.None);
        var handle = FromRecords(dir);
        if (handle.Pid == 0)
            LogSlowStart(_logger, workload.JobId, workload.Attempt, _options.StartTimeout);
        var text = handle.Serialize();
        WriteAtomically(dir, "handle", text);
        LogStarted(_logger, workload.JobId, workload.Attempt, handle.Pid, dir);
        return StartOutcome.Started(text);
    }

    public Task NoticeAsync(string handle, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var h = Resolve(handle);
        // The deadline first, so a workload that reacts to the signal can already read it.
        WriteAtomically(h.Dir, "preempt_at", Rfc3339(deadline) + "\n");
        var sent = SignalWorkload(h, _noticeSignal);
        WriteAtomically(h.Dir, "noticed", $"{Rfc3339(_time.GetUtcNow())} signal {_noticeSignal.ToString(CultureInfo.InvariantCulture)} delivered {(sent ? "yes" : "no")}\n");
        LogNoticed(_logger, h.Dir, _noticeSignal, deadline, sent);
        return Task.CompletedTask;
    }

    public async Task StopAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Resolve(handle);
        // "stopped" before reading the pid again: with the wrapper's check after it writes "workload",
        // a stop racing the start still kills (see the wrapper script).
        if (!File.Exists(Path.Combine(h.Dir, "exit")) && !File.Exists(Path.Combine(h.Dir, "stopped")))
            WriteAtomically(h.Dir, "stopped", Rfc3339(_time.GetUtcNow()) + "\n");
        if (h.Pid == 0)
            h = Resolve(handle);
        var sent = SignalWorkload(h, Processes.SigKill);
        LogStopped(_logger, h.Dir, sent);

        // Wait (briefly) for the wrapper to record the status, so an observe right after says Exited.
        var until = Stopwatch.GetTimestamp() + (long)(_options.StopWait.TotalSeconds * Stopwatch.Frequency);
        while (!File.Exists(Path.Combine(h.Dir, "exit")) && Processes.IsAlive(h.WrapperPid, h.WrapperStart)
               && Stopwatch.GetTimestamp() < until)
            await Task.Delay(Poll, cancellationToken);
    }

    public Task<Observation> ObserveAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Resolve(handle);
        return Task.FromResult(Observe(h));
    }

    public Task<LogChunk> ReadLogsAsync(string handle, long offset, int maxBytes, CancellationToken cancellationToken) =>
        LogFile.ReadAsync(Path.Combine(Parse(handle).Dir, "log"), offset, maxBytes, cancellationToken);

    /// <summary>
    /// The order matters: a recorded status wins; then a live wrapper or workload means Running; the
    /// status is read once more (the wrapper may have written it and exited in between); only then is
    /// the attempt Lost, unless Headroom itself stopped it.
    /// </summary>
    private Observation Observe(LocalHandle h)
    {
        if (ReadExit(h.Dir) is { } recorded)
            return recorded;
        if (Processes.IsAlive(h.WrapperPid, h.WrapperStart))
            return new Observation(ObservedState.Running, Detail: RunningDetail(h.Dir));
        if (Processes.IsAlive(h.Pid, h.PidStart))
            return new Observation(ObservedState.Running, Detail: "running; its wrapper is gone, so its exit status will not be recorded");
        if (ReadExit(h.Dir) is { } late)
            return late;
        if (File.Exists(Path.Combine(h.Dir, "stopped")))
            return new Observation(ObservedState.Exited, 128 + Processes.SigKill, Processes.SigKill, "stopped by Headroom; the exit status was not recorded");
        if (h.WrapperPid == 0 && File.GetLastWriteTimeUtc(Path.Combine(h.Dir, "claim")) > DateTime.UtcNow - _options.StartTimeout)
            return new Observation(ObservedState.Running, Detail: "starting");
        return new Observation(ObservedState.Lost, Detail: h.WrapperPid == 0
            ? "the attempt was claimed but its process never started"
            : "the process is gone without an exit status (the machine restarted, or it was killed with its wrapper)");
    }

    private static string RunningDetail(string dir)
    {
        var preempt = Path.Combine(dir, "preempt_at");
        return File.Exists(preempt) ? "running; noticed, deadline " + File.ReadAllText(preempt).Trim() : "running";
    }

    /// <summary>
    /// The wrapper records what sh's wait returns: the exit code, or 128 + the signal that ended the
    /// workload. Codes 129..192 are read as signals (a workload that exits with such a code itself
    /// looks the same; shells do the same).
    /// </summary>
    private static Observation? ReadExit(string dir)
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(dir, "exit")).Trim();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            return new Observation(ObservedState.Lost, Detail: $"unreadable exit status '{text}'");
        var stopped = File.Exists(Path.Combine(dir, "stopped"));
        if (code is > 128 and <= 128 + 64)
        {
            var signal = code - 128;
            return new Observation(ObservedState.Exited, code, signal,
                stopped && signal == Processes.SigKill ? "stopped by Headroom (SIGKILL)" : $"ended by signal {signal.ToString(CultureInfo.InvariantCulture)}");
        }
        return new Observation(ObservedState.Exited, code, null, $"exited with code {code.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the workload's process group, and to any process of its
    /// session that moved to a group of its own. Nothing is sent when the pid now names another
    /// process (reuse: a different start time); once the leader is gone, its group and session ids
    /// cannot be taken by a new process while any member lives, so they still name only the workload.
    /// Returns whether anything got the signal.
    /// </summary>
    private bool SignalWorkload(LocalHandle h, int signal)
    {
        if (h.Pid <= 0)
            return false;
        if (Processes.Read(h.Pid) is { } leader && (h.PidStart == 0 || leader.StartTime != h.PidStart))
        {
            LogPidReused(_logger, h.Dir, h.Pid);
            return false;
        }
        var sent = Send(h, -h.Pid, signal);
        foreach (var member in Processes.InSession(h.Pid))
        {
            if (Processes.Read(member) is { } stat && stat.ProcessGroup != h.Pid)
                sent |= Send(h, member, signal);
        }
        return sent;
    }

    private bool Send(LocalHandle h, int target, int signal)
    {
        var errno = Processes.Signal(target, signal);
        if (errno == Processes.Eperm)
            LogNotPermitted(_logger, h.Dir, target, signal);
        return errno == 0;
    }

    private LocalHandle Parse(string handle)
    {
        var h = LocalHandle.Parse(handle);
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(h.Dir));
        if (!dir.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"The handle's directory is not under this runtime's root {_root}.", nameof(handle));
        return h;
    }

    /// <summary>The handle, with pids it lacks filled in from the wrapper's records.</summary>
    private LocalHandle Resolve(string handle)
    {
        var h = Parse(handle);
        return h.Pid != 0 && h.WrapperPid != 0 ? h : FromRecords(h.Dir);
    }

    private static LocalHandle FromRecords(string dir)
    {
        var (wpid, wst) = ReadRecord(dir, "wrapper");
        var (pid, pst) = ReadRecord(dir, "workload");
        return new LocalHandle(dir, wpid, wst, pid, pst);
    }

    private static (int Pid, long Start) ReadRecord(string dir, string name)
    {
        try
        {
            var parts = File.ReadAllText(Path.Combine(dir, name)).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length == 2
                && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
                return (pid, start);
        }
        catch (FileNotFoundException)
        {
        }
        return (0, 0);
    }

    private async Task<string> ExistingHandleAsync(string dir)
    {
        // The starter writes "handle" within the start timeout after its claim; past that it has crashed.
        var path = Path.Combine(dir, "handle");
        var until = File.GetLastWriteTimeUtc(Path.Combine(dir, "claim")) + _options.StartTimeout + TimeSpan.FromSeconds(2);
        while (!File.Exists(path) && DateTime.UtcNow < until)
            await Task.Delay(Poll, CancellationToken.None);
        // No handle file: the starter crashed between starting and writing it; the wrapper's records say the rest.
        return File.Exists(path) ? File.ReadAllText(path).Trim() : FromRecords(dir).Serialize();
    }

    private static bool NeverStarted(string dir) =>
        !File.Exists(Path.Combine(dir, "handle")) && !File.Exists(Path.Combine(dir, "exit")) && FromRecords(dir).WrapperPid == 0;

    /// <summary>Moves an abandoned claim aside and claims afresh; only one of several callers racing for it wins.</summary>
    private bool TryTakeOverClaim(string dir)
    {
        try
        {
            File.Move(Path.Combine(dir, "claim"), Path.Combine(dir, $"claim.abandoned-{Guid.NewGuid():N}"));
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        return TryClaim(dir);
    }

    private bool TryClaim(string dir)
    {
        try
        {
            using var claim = new FileStream(Path.Combine(dir, "claim"), FileMode.CreateNew, FileAccess.Write);
            claim.Write(Encoding.UTF8.GetBytes($"{Rfc3339(_time.GetUtcNow())} pid {System.Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}\n"));
            return true;
        }
        catch (IOException) when (File.Exists(Path.Combine(dir, "claim")))
        {
            return false;
        }
    }

    /// <summary>The workload's environment: a PATH and HOME, the tenant's variables, then Headroom's, which win.</summary>
    private Dictionary<string, string> JobEnvironment(RuntimeWorkload workload, string dir, string work, string checkpoint)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = _options.DefaultPath,
            ["HOME"] = work,
        };
        foreach (var (key, value) in workload.Environment)
            env[key] = value;
        var placement = workload.Placements[0];
        env["CUDA_VISIBLE_DEVICES"] = string.Join(',', placement.Gpus.Select(g => g.ToString(CultureInfo.InvariantCulture)));
        if (placement.Gpus.Count > 0 && placement.GpuMilli < 1000)
            env["HEADROOM_GPU_MILLI"] = placement.GpuMilli.ToString(CultureInfo.InvariantCulture);
        else
            env.Remove("HEADROOM_GPU_MILLI");
        env["HEADROOM_JOB_ID"] = workload.JobId;
        env["HEADROOM_ATTEMPT"] = workload.Attempt.ToString(CultureInfo.InvariantCulture);
        env["HEADROOM_CHECKPOINT_DIR"] = checkpoint;
        env["HEADROOM_PREEMPT_AT_FILE"] = Path.Combine(dir, "preempt_at");
        return env;
    }

    /// <summary>Why the workload cannot run here, or null.</summary>
    private static string? Check(RuntimeWorkload w)
    {
        if (w.JobId is null || !SafeName().IsMatch(w.JobId) || w.JobId.Contains("..", StringComparison.Ordinal))
            return $"job id '{w.JobId}' cannot name a directory (letters, digits, '.', '_', '-'; at most 128)";
        if (w.Attempt < 1)
            return $"attempt must be 1 or more, not {w.Attempt.ToString(CultureInfo.InvariantCulture)}";
        if (w.Command is null || w.Command.Count == 0 || string.IsNullOrEmpty(w.Command[0]))
            return "command: the local runtime needs a program to run";
        if (w.Command.Any(a => a is null || a.Contains('\0', StringComparison.Ordinal)))
            return "command: arguments must not contain NUL";
        // env(1) would read a first word with '=' as a variable to set.
        if (w.Command[0].Contains('=', StringComparison.Ordinal))
            return $"command: the program name '{w.Command[0]}' must not contain '='";
        foreach (var (key, value) in w.Environment)
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal))
                return $"environment: '{key}' is not a valid variable name";
            if (value is null || value.Contains('\0', StringComparison.Ordinal))
                return $"environment: the value of {key} must not contain NUL";
        }
        if (w.Placements is null || w.Placements.Count == 0)
            return "placement: the local runtime needs one node";
        if (w.Placements.Count > 1)
            return $"placement: the local runtime runs single-node workloads only; this one spans {w.Placements.Count.ToString(CultureInfo.InvariantCulture)} nodes";
        var p = w.Placements[0];
        if (p.Gpus.Any(g => g < 0) || p.Gpus.Distinct().Count() != p.Gpus.Count)
            return "placement: GPU indices must be distinct and not negative";
        if (p.Gpus.Count > 0 && p.GpuMilli is < 1 or > 1000)
            return $"placement: gpu_milli must be in 1..1000, not {p.GpuMilli.ToString(CultureInfo.InvariantCulture)}";
        if (p.Gpus.Count > 1 && p.GpuMilli != 1000)
            return "placement: a fractional share is for one GPU only";
        return null;
    }

    private static (string? Setsid, string? Env, string? Error) FindTools()
    {
        var setsid = Which("setsid");
        var env = Which("env");
        return setsid is null || env is null
            ? (null, null, "the local runtime needs setsid (util-linux) and env (coreutils 8.31 or later) on the control plane's PATH")
            : (setsid, env, null);
    }

    private static string? Which(string program)
    {
        var path = System.Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/bin"))
        {
            var candidate = Path.Combine(dir, program);
            if (Path.IsPathFullyQualified(candidate) && File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static void WriteAtomically(string dir, string name, string content)
    {
        var tmp = Path.Combine(dir, $"{name}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(tmp, content);
        File.Move(tmp, Path.Combine(dir, name), overwrite: true);
    }

    private static string Rfc3339(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFF'Z'", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 5301, Level = LogLevel.Information, Message = "Started job {JobId} attempt {Attempt} as pid {Pid} in {Dir}")]
    private static partial void LogStarted(ILogger logger, string jobId, int attempt, int pid, string dir);

    [LoggerMessage(EventId = 5302, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} was already started; returning its handle, not starting it again")]
    private static partial void LogAlreadyStarted(ILogger logger, string jobId, int attempt);

    [LoggerMessage(EventId = 5303, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt}: the wrapper did not record the workload's pid within {Timeout}; the handle will read it later")]
    private static partial void LogSlowStart(ILogger logger, string jobId, int attempt, TimeSpan timeout);

    [LoggerMessage(EventId = 5304, Level = LogLevel.Information, Message = "Notice to {Dir}: signal {Signal}, deadline {Deadline}, delivered {Delivered}")]
    private static partial void LogNoticed(ILogger logger, string dir, int signal, DateTimeOffset deadline, bool delivered);

    [LoggerMessage(EventId = 5305, Level = LogLevel.Information, Message = "Stop of {Dir}: SIGKILL delivered {Delivered}")]
    private static partial void LogStopped(ILogger logger, string dir, bool delivered);

    [LoggerMessage(EventId = 5307, Level = LogLevel.Warning, Message = "Not permitted to send signal {Signal} to {Target} of {Dir} (a process of another user, e.g. a setuid program)")]
    private static partial void LogNotPermitted(ILogger logger, string dir, int target, int signal);

    [LoggerMessage(EventId = 5306, Level = LogLevel.Warning, Message = "Not signalling {Dir}: pid {Pid} now belongs to another process")]
    private static partial void LogPidReused(ILogger logger, string dir, int pid);
}
