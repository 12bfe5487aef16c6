namespace Headroom.Runtimes.Slurm;

/// <summary>Where an observation came from.</summary>
public enum SlurmObservationSource
{
    /// <summary>slurmctld's memory (<c>scontrol show job</c>): live jobs and those ended less than MinJobAge ago.</summary>
    Controller,

    /// <summary>The accounting record of an ended job (<c>sacct</c>, or <c>sacct -c</c> over the job completion log).</summary>
    Accounting,
}

/// <summary>One snapshot of one Slurm job, with its state in Headroom's words.</summary>
/// <param name="HeadroomJobId">The Headroom job it runs, read from its <c>hr-&lt;id&gt;</c> name; null for other jobs.</param>
/// <param name="Attempt">The Headroom attempt, read from its comment; null where the comment is not Headroom's or not seen (accounting).</param>
/// <param name="SlurmState">Slurm's state as Slurm wrote it (<c>RUNNING</c>, <c>PENDING</c>, ...).</param>
/// <param name="Status">The mapped state; null when Slurm reported a state <see cref="SlurmStates"/> does not know.</param>
/// <param name="Restarts">How often Slurm requeued it (preemption, node failure, scontrol requeue). A rise between
/// two observations is how a preemption with requeue shows.</param>
/// <param name="ExitCode">The workload's exit status once it ended (the batch script passes it through).</param>
/// <param name="ExitSignal">The signal that ended it, if any.</param>
/// <param name="Nodes">Allocated nodes, expanded (empty while pending).</param>
/// <param name="EndTime">When it ended; null while it has not.</param>
/// <param name="PreemptTime">When Slurm started preempting it (the notice); null otherwise.</param>
/// <param name="LogPath">The file its stdout and stderr go to.</param>
public sealed record SlurmJobObservation(
    long SlurmJobId,
    string Name,
    string? HeadroomJobId,
    int? Attempt,
    string SlurmState,
    string? Reason,
    RuntimeJobStatus? Status,
    int Restarts,
    int? ExitCode,
    int? ExitSignal,
    IReadOnlyList<string> Nodes,
    string? Partition,
    DateTimeOffset? StartTime,
    DateTimeOffset? EndTime,
    DateTimeOffset? PreemptTime,
    string? LogPath,
    SlurmObservationSource Source);
