using System.Globalization;

namespace Headroom.Runtimes.Slurm;

/// <summary>Parsers for what Slurm's tools print. Pure; tested on captured output of Slurm 22.05.</summary>
internal static class SlurmOutput
{
    // Keys `scontrol show job -o` prints. A "Key=" inside a free-text value (a comment, a path) does not
    // start a field unless the key is one of these.
    private static readonly HashSet<string> ScontrolKeys = new(StringComparer.Ordinal)
    {
        "JobId", "ArrayJobId", "ArrayTaskId", "ArrayTaskThrottle", "HetJobId", "HetJobOffset", "HetJobIdSet",
        "JobName", "UserId", "GroupId", "MCS_label", "Priority", "Nice", "Account", "QOS", "JobState", "Reason",
        "Dependency", "Requeue", "Restarts", "BatchFlag", "Reboot", "ExitCode", "DerivedExitCode", "RunTime",
        "TimeLimit", "TimeMin", "SubmitTime", "EligibleTime", "AccrueTime", "StartTime", "EndTime", "Deadline",
        "PreemptEligibleTime", "PreemptTime", "SuspendTime", "SecsPreSuspend", "LastSchedEval", "Scheduler",
        "Partition", "AllocNode:Sid", "ReqNodeList", "ExcNodeList", "NodeList", "SchedNodeList", "BatchHost",
        "NumNodes", "NumCPUs", "NumTasks", "CPUs/Task", "ReqB:S:C:T", "TRES", "Socks/Node", "NtasksPerN:B:S:C",
        "CoreSpec", "MinCPUsNode", "MinMemoryCPU", "MinMemoryNode", "MinTmpDiskNode", "Features", "Prefer",
        "ClusterFeatures", "DelayBoot", "OverSubscribe", "Contiguous", "Licenses", "Network", "Command", "WorkDir",
        "AdminComment", "SystemComment", "Comment", "StdErr", "StdIn", "StdOut", "Power", "TresPerNode",
        "TresPerJob", "TresPerTask", "TresPerSocket", "CpusPerTres", "MemPerTres", "TresBind", "TresFreq",
        "Reservation", "BurstBuffer", "BurstBufferState", "MailUser", "MailType", "NtasksPerTRES", "Container",
        "ContainerID", "KillOInInvalidDependent", "OOMKillStep", "CpuFreqMin", "CpuFreqMax", "CpuFreqGov",
    };

    private static readonly HashSet<string> FreeText = new(StringComparer.Ordinal)
    {
        "JobName", "Comment", "AdminComment", "SystemComment", "WorkDir", "Command", "StdErr", "StdIn", "StdOut", "Reason",
    };

    /// <summary>Splits one line of <c>scontrol show job -o</c> into its fields (values may hold spaces).</summary>
    public static Dictionary<string, string> ParseScontrolLine(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        string? key = null;
        var value = new List<string>();
        foreach (var token in line.Trim().Split(' '))
        {
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            var candidate = eq > 0 ? token[..eq] : null;
            var startsField = candidate is not null
                && (ScontrolKeys.Contains(candidate) || (key is not null && !FreeText.Contains(key) && LooksLikeKey(candidate)));
            if (startsField || key is null)
            {
                Flush();
                key = candidate ?? token;
                value.Add(eq > 0 ? token[(eq + 1)..] : "");
            }
            else
            {
                value.Add(token);
            }
        }
        Flush();
        return fields;

        void Flush()
        {
            if (key is not null)
            {
                fields[key] = string.Join(' ', value).TrimEnd();
            }
            value.Clear();
        }
    }

