using Headroom.Core.Workloads;

namespace Headroom.Runtimes;

/// <summary>A runtime's view of a job in Headroom's states (<see cref="JobState"/>), and why, in words an operator or tenant can read.</summary>
public sealed record RuntimeJobStatus(JobState State, string Reason)
{
    /// <summary>Whether this run has ended (preempted and lost runs may be followed by another attempt).</summary>
    public bool IsTerminal => State.IsFinal();
}
