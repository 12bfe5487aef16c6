namespace Headroom.Core.Fleet;

/// <summary>
/// What starts workloads on a node. The numeric values and the codes in <see cref="FleetCodes"/>
/// are persisted and frozen by a test: add new runtimes at the end, never renumber.
/// </summary>
public enum Runtime
{
    /// <summary>Processes on the machine Headroom runs on.</summary>
    Local = 0,

    Slurm = 1,

    /// <summary>Pods that Headroom binds as their scheduler.</summary>
    Kubernetes = 2,
}
