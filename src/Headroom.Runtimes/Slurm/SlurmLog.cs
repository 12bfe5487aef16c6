using Microsoft.Extensions.Logging;

namespace Headroom.Runtimes.Slurm;

/// <summary>The Slurm runtime's log events. Ids 4100-4199 are this runtime's and never reused.</summary>
internal static partial class SlurmLog
{
    [LoggerMessage(4100, LogLevel.Information, "Submitted Headroom job {JobId} as Slurm job {SlurmJobId} ({Tier}, {NodeCount} node(s) x {GpusPerNode} GPU(s))")]
    public static partial void Submitted(ILogger logger, string jobId, long slurmJobId, string tier, int nodeCount, int gpusPerNode);

    [LoggerMessage(4101, LogLevel.Warning, "Slurm rejected Headroom job {JobId}: {Message}")]
    public static partial void SubmitRejected(ILogger logger, string jobId, string message);

    [LoggerMessage(4102, LogLevel.Warning, "Slurm unavailable ({Tool}): {Message}")]
    public static partial void Unavailable(ILogger logger, string tool, string message);

    [LoggerMessage(4103, LogLevel.Information, "Signalled Slurm job {SlurmJobId} ({Options})")]
    public static partial void Signalled(ILogger logger, long slurmJobId, string options);
}