    public static SlurmJobObservation? FromScontrol(string line)
    {
        var f = ParseScontrolLine(line);
        if (!f.TryGetValue("JobId", out var idText) || !long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || !f.TryGetValue("JobState", out var state))
        {
            return null;
        }
        var reason = Value(f, "Reason");
        var preemptTime = Time(Value(f, "PreemptTime"));
        var status = SlurmStates.Map(state, reason, Value(f, "SchedNodeList") is not null, preemptTime is not null);
        var (exit, signal) = ExitCode(Value(f, "ExitCode"));
        var ended = status?.IsTerminal == true;
        var name = Value(f, "JobName") ?? "";
        return new SlurmJobObservation(
            id, name, HeadroomJobId(name), Attempt(Value(f, "Comment")), state, reason, status,
            int.TryParse(Value(f, "Restarts"), NumberStyles.None, CultureInfo.InvariantCulture, out var restarts) ? restarts : 0,
            ended ? exit : null, ended ? signal : null,
            Hostlist.Expand(Value(f, "NodeList")), Value(f, "Partition"),
            Time(Value(f, "StartTime")), ended ? Time(Value(f, "EndTime")) : null, preemptTime,
            Value(f, "StdOut"), SlurmObservationSource.Controller);
    }

    /// <summary>The fields asked of sacct, in this order (<c>-P -n -o</c>); all are in the completion log too.</summary>
    public const string SacctFields = "JobID,JobName,State,ExitCode,NodeList,Start,End,Partition";

    /// <summary>
    /// Reads <c>sacct -P -n -o <see cref="SacctFields"/></c> for one job. The job completion log keeps one
    /// line per run (a requeued job has one per preemption), so the last line is the job's end and the
    /// earlier ones count its restarts.
    /// </summary>
    public static SlurmJobObservation? FromSacct(string output, long slurmJobId)
    {
        var idText = slurmJobId.ToString(CultureInfo.InvariantCulture);
        var runs = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split('|'))
            .Where(cells => cells.Length >= 8 && cells[0] == idText)
            .ToList();
        if (runs.Count == 0)
        {
            return null;
        }
        var last = runs[^1];
        // sacct writes "CANCELLED by 0" for a cancel by uid 0.
        var state = last[2].Split(' ')[0];
        var status = SlurmStates.Map(state);
        var (exit, signal) = ExitCode(last[3]);
        return new SlurmJobObservation(
            slurmJobId, last[1], HeadroomJobId(last[1]), null, state, null, status, runs.Count - 1, exit, signal,
            Hostlist.Expand(last[4]), last[7] is { Length: > 0 } p ? p : null, Time(last[5]), Time(last[6]), null, null,
            SlurmObservationSource.Accounting);
    }

    /// <summary>Slurm's <c>code:signal</c>.</summary>
    public static (int? Code, int? Signal) ExitCode(string? text)
    {
        if (text is null)
        {
            return (null, null);
        }
        var parts = text.Split(':');
        int? code = int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : null;
        int? signal = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s != 0 ? s : null;
        return (code, signal);
    }

    /// <summary>Slurm prints local times without an offset; "Unknown", "None" and "N/A" mean none.</summary>
    public static DateTimeOffset? Time(string? text) =>
        text is not null && DateTime.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var local)
            ? new DateTimeOffset(local).ToUniversalTime()
            : null;

    /// <summary>The attempt in a Headroom comment (<c>headroom:job=…,attempt=N,…</c>).</summary>
    public static int? Attempt(string? comment)
    {
        if (comment is null || !comment.StartsWith("headroom:", StringComparison.Ordinal))
        {
            return null;
        }
        var field = comment["headroom:".Length..].Split(',').FirstOrDefault(f => f.StartsWith("attempt=", StringComparison.Ordinal));
        return field is not null && int.TryParse(field["attempt=".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var attempt) ? attempt : null;
    }

    public static string? HeadroomJobId(string name) =>
        name.StartsWith("hr-", StringComparison.Ordinal) && name.Length > 3 ? name[3..] : null;

    private static string? Value(Dictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var value) && value is not ("" or "(null)" or "None" or "N/A" or "Unknown") ? value : null;

    private static bool LooksLikeKey(string candidate) =>
        candidate.Length > 0 && char.IsAsciiLetterUpper(candidate[0]) && candidate.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '/' or ':');
}
