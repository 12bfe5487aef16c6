namespace Headroom.Core.Scheduling.Tiered;

/// <summary>
/// How a workload holds capacity, in increasing precedence. The numeric values are persisted
/// and frozen by a test: a higher value always outranks a lower one.
/// </summary>
public enum Tier
{
    /// <summary>Preemptible by any higher tier, after a notice and once its minimum run time has passed.</summary>
    Spot = 0,

    /// <summary>Never preempted; bounded per pool by the operator's on-demand cap.</summary>
    OnDemand = 1,

    /// <summary>Runs only inside its reservation's capacity block; never preempted.</summary>
    Reserved = 2,

    /// <summary>The operator's own work: any GPU that is free or held by spot.</summary>
    Internal = 3,
}

/// <summary>What happens to a workload that is preempted.</summary>
public enum CheckpointPolicy
{
    /// <summary>Stopped for good; its work since the start is lost.</summary>
    None = 0,

    /// <summary>Goes back to the queue and resumes from its last checkpoint.</summary>
    Requeue = 1,
}
