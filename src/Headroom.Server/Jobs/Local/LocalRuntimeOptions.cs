namespace Headroom.Server.Jobs.Local;

/// <summary>Settings of the <c>local</c> runtime.</summary>
internal sealed record LocalRuntimeOptions
{
    /// <summary>Where attempts keep their files: <c>&lt;Root&gt;/&lt;job id&gt;/attempt-&lt;n&gt;/</c>. Usually <c>&lt;data dir&gt;/jobs</c>; a relative path is taken from the current directory once, at construction.</summary>
    public required string Root { get; init; }

    /// <summary>The signal a notice sends to the workload's process group: a name (<c>TERM</c>, <c>SIGUSR1</c>) or a number.</summary>
    public string NoticeSignal { get; init; } = "TERM";

    /// <summary>PATH a workload gets when its own environment does not set one.</summary>
    public string DefaultPath { get; init; } = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>How long a start waits for the wrapper to record the workload's pid before it hands back a handle without it.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a stop waits for the exit status to be recorded after SIGKILL, so that an observe right after sees it.</summary>
    public TimeSpan StopWait { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Every problem with these settings; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Root))
            problems.Add("local runtime: root (the directory for job files) is required");
        if (Processes.ParseSignal(NoticeSignal) is null)
            problems.Add($"local runtime: notice signal '{NoticeSignal}' is not a signal name (TERM, USR1, ...) or number 1..64");
        if (StartTimeout <= TimeSpan.Zero)
            problems.Add("local runtime: start timeout must be positive");
        if (StopWait < TimeSpan.Zero)
            problems.Add("local runtime: stop wait must not be negative");
        return problems;
    }
}
