using System.Collections.Concurrent;
using System.Text.Json;
using Headroom.Core.Workloads;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Routing;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Deployments;
using Headroom.Store.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Deployments;

/// <summary>Who may call a deployment's model and how its tokens are billed, as every control-plane replica knows it.</summary>
internal sealed record CatalogEntry(string DeploymentId, string OrgId, string Billing, string Tier)
{
    public bool VisibleTo(string orgId) => OrgId == orgId || (Billing == DeploymentCodes.Serverless && OrgId == Bootstrap.InternalOrgId);
}

/// <summary>
/// Keeps this control-plane replica's routing table (<see cref="ModelRegistry"/>) in step with the deployments in the
/// store, on every replica (not only the leader: each one routes calls). Each pass:
/// <list type="number">
/// <item>reads the deployments not deleted and their running replica jobs;</item>
/// <item>a running replica joins the registry once one health probe passes (<c>GET /v1/models</c> on
/// <c>http://&lt;node&gt;:&lt;port&gt;/v1</c>, the node being 127.0.0.1 on the local runtime); one the control loop is
/// draining gets no new calls; one whose job is no longer running leaves;</item>
/// <item>an external deployment (<c>url</c>) is one replica at its URL, joining the same way;</item>
/// <item>the model of a deleted deployment is forgotten;</item>
/// <item>every replica is probed, taking failing ones out of rotation and passing ones back in.</item>
/// </list>
/// </summary>
internal sealed partial class ReplicaRouting(
    Database database, ModelRegistry registry, DeploymentSettings settings, TimeProvider time, ILogger<ReplicaRouting> logger) : BackgroundService
{
    private static readonly string Running = JobState.Running.ToCode();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(10) };
    private readonly ConcurrentDictionary<string, CatalogEntry> _catalog = new(StringComparer.Ordinal);

    // model → replica names this loop added (only the loop touches it).
    private readonly Dictionary<string, HashSet<string>> _managed = new(StringComparer.Ordinal);

    /// <summary>The deployment serving <paramref name="model"/>; null for a model loaded in process.</summary>
    public CatalogEntry? Find(string model) => _catalog.TryGetValue(model, out var entry) ? entry : null;

    /// <summary>The base URL (<c>.../v1</c>) of a running replica job, from its node and port.</summary>
    public static string? ReplicaUrl(JobRow job, IReadOnlyDictionary<string, string> nodeRuntimes)
    {
        if (job.Placement is null || JobSpec.Read(job).Port is not { } port)
            return null;
        var node = NodeOf(job);
        var host = nodeRuntimes.TryGetValue(node, out var runtime) && runtime == "local" ? "127.0.0.1" : node;
        return $"http://{host}:{port}/v1";
    }

    private static string NodeOf(JobRow job) => JsonSerializer.Deserialize<List<PlacementView>>(job.Placement!, Json.Options)![0].Node;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.SyncPeriod, time);
        try
        {
            do
            {
                try
                {
                    await SyncAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogSyncFailed(logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    internal async Task SyncAsync(CancellationToken cancellationToken)
    {
        List<DeploymentRow> deployments;
        List<JobRow> replicas;
        Dictionary<string, string> nodes, nodeRegions;
        await using (var db = database.Open())
        {
            deployments = await db.Deployments.AsNoTracking().Where(d => d.State != DeploymentCodes.Deleted).ToListAsync(cancellationToken);
            replicas = await db.Jobs.AsNoTracking().Where(j => j.DeploymentId != null && j.State == Running).ToListAsync(cancellationToken);
            var fleet = await db.Nodes.AsNoTracking().Select(n => new { n.Name, n.Runtime, n.Region }).ToListAsync(cancellationToken);
            nodes = fleet.ToDictionary(n => n.Name, n => n.Runtime);
            nodeRegions = fleet.ToDictionary(n => n.Name, n => n.Region);
        }

        foreach (var gone in _catalog.Keys.Except(deployments.Select(d => d.Model)).ToList())
        {
            _catalog.TryRemove(gone, out _);
            registry.Forget(gone);
            _managed.Remove(gone);
        }
        foreach (var deployment in deployments)
        {
            var spec = DeploymentSpec.Read(deployment);
            _catalog[deployment.Model] = new CatalogEntry(deployment.Id, deployment.OrgId, deployment.Billing, spec.Tier);
            var managed = _managed.TryGetValue(deployment.Model, out var m) ? m : _managed[deployment.Model] = new HashSet<string>(StringComparer.Ordinal);
            // Listed (and answering 503) before its first replica joins, with the capabilities its replicas will have.
            registry.Declare(deployment.Model, Engine(new Uri("http://127.0.0.1/v1"), spec).Capabilities);

            // name → URL of what should serve now.
            var wanted = new Dictionary<string, (string Url, string? Region)>(StringComparer.Ordinal);
            if (spec.Url is { } external)
                wanted[deployment.Id] = (external, spec.Region);
            var draining = JsonSerializer.Deserialize<Dictionary<string, DateTimeOffset>>(deployment.Draining, Json.Options) ?? [];
            foreach (var job in replicas.Where(j => j.DeploymentId == deployment.Id))
            {
                if (ReplicaUrl(job, nodes) is { } replicaUrl)
                    wanted[job.Id] = (replicaUrl, nodeRegions.GetValueOrDefault(NodeOf(job)));
            }

            foreach (var name in managed.Except(wanted.Keys).ToList())
            {
                registry.Remove(deployment.Model, name);
                managed.Remove(name);
                LogLeft(logger, name, deployment.Model);
            }
            foreach (var (name, (url, region)) in wanted)
            {
                if (managed.Contains(name))
                {
                    if (draining.ContainsKey(name))
                        registry.Drain(deployment.Model, name);
                    continue;
                }
                if (draining.ContainsKey(name))
                    continue;
                var engine = Engine(new Uri(url), spec);
                if (!await PassesAsync(engine, cancellationToken))
                    continue;
                registry.Add(deployment.Model, engine, name, region);
                managed.Add(name);
                LogJoined(logger, name, deployment.Model, url);
            }
        }
        await registry.RefreshHealthAsync(cancellationToken);
    }

    private IInferenceEngine Engine(Uri baseUrl, DeploymentSpec spec) => InferenceEngines.OpenAiUpstream(_http, baseUrl, spec.UpstreamModel);

    private static async Task<bool> PassesAsync(IInferenceEngine engine, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await engine.CheckHealthAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "A pass of the deployment routing sync failed; the next pass retries")]
    private static partial void LogSyncFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Replica {Replica} of {Model} joined the routing table at {Url}")]
    private static partial void LogJoined(ILogger logger, string replica, string model, string url);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Information, Message = "Replica {Replica} of {Model} left the routing table")]
    private static partial void LogLeft(ILogger logger, string replica, string model);
}
