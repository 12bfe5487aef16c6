using System.Text.Json;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Server.Jobs;

/// <summary>
/// What actually starts workloads: local processes, Slurm or Kubernetes. One contract for all:
/// start, notice, stop, observe, logs, and re-attach (observe with a handle persisted before a
/// restart). Expected outcomes are values; an exception means the runtime itself failed.
/// </summary>
public interface IWorkloadRuntime
{
    /// <summary>The runtime's code as nodes name it in the fleet: <c>local</c>, <c>slurm</c>, <c>kubernetes</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Starts one attempt of a workload on the nodes and GPUs the scheduler chose. The returned
    /// handle is persisted with the job and is all the runtime needs later, in this process or
    /// after a restart.
    /// </summary>
    Task<StartOutcome> StartAsync(RuntimeWorkload workload, CancellationToken cancellationToken);

    /// <summary>
    /// Tells a running attempt it is preempted and will be stopped at <paramref name="deadline"/>
    /// (a signal in the workload, and the deadline where the workload can read it).
    /// </summary>
    Task NoticeAsync(string handle, DateTimeOffset deadline, CancellationToken cancellationToken);

    /// <summary>Stops an attempt now (the hard stop at a notice deadline, a cancel, a time limit). Idempotent.</summary>
    Task StopAsync(string handle, CancellationToken cancellationToken);

    /// <summary>What the attempt is doing now. Works on a handle from before a control-plane restart (re-attach).</summary>
    Task<Observation> ObserveAsync(string handle, CancellationToken cancellationToken);

    /// <summary>Reads the attempt's combined stdout/stderr from <paramref name="offset"/> (bytes); empty when there is nothing new.</summary>
    Task<LogChunk> ReadLogsAsync(string handle, long offset, int maxBytes, CancellationToken cancellationToken);
}

/// <summary>One attempt of a workload, as the runtime needs it.</summary>
/// <param name="JobId">Headroom's job id.</param>
/// <param name="Attempt">1 for the first run, +1 for every requeue; the runtime keeps attempts apart.</param>
/// <param name="Command">The program and its arguments (no shell unless the tenant asked for one).</param>
/// <param name="Environment">The tenant's environment variables; the runtime adds HEADROOM_* and CUDA_VISIBLE_DEVICES.</param>
/// <param name="Placements">One per gang member: the node and the GPU indices on it (with the milli-GPU share for fractional GPUs).</param>
/// <param name="CheckpointDir">A directory kept across attempts, given to the workload as HEADROOM_CHECKPOINT_DIR.</param>
public sealed record RuntimeWorkload(
    string JobId,
    int Attempt,
    string OrgId,
    string ProjectId,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyList<RuntimePlacement> Placements,
    TimeSpan? MaxDuration,
    string CheckpointDir)
{
    /// <summary>The job's tier: a runtime with one queue per tier (Slurm partitions) picks it by this.</summary>
    public Tier Tier { get; init; } = Tier.OnDemand;

    /// <summary>The fleet's GPU model of the placed nodes (<c>h100-80gb</c>); null for nodes without GPUs.</summary>
    public string? GpuModel { get; init; }

    /// <summary>The notice grace of the job's tier: how long a runtime's own warnings (a time limit ahead) come before the stop.</summary>
    public TimeSpan NoticeGrace { get; init; }

    /// <summary>CPU (millicores) and memory (MiB) the job asked for on each node; 0 asks for nothing beyond the runtime's default.</summary>
    public int CpuMilliPerNode { get; init; }

    public int MemoryMibPerNode { get; init; }
}

public sealed record RuntimePlacement(string Node, IReadOnlyList<int> Gpus, int GpuMilli);

/// <summary>The result of a start: a handle to persist, or why it could not start.</summary>
public sealed record StartOutcome(string? Handle, string? Error)
{
    public static StartOutcome Started(string handle) => new(handle, null);

    public static StartOutcome Failed(string error) => new(null, error);
}

public enum ObservedState
{
    Running,

    /// <summary>It ended by itself or was stopped; <see cref="Observation.ExitCode"/> says how.</summary>
    Exited,

    /// <summary>The runtime no longer knows it (the process or node is gone without an exit record).</summary>
    Lost,
}

/// <summary>What an attempt is doing; <see cref="Signal"/> is set when it was ended by a signal (e.g. 9 after a hard stop).</summary>
public sealed record Observation(ObservedState State, int? ExitCode = null, int? Signal = null, string Detail = "");

public sealed record LogChunk(byte[] Data, long NextOffset);

/// <summary>Reading back the JSON handles runtimes persist.</summary>
internal static class RuntimeHandles
{
    /// <summary>
    /// Reads a handle the <paramref name="runtime"/> runtime made; throws <see cref="ArgumentException"/> for anything
    /// else, JSON or not, that <paramref name="isValid"/> refuses (a caller bug, not an outcome).
    /// </summary>
    public static T Parse<T>(string handle, string runtime, Func<T, bool> isValid) where T : class
    {
        ArgumentNullException.ThrowIfNull(handle);
        T? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<T>(handle);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Not a {runtime} runtime handle.", nameof(handle), e);
        }
        return parsed is not null && isValid(parsed) ? parsed : throw new ArgumentException($"Not a {runtime} runtime handle.", nameof(handle));
    }

    /// <summary>Whether <paramref name="path"/> is set and absolute, as every path in a handle must be.</summary>
    public static bool IsAbsolute(string? path) => !string.IsNullOrEmpty(path) && Path.IsPathFullyQualified(path);
}
