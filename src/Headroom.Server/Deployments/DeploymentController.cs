using System.Text.Json;
using Headroom.Core.Deployments;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Gateway.Routing;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Deployments;
using Headroom.Store.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Deployments;

/// <summary>
/// Keeps each deployment's replicas as asked, on the replica that holds the control-loop lease. Each pass, per
/// deployment with replicas (an external URL has none):
/// <list type="number">
/// <item>asks the pure <see cref="Autoscaler"/> for the replica count, from the calls in flight and refused on this
/// replica's routing table (a deleting deployment wants 0);</item>
/// <item>submits replica jobs (tier, GPUs and region from the spec, the command rendered with a free port) until enough
/// are queued or running, unless one failed within <see cref="DeploymentSettings.RestartBackoff"/>;</item>
/// <item>drains the surplus: replicas not running yet are cancelled at once; running ones are marked draining (every
/// routing table stops sending them calls) and cancelled once their calls in flight are done, after at least two sync
/// periods (so other control-plane replicas have seen the drain), or after <see cref="DeploymentSettings.DrainTimeout"/>;
/// the scheduler then stops them and their GPU time is metered like any job's;</item>
/// <item>a deleting deployment with no replica left is deleted.</item>
/// </list>
/// Every write is from the version read; a conflict with the API (a scale or delete at the same moment) re-plans next pass.
/// </summary>
internal sealed partial class DeploymentController(
    Database database,
    Leadership leadership,
    ModelRegistry registry,
    Ids ids,
    HeadroomSettings settings,
    TimeProvider time,
    ILogger<DeploymentController> logger) : LeaderLoop(leadership, time, logger)
{
    private static readonly string Queued = JobState.Queued.ToCode();
    private static readonly string Running = JobState.Running.ToCode();
    private static readonly string Failed = JobState.Failed.ToCode();
    private static readonly string Lost = JobState.Lost.ToCode();

    protected override TimeSpan Period => settings.SchedulerPeriod;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => PassAsync(cancellationToken);

    internal async Task PassAsync(CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var deployments = await db.Deployments.Where(d => d.State != DeploymentCodes.Deleted).OrderBy(d => d.Id).ToListAsync(cancellationToken);
        foreach (var deployment in deployments)
        {
            try
            {
                await ReconcileAsync(db, deployment, cancellationToken);
            }
            catch (DbUpdateConcurrencyException)
            {
                db.ChangeTracker.Clear(); // changed by the API meanwhile: the next pass plans from the new version
            }
        }
    }

    private async Task ReconcileAsync(HeadroomDb db, DeploymentRow deployment, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var spec = DeploymentSpec.Read(deployment);
        if (spec.Command is null)
        {
            if (deployment.State == DeploymentCodes.Deleting)
                Finish(deployment, now);
            await db.SaveChangesAsync(cancellationToken);
            return;
        }

        var active = WorkloadCodes.ActiveCodes;
        var jobs = await db.Jobs.Where(j => j.DeploymentId == deployment.Id && active.Contains(j.State)).OrderBy(j => j.Id).ToListAsync(cancellationToken);
        var draining = JsonSerializer.Deserialize<Dictionary<string, DateTimeOffset>>(deployment.Draining, Json.Options) ?? [];
        foreach (var ended in draining.Keys.Except(jobs.Select(j => j.Id)).ToList())
            draining.Remove(ended);
        var routing = registry.Snapshot(deployment.Model, resetUnserved: true);

        var target = 0;
        if (deployment.State == DeploymentCodes.Active)
        {
            var serving = routing.Replicas.Where(r => !r.Draining).ToList();
            var decision = Autoscaler.Decide(new ScaleSnapshot(deployment.MinReplicas, deployment.MaxReplicas, deployment.DesiredReplicas,
                serving.Sum(r => r.Outstanding), routing.Unserved, spec.TargetConcurrency, deployment.LastScaledAt), now, Settings.ScaleDownDelay);
            if (decision.Desired != deployment.DesiredReplicas)
            {
                LogScaled(logger, deployment.Id, deployment.DesiredReplicas, decision.Desired, decision.Message);
                deployment.DesiredReplicas = decision.Desired;
                deployment.LastScaledAt = now;
                deployment.ScaleReason = JsonSerializer.Serialize(new ScaleReasonView(decision.Reason, decision.Message), Json.Options);
            }
            target = deployment.DesiredReplicas;
        }

        var kept = jobs.Where(j => !draining.ContainsKey(j.Id)).ToList();
        if (kept.Count < target && !await BackingOffAsync(db, deployment, now, cancellationToken))
        {
            var used = await UsedPortsAsync(db, cancellationToken);
            for (var i = kept.Count; i < target; i++)
            {
                if (FreePort(used) is not { } port)
                {
                    LogNoPort(logger, deployment.Id);
                    break;
                }
                used.Add(port);
                SubmitReplica(db, deployment, spec, port, now);
            }
        }
        // Surplus: what is not running yet goes first, then the newest.
        foreach (var job in kept.OrderBy(j => j.State == Running ? 1 : 0).ThenByDescending(j => j.Id).Take(Math.Max(0, kept.Count - target)))
        {
            if (job.State == Running)
                draining[job.Id] = now;
            else
                Stop(db, job, "scaled down before it ran", now);
        }
        foreach (var (jobId, since) in draining)
        {
            var job = jobs.Single(j => j.Id == jobId);
            if (job.CancelRequested)
                continue;
            var outstanding = routing.Replicas.FirstOrDefault(r => r.Name == jobId)?.Outstanding ?? 0;
            var settled = now - since >= 2 * Settings.SyncPeriod;
            if ((settled && outstanding == 0) || now - since >= Settings.DrainTimeout)
                Stop(db, job, outstanding == 0 ? "drained" : $"drain timed out with {outstanding} call(s) in flight", now);
        }

        var drainingJson = JsonSerializer.Serialize(draining, Json.Options);
        if (drainingJson != deployment.Draining)
            deployment.Draining = drainingJson;
        if (deployment.State == DeploymentCodes.Deleting && jobs.Count == 0)
            Finish(deployment, now);
        if (db.ChangeTracker.HasChanges())
        {
            deployment.Version++;
            deployment.UpdatedAt = now;
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    private DeploymentSettings Settings => settings.Deployments;

    private static void Finish(DeploymentRow deployment, DateTimeOffset now)
    {
        deployment.State = DeploymentCodes.Deleted;
        deployment.DeletedAt = now;
        deployment.DesiredReplicas = 0;
    }

    /// <summary>A replica's end, the way the job API cancels: a queued one at once, a placed one by the scheduler's next cycle.</summary>
    private static void Stop(HeadroomDb db, JobRow job, string why, DateTimeOffset now)
    {
        if (job.State == Queued)
        {
            JobTransitions.Move(db, job, JobState.Cancelled, why, now);
            return;
        }
        job.CancelRequested = true;
        job.StateReason = why;
        job.Version++;
    }

    /// <summary>Whether a replica of the deployment failed within the restart backoff.</summary>
    private async Task<bool> BackingOffAsync(HeadroomDb db, DeploymentRow deployment, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var since = now - Settings.RestartBackoff;
        return await db.Jobs.AsNoTracking().AnyAsync(j => j.DeploymentId == deployment.Id && (j.State == Failed || j.State == Lost) && j.EndedAt > since, cancellationToken);
    }

    private static async Task<HashSet<int>> UsedPortsAsync(HeadroomDb db, CancellationToken cancellationToken)
    {
        var active = WorkloadCodes.ActiveCodes;
        var specs = await db.Jobs.AsNoTracking().Where(j => j.DeploymentId != null && active.Contains(j.State)).Select(j => j.Spec).ToListAsync(cancellationToken);
        return [.. specs.Select(s => JsonSerializer.Deserialize<JobSpec>(s, Json.Options)!.Port ?? 0)];
    }

    /// <summary>A port in the range no live replica holds, chosen at random so a port some other program took is not tried first every time.</summary>
    private int? FreePort(HashSet<int> used)
    {
        var size = Settings.LastPort - Settings.FirstPort + 1;
        var start = Random.Shared.Next(size);
        for (var i = 0; i < size; i++)
        {
            var port = Settings.FirstPort + ((start + i) % size);
            if (!used.Contains(port))
                return port;
        }
        return null;
    }

    private void SubmitReplica(HeadroomDb db, DeploymentRow deployment, DeploymentSpec spec, int port, DateTimeOffset now)
    {
        var env = new Dictionary<string, string>(spec.Env, StringComparer.Ordinal) { ["HEADROOM_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var jobSpec = new JobSpec(spec.Render(deployment.Model, port), env, spec.GpusPerReplica, spec.GpuMilli, 1,
            spec.GpuModel is { } m ? [m] : [], 0, 0, spec.Region, null, CheckpointPolicy.None.ToCode(), null, deployment.Id, port);
        var row = new JobRow
        {
            Id = ids.New("job"),
            OrgId = deployment.OrgId,
            ProjectId = deployment.ProjectId,
            Name = $"{deployment.Model} replica",
            Tier = spec.Tier,
            State = Queued,
            StateReason = $"replica of deployment {deployment.Id}",
            Spec = jobSpec.Write(),
            DeploymentId = deployment.Id,
            Attempt = 1,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Jobs.Add(row);
        db.JobEvents.Add(new JobEventRow { JobId = row.Id, OrgId = row.OrgId, Attempt = 1, Time = now, FromState = "", ToState = row.State, Reason = row.StateReason });
        LogReplicaSubmitted(logger, row.Id, deployment.Id, port);
    }

    [LoggerMessage(EventId = 7110, Level = LogLevel.Information, Message = "Deployment {DeploymentId} scaled from {From} to {To} replica(s): {Why}")]
    private static partial void LogScaled(ILogger logger, string deploymentId, int from, int to, string why);

    [LoggerMessage(EventId = 7111, Level = LogLevel.Information, Message = "Submitted replica job {JobId} of deployment {DeploymentId} on port {Port}")]
    private static partial void LogReplicaSubmitted(ILogger logger, string jobId, string deploymentId, int port);

    [LoggerMessage(EventId = 7112, Level = LogLevel.Warning, Message = "Deployment {DeploymentId} needs a replica and no port of the range is free")]
    private static partial void LogNoPort(ILogger logger, string deploymentId);
}
