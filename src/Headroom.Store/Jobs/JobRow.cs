namespace Headroom.Store.Jobs;

/// <summary>
/// A batch job and where it stands. <see cref="Version"/> is an optimistic concurrency token: the
/// scheduler loop and the API change a job only from the version they read, so a decision made on
/// a stale view is refused and re-planned instead of applied twice.
/// </summary>
public sealed class JobRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }
    public required string Name { get; set; }
    public required string Tier { get; set; }
    public required string State { get; set; }

    /// <summary>The deployment this job is a replica of (docs/models.md#deployments); null for a batch job.</summary>
    public string? DeploymentId { get; set; }

    /// <summary>What was asked for, as submitted (JSON); never changes after submission.</summary>
    public required string Spec { get; set; }

    /// <summary>1 for the first run; every requeue starts a new attempt.</summary>
    public int Attempt { get; set; }

    /// <summary>Where the current attempt runs (JSON list of node + GPUs), while it holds capacity.</summary>
    public string? Placement { get; set; }

    public string? Runtime { get; set; }

    /// <summary>The runtime's handle for the current attempt, persisted before it is used so a restart re-attaches.</summary>
    public string? RuntimeHandle { get; set; }

    /// <summary>Why it waits (JSON list of {code, message}), while queued.</summary>
    public string PendingReasons { get; set; } = "[]";

    public int? QueuePosition { get; set; }
    public DateTimeOffset? NoticeDeadline { get; set; }
    public bool CancelRequested { get; set; }
    public int? ExitCode { get; set; }
    public string StateReason { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public long Version { get; set; }
}

/// <summary>One state transition of a job, with its time and reason. Append-only.</summary>
public sealed class JobEventRow
{
    public long Id { get; set; }
    public required string JobId { get; set; }
    public required string OrgId { get; set; }
    public int Attempt { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string FromState { get; set; }
    public required string ToState { get; set; }
    public string Reason { get; set; } = "";

    /// <summary>
    /// On the event that starts an attempt running: where it runs (the job's placement JSON then). The job row forgets
    /// an attempt's placement when it is requeued; metering needs it for the whole attempt.
    /// </summary>
    public string? Placement { get; set; }
}
