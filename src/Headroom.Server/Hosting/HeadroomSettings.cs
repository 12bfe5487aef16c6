using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Server.Jobs.Slurm;
using Headroom.Server.Models;
using Headroom.Store;

namespace Headroom.Server.Hosting;

/// <summary>
/// Every setting of a control-plane replica, validated as a whole before anything starts
/// (see <see cref="SettingsReader"/>). Immutable once built.
/// </summary>
public sealed record HeadroomSettings
{
    public required string DataDir { get; init; }
    public required string Listen { get; init; }
    public required int Port { get; init; }
    public required StoreConnection Database { get; init; }

    /// <summary>The fleet file; null means "this machine is the fleet" (GPUs from nvidia-smi).</summary>
    public string? FleetFile { get; init; }

    public long MaxRequestBodyBytes { get; init; } = 1 << 20;

    /// <summary>The largest file <c>POST /v1/files</c> takes (the batch input files), and the largest batch output.</summary>
    public long MaxFileBytes { get; init; } = 100 << 20;

    /// <summary>
    /// The program (and its first arguments) a batch's spot job runs, followed by <c>batch-worker ...</c>: this
    /// <c>headroom</c> executable by default (<c>dotnet headroom.dll</c> when run through dotnet).
    /// </summary>
    public IReadOnlyList<string> BatchWorkerCommand { get; init; } = SelfCommand();

    private static string[] SelfCommand()
    {
        var process = Environment.ProcessPath ?? "headroom";
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && Environment.GetCommandLineArgs() is [{ } entry, ..] && entry.EndsWith(".dll", StringComparison.Ordinal)
            ? [process, Path.GetFullPath(entry)]
            : [process];
    }

    /// <summary>How long a replica holds a lease without renewing it; another replica takes over after this.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an Idempotency-Key's first response is kept for replay.</summary>
    public TimeSpan IdempotencyRetention { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long a model call's token journal row is kept after it was metered into the usage ledger.</summary>
    public TimeSpan TokenJournalRetention { get; init; } = TimeSpan.FromDays(7);

    public IReadOnlyList<OidcIssuerSettings> OidcIssuers { get; init; } = [];

    /// <summary>Placement, preemption and notice rules of the scheduler loop.</summary>
    public SchedulerConfig Scheduler { get; init; } = new();

    /// <summary>
    /// Whole GPUs of each pool the operator keeps for its own work: reservations are admitted only within the rest.
    /// Pools not listed keep none. The on-demand caps of the same <c>pools</c> setting are in <see cref="Scheduler"/>.
    /// </summary>
    public ImmutableDictionary<Pool, int> InternalGuarantees { get; init; } = ImmutableDictionary<Pool, int>.Empty;

    /// <summary>How far back fair share between orgs looks at what each used.</summary>
    public TimeSpan FairShareWindow { get; init; } = TimeSpan.FromHours(1);

    /// <summary>A node whose agent sent heartbeats and then none for this long is down; its jobs are lost and requeued.</summary>
    public TimeSpan NodeDownAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A GPU hotter than this makes its node's heartbeat unhealthy, which drains the node.</summary>
    public int MaxGpuTemperatureC { get; init; } = Headroom.Core.Fleet.GpuHealth.DefaultMaxTemperatureC;

    /// <summary>
    /// Whether budget webhooks may be delivered to loopback, private, link-local or other non-public addresses. Off by
    /// default: a tenant's webhook URL must not make the control plane reach into the operator's own network.
    /// </summary>
    public bool WebhooksToPrivateNetworks { get; init; }

    /// <summary>How often the leader runs a scheduling cycle.</summary>
    public TimeSpan SchedulerPeriod { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The Slurm cluster this replica drives as the <c>slurm</c> runtime; null: nodes run by slurm get no work here.</summary>
    public SlurmRuntimeOptions? Slurm { get; init; }

    /// <summary>The Kubernetes cluster this replica drives as the <c>kubernetes</c> runtime; null: nodes run by kubernetes get no work here.</summary>
    public KubernetesRuntimeOptions? Kubernetes { get; init; }

    /// <summary>A name for this replica in leases and logs; defaults to host name and process id.</summary>
    public string ReplicaId { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Hosted models on the OpenAI surface and the limits on calling them.</summary>
    public ModelSettings Models { get; init; } = new();

    /// <summary>Ports, drain and scaling pace of deployments' replicas (docs/models.md#deployments).</summary>
    public Deployments.DeploymentSettings Deployments { get; init; } = new();

    public string AdminKeyPath => Path.Combine(DataDir, "admin.key");

    /// <summary>Where the local runtime keeps each attempt's files and each job's checkpoints.</summary>
    public string JobsDir => Path.Combine(DataDir, "jobs");
}

/// <summary>A trusted OIDC issuer: tokens it signs map to an org and a role through two claims.</summary>
public sealed record OidcIssuerSettings
{
    public required string Name { get; init; }
    public required string Authority { get; init; }
    public required string Audience { get; init; }
    public string OrgClaim { get; init; } = "org";
    public string RoleClaim { get; init; } = "role";
    public bool RequireHttpsMetadata { get; init; } = true;

    /// <summary>The console's client id at this issuer; set, the sign-in page offers "Sign in with" this issuer, and its id tokens (audience = client id) are accepted as bearer tokens too.</summary>
    public string? ClientId { get; init; }

    /// <summary>The console's client secret (a confidential client), sent with HTTP Basic at the token endpoint; null for a public client (PKCE only).</summary>
    public string? ClientSecret { get; init; }

    /// <summary>Where the issuer sends the browser back (<c>https://console.example/signin/oidc/callback</c>); null: this request's own scheme and host.</summary>
    public Uri? RedirectUri { get; init; }
}
