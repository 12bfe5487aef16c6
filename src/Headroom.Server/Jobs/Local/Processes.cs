using System.Globalization;
using System.Runtime.InteropServices;

namespace Headroom.Server.Jobs.Local;

/// <summary>What /proc/&lt;pid&gt;/stat says about a process: enough to tell it apart from a later process with the same pid.</summary>
/// <param name="State">The state letter (R, S, D, Z, ...); Z and X mean it has ended.</param>
/// <param name="StartTime">Field 22: clock ticks after boot when it started; with the pid, it names one process for the life of the machine.</param>
internal sealed record ProcStat(int Pid, char State, int ProcessGroup, int Session, long StartTime)
{
    public bool Ended => State is 'Z' or 'X' or 'x';
}

/// <summary>Linux processes as the local runtime needs them: /proc and kill(2). No shelling out.</summary>
internal static class Processes
{
    public const int SigKill = 9;

    // Linux numbers (the same on x86-64 and arm64 for these).
    private static readonly Dictionary<string, int> SignalNumbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["KILL"] = 9, ["USR1"] = 10, ["USR2"] = 12, ["TERM"] = 15,
        ["CONT"] = 18, ["STOP"] = 19, ["WINCH"] = 28, ["PWR"] = 30,
    };

    public const int Eperm = 1;
    public const int Esrch = 3;

    /// <summary>A signal by name (<c>TERM</c>, <c>SIGTERM</c>, case-insensitive) or number; null when unknown.</summary>
    public static int? ParseSignal(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
            return null;
        var n = name.Trim();
        if (int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return number is >= 1 and <= 64 ? number : null;
        if (n.StartsWith("SIG", StringComparison.OrdinalIgnoreCase))
            n = n[3..];
        return SignalNumbers.TryGetValue(n, out var known) ? known : null;
    }

    /// <summary>Reads /proc/&lt;pid&gt;/stat; null when there is no such process (or it cannot be read).</summary>
    public static ProcStat? Read(int pid)
    {
        if (pid <= 0)
            return null;
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return Parse(pid, text);
    }

    /// <summary>
    /// Parses a stat line. The command name (field 2) is in parentheses and may itself hold spaces and
    /// parentheses, so fields are counted from the last ')'.
    /// </summary>
    public static ProcStat? Parse(int pid, string text)
    {
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 > text.Length)
            return null;
        var fields = text[(close + 2)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); field N is fields[N - 3].
        if (fields.Length < 20 || fields[0].Length != 1)
            return null;
        if (!int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pgrp)
            || !int.TryParse(fields[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var session)
            || !long.TryParse(fields[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start))
            return null;
        return new ProcStat(pid, fields[0][0], pgrp, session, start);
    }

    /// <summary>Is <paramref name="pid"/> still the process that started at <paramref name="startTime"/>, and not ended?</summary>
    public static bool IsAlive(int pid, long startTime) =>
        Read(pid) is { } stat && startTime != 0 && stat.StartTime == startTime && !stat.Ended;

    /// <summary>Every process whose session is <paramref name="session"/> (a workload's members that moved to process groups of their own).</summary>
    public static List<int> InSession(int session)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            if (Read(pid) is { Session: var s, Ended: false } && s == session)
                members.Add(pid);
        }
        return members;
    }

    /// <summary>
    /// kill(2). Returns 0 when sent, or the errno for the expected failures: ESRCH (nobody there) and
    /// EPERM (a process that is not ours, e.g. a setuid program the workload ran). Anything else
    /// (EINVAL: no such signal) throws.
    /// </summary>
    public static int Signal(int pid, int signal)
    {
        if (NativeMethods.Kill(pid, signal) == 0)
            return 0;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is Esrch or Eperm)
            return errno;
        throw new IOException($"kill({pid.ToString(CultureInfo.InvariantCulture)}, {signal.ToString(CultureInfo.InvariantCulture)}) failed with errno {errno.ToString(CultureInfo.InvariantCulture)}");
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int sig);
    }
}
