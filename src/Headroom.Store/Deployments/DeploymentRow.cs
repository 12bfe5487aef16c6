namespace Headroom.Store.Deployments;

/// <summary>
/// A hosted model served by replicas (docs/models.md#deployments). Each replica is a job (<c>jobs.deployment_id</c>);
/// the control loop keeps <see cref="DesiredReplicas"/> of them alive, between <see cref="MinReplicas"/> and
/// <see cref="MaxReplicas"/>. <see cref="Version"/> is an optimistic concurrency token: the API (scale, delete) and the
/// control loop (autoscale, drain) change a deployment only from the version they read.
/// </summary>
public sealed class DeploymentRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }

    /// <summary>The name callers use on the OpenAI surface; unique among deployments not deleted.</summary>
    public required string Model { get; set; }

    public required string Engine { get; set; }

    /// <summary><c>serverless</c> (shared, billed per token) or <c>dedicated</c> (the org's own replicas, billed per GPU-second).</summary>
    public required string Billing { get; set; }

    /// <summary>What was asked for (JSON): command template or URL, GPUs, region, tier, target concurrency.</summary>
    public required string Spec { get; set; }

    public int MinReplicas { get; set; }
    public int MaxReplicas { get; set; }
    public int DesiredReplicas { get; set; }

    /// <summary><c>active</c>, <c>deleting</c> (draining its replicas) or <c>deleted</c>.</summary>
    public required string State { get; set; }

    /// <summary>The autoscaler's last decision (JSON {reason, message}).</summary>
    public string ScaleReason { get; set; } = "{}";

    /// <summary>Replica jobs being drained (JSON map job id → when the drain began): they take no new calls and are stopped once idle.</summary>
    public string Draining { get; set; } = "{}";

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset LastScaledAt { get; set; }
    public DateTimeOffset? DeletedAt { get; set; }
    public long Version { get; set; }
}
