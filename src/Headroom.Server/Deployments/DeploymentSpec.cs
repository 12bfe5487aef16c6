using System.Globalization;
using System.Text.Json;
using Headroom.Server.Api;
using Headroom.Store.Deployments;

namespace Headroom.Server.Deployments;

/// <summary>What a tenant sends to <c>POST /v1/deployments</c>; absent fields take the defaults in docs/models.md#deployments.</summary>
public sealed record CreateDeploymentRequest(
    string? Model,
    string? ProjectId,
    string? Engine,
    string? Billing,
    string? Source,
    string? UpstreamModel,
    IReadOnlyList<string>? Command,
    string? Url,
    IReadOnlyDictionary<string, string>? Env,
    int? MinReplicas,
    int? MaxReplicas,
    int? GpusPerReplica,
    int? GpuMilli,
    string? GpuModel,
    string? Region,
    string? Tier,
    int? TargetConcurrency);

/// <summary><c>PATCH /v1/deployments/{id}</c>: new bounds for the autoscaler (absent fields keep theirs).</summary>
public sealed record ScaleDeploymentRequest(int? MinReplicas, int? MaxReplicas, int? TargetConcurrency);

/// <summary>The validated spec, stored with the deployment as JSON. Either <see cref="Command"/> (replicas run on the fleet) or <see cref="Url"/> (an engine already running elsewhere).</summary>
public sealed record DeploymentSpec(
    string Source,
    string UpstreamModel,
    IReadOnlyList<string>? Command,
    string? Url,
    IReadOnlyDictionary<string, string> Env,
    int GpusPerReplica,
    int GpuMilli,
    string? GpuModel,
    string? Region,
    string Tier,
    int TargetConcurrency)
{
    public static DeploymentSpec Read(DeploymentRow row) => JsonSerializer.Deserialize<DeploymentSpec>(row.Spec, Json.Options)!;

    public string Write() => JsonSerializer.Serialize(this, Json.Options);

    /// <summary>The placeholders a command template may use, each replaced in every argument.</summary>
    public static readonly IReadOnlyList<string> Placeholders = ["{port}", "{model}", "{name}", "{upstream_model}", "{gpus}"];

    /// <summary>
    /// The command of one replica: <c>{port}</c> its port, <c>{model}</c> the model source, <c>{name}</c> the name callers
    /// use, <c>{upstream_model}</c> the name the engine should serve it under, <c>{gpus}</c> its whole GPUs.
    /// </summary>
    public IReadOnlyList<string> Render(string name, int port) => [.. Command!.Select(part => part
        .Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{model}", Source, StringComparison.Ordinal)
        .Replace("{name}", name, StringComparison.Ordinal)
        .Replace("{upstream_model}", UpstreamModel, StringComparison.Ordinal)
        .Replace("{gpus}", GpusPerReplica.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))];
}

/// <summary>Codes stored in <c>deployments.state</c> and <c>deployments.billing</c>; frozen by a test.</summary>
public static class DeploymentCodes
{
    public const string Active = "active";
    public const string Deleting = "deleting";
    public const string Deleted = "deleted";
    public const string Serverless = "serverless";
    public const string Dedicated = "dedicated";
    public const string OpenAiUpstream = "openai-upstream";

    /// <summary>The engine of the models <c>headroom up</c> loads in its own process (listed as system deployments, read-only).</summary>
    public const string InProcess = "in-process";
}

/// <summary>The control plane's knobs for deployments (not in the settings file: the defaults suit one box and a fleet alike).</summary>
public sealed record DeploymentSettings
{
    /// <summary>Ports handed to replicas, one per replica not yet ended; a replica gets <c>{port}</c> and <c>HEADROOM_PORT</c>.</summary>
    public int FirstPort { get; init; } = 20000;

    public int LastPort { get; init; } = 29999;

    /// <summary>How often every control-plane replica syncs its routing table with the running replicas and probes them.</summary>
    public TimeSpan SyncPeriod { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest a draining replica waits for its calls in flight before it is stopped anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long the load must stay low before the autoscaler removes a replica.</summary>
    public TimeSpan ScaleDownDelay { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>After a replica fails, how long before another is started in its place (a command that crashes does not spin).</summary>
    public TimeSpan RestartBackoff { get; init; } = TimeSpan.FromSeconds(5);
}

public sealed record ReplicaView(string JobId, string State, string? Url, bool Ready, bool Draining);

public sealed record ScaleReasonView(string? Reason, string? Message);

public sealed record DeploymentView(
    string Id,
    string? OrgId,
    string? ProjectId,
    string Model,
    string Engine,
    string Billing,
    string State,
    bool System,
    string? Source,
    string? UpstreamModel,
    IReadOnlyList<string>? Command,
    string? Url,
    int MinReplicas,
    int MaxReplicas,
    int DesiredReplicas,
    int ReadyReplicas,
    int GpusPerReplica,
    int GpuMilli,
    string? GpuModel,
    string? Region,
    string? Tier,
    int TargetConcurrency,
    ScaleReasonView? Scale,
    IReadOnlyList<ReplicaView> Replicas,
    DateTimeOffset? CreatedAt,
    DateTimeOffset? DeletedAt)
{
    public string Object => "deployment";
}
