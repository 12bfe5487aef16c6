namespace Headroom.Runtimes.Slurm;

/// <summary>What came of a submission. Every case is an expected outcome; none is thrown.</summary>
public abstract record SubmitResult
{
    private SubmitResult()
    {
    }

    /// <summary>Slurm accepted the job under this id.</summary>
    public sealed record Submitted(long SlurmJobId) : SubmitResult;

    /// <summary>The spec cannot be rendered; nothing was sent to Slurm.</summary>
    public sealed record Invalid(IReadOnlyList<SpecError> Errors) : SubmitResult;

    /// <summary>Slurm refused the job (unknown partition or GRES, node not in partition, limits); retrying will not help.</summary>
    public sealed record Rejected(string Message) : SubmitResult;

    /// <summary>Slurm could not be asked (controller down, timeout); the job may be retried.</summary>
    public sealed record Unavailable(string Message) : SubmitResult;
}

/// <summary>What came of asking Slurm about one job.</summary>
public abstract record ObserveResult
{
    private ObserveResult()
    {
    }

    public sealed record Found(SlurmJobObservation Job) : ObserveResult;

    /// <summary>Neither the controller nor accounting knows the job: it is gone (lost, if Headroom still expected it).</summary>
    public sealed record NotFound : ObserveResult;

    public sealed record Unavailable(string Message) : ObserveResult;
}

/// <summary>What came of a signal or cancel.</summary>
public abstract record SignalResult
{
    private SignalResult()
    {
    }

    /// <summary>Slurm took the request (for a job that already ended this is a no-op).</summary>
    public sealed record Sent : SignalResult;

    public sealed record NotFound : SignalResult;

    public sealed record Rejected(string Message) : SignalResult;

    public sealed record Unavailable(string Message) : SignalResult;
}

/// <summary>Every Slurm job the controller still holds for one Headroom job (a re-attach after a restart).</summary>
/// <param name="Failure">Why Slurm could not be asked; null when the list is complete.</param>
public sealed record FindResult(IReadOnlyList<SlurmJobObservation> Jobs, string? Failure);
