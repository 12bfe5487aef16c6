using System.Collections.Immutable;
using System.Text.Json;
using Headroom.Core.Fleet;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Server.Reservations;
using Headroom.Store;
using Headroom.Store.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Jobs;

/// <summary>
/// The scheduler cycle, on the replica that holds the control-loop lease. Each cycle:
/// 1. carries forward jobs caught between steps (scheduled or starting: start again, which the
///    runtime makes idempotent per attempt, so nothing runs twice after a crash);
/// 2. observes running jobs on their runtimes and records how they ended;
/// 3. stops jobs whose cancel was asked for;
/// 4. asks the pure <see cref="TieredScheduler"/> for a plan over a snapshot of the fleet and jobs;
/// 5. applies it in order: stops (requeueing where the job asked), notices, starts, and the
///    pending reasons and queue positions of what waits.
/// Every change goes through <see cref="JobTransitions"/> with the version read, so a stale
/// decision fails instead of applying twice; the next cycle re-plans from fresh state.
/// </summary>
internal sealed partial class JobScheduler(
    Database database,
    Leadership leadership,
    JobRuntimes runtimes,
    HeadroomSettings settings,
    TimeProvider time,
    ILogger<JobScheduler> logger) : LeaderLoop(leadership, time, logger)
{
    private static readonly string Queued = JobState.Queued.ToCode();
    private static readonly string Scheduled = JobState.Scheduled.ToCode();
    private static readonly string Starting = JobState.Starting.ToCode();
    private static readonly string Running = JobState.Running.ToCode();
    private static readonly string Down = NodeState.Down.ToCode();
    private int _cycle;

    protected override TimeSpan Period => settings.SchedulerPeriod;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => CycleAsync(cancellationToken);

    internal async Task CycleAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await using var db = database.Open();
        var active = WorkloadCodes.ActiveCodes;
        var jobs = await db.Jobs.Where(j => active.Contains(j.State)).OrderBy(j => j.Id).ToListAsync(cancellationToken);

        foreach (var job in jobs.Where(j => j.State == Scheduled || j.State == Starting))
            await StartAsync(db, job, now, cancellationToken);
        var downNodes = await db.Nodes.AsNoTracking().Where(n => n.State == Down).ToDictionaryAsync(n => n.Name, n => n.StateReason, cancellationToken);
        foreach (var job in jobs.Where(j => j.State == Running))
            await ObserveAsync(db, job, downNodes, now, cancellationToken);
        foreach (var job in jobs.Where(j => j.CancelRequested && j.State == Running))
        {
            await runtimes.For(job.Runtime)!.StopAsync(job.RuntimeHandle!, cancellationToken);
            JobTransitions.Move(db, job, JobState.Cancelled, "cancelled", now);
            await db.SaveChangesAsync(cancellationToken);
        }

        var nodes = await db.Nodes.AsNoTracking().Where(n => n.State != Down && n.GpuCount > 0).ToListAsync(cancellationToken);
        // Only nodes whose runtime this replica drives can take work.
        var usable = nodes.Where(n => runtimes.For(n.Runtime) is not null).Select(n => new SchedulingNode(
            n.Name, n.Region, n.GpuModel, n.GpuCount, (int)Math.Min(int.MaxValue, n.CpuMilli), (int)Math.Min(int.MaxValue, n.MemoryMib))
        {
            Labels = (JsonSerializer.Deserialize<Dictionary<string, string>>(n.Labels) ?? []).ToImmutableDictionary(),
            Schedulable = n.State == NodeState.Ready.ToCode(),
        }).ToImmutableArray();

        var live = jobs.Where(j => WorkloadCodes.TryParseJobState(j.State, out var s) && (s.HoldsCapacity() || s == JobState.Queued)).ToList();
        var running = live.Where(j => j.State != Queued && j.Placement is not null).Select(j => new RunningWorkload(
            JobSpec.Read(j).ToWorkload(j),
            [.. JsonSerializer.Deserialize<List<PlacementView>>(j.Placement!, Json.Options)!.Select(p => new Allocation(p.Node, [.. p.Gpus], p.GpuMilli, 0, 0))],
            j.StartedAt ?? now,
            null,
            j.NoticeDeadline)).ToImmutableArray();
        // Allocations carry the job's CPU and memory per node, so the scheduler counts them as used.
        running = [.. running.Select(r => r with
        {
            Allocations = [.. r.Allocations.Select(a => a with { CpuMilli = r.Workload.CpuMilliPerNode, MemoryMib = r.Workload.MemoryMibPerNode })],
        })];
        var pending = live.Where(j => j.State == Queued && !j.CancelRequested).Select(j => JobSpec.Read(j).ToWorkload(j)).ToImmutableArray();

        var recent = await RecentUsageAsync(db, now, cancellationToken);
        // The blocks bought and not cancelled: reserved jobs run only inside theirs, and everyone else leaves their unused GPUs free.
        var blocks = (await Pools.BlocksAsync(db, now, null, cancellationToken)).ToImmutableArray();
        // A queued reserved job whose block has ended or was cancelled could never run: it fails now rather than wait forever.
        var current = blocks.Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var orphan in pending.Where(w => w.Tier == Tier.Reserved && (w.ReservationId is null || !current.Contains(w.ReservationId))).ToList())
        {
            JobTransitions.Move(db, jobs.Single(j => j.Id == orphan.Id), JobState.Failed, "its reservation ended or was cancelled before the job could start", now);
            await db.SaveChangesAsync(cancellationToken);
            pending = pending.Remove(orphan);
        }
        var plan = TieredScheduler.Plan(new SchedulerSnapshot(usable, running, pending, blocks) { RecentUsage = recent }, settings.Scheduler, now,
            Interlocked.Increment(ref _cycle));
        var byId = jobs.ToDictionary(j => j.Id);

        foreach (var stop in plan.Stops)
        {
            var job = byId[stop.WorkloadId];
            await runtimes.For(job.Runtime)!.StopAsync(job.RuntimeHandle!, cancellationToken);
            if (stop.Cause == StopCause.MaxDurationReached)
            {
                JobTransitions.Move(db, job, JobState.Failed, "max_duration_seconds reached", now);
            }
            else if (stop.Cause == StopCause.ReservationEnded)
            {
                JobTransitions.Move(db, job, JobState.Failed, "its reservation ended; reserved work runs only inside its block", now);
            }
            else
            {
                JobTransitions.Move(db, job, JobState.Preempted, "stopped at its notice deadline", now);
                if (stop.Requeue)
                    JobTransitions.Requeue(db, job, "requeued after preemption; resumes from its checkpoint", now);
            }
            await db.SaveChangesAsync(cancellationToken);
        }

        foreach (var notice in plan.Notices)
        {
            var job = byId[notice.WorkloadId];
            await runtimes.For(job.Runtime)!.NoticeAsync(job.RuntimeHandle!, notice.Deadline, cancellationToken);
            // The hard stop comes a full grace after the signal actually went out, never earlier; the
            // workload was told the plan's deadline, which is at most a few milliseconds sooner.
            WorkloadCodes.TryParseTier(job.Tier, out var tier);
            var sent = Time.GetUtcNow();
            job.NoticeDeadline = notice.Deadline > sent + settings.Scheduler.GraceFor(tier) ? notice.Deadline : sent + settings.Scheduler.GraceFor(tier);
            JobTransitions.Move(db, job, JobState.Running, $"notice: preempted for {notice.PreemptedFor}; stops at {job.NoticeDeadline:O}", now);
            await db.SaveChangesAsync(cancellationToken);
        }

        foreach (var start in plan.Starts)
        {
            var job = byId[start.WorkloadId];
            var node = nodes.First(n => n.Name == start.Allocations[0].Node);
            job.Placement = JsonSerializer.Serialize(start.Allocations.Select(a => new PlacementView(a.Node, a.Gpus, a.GpuMilli)), Json.Options);
            job.Runtime = node.Runtime;
            job.PendingReasons = "[]";
            job.QueuePosition = null;
            JobTransitions.Move(db, job, JobState.Scheduled, "placed on " + string.Join(", ", start.Allocations.Select(a => $"{a.Node} GPUs [{string.Join(",", a.Gpus)}]")), now);
            await db.SaveChangesAsync(cancellationToken);
            await StartAsync(db, job, now, cancellationToken);
        }

        // Nodes whose runtime this replica does not drive are left out of the plan; a job that only
        // they could run is told so, rather than left to read that other nodes do not fit.
        var undriven = nodes.Where(n => runtimes.For(n.Runtime) is null).ToList();
        foreach (var wait in plan.Pending)
        {
            var job = byId[wait.WorkloadId];
            var why = wait.Reasons.Select(r => new ReasonView(r.Code, r.Message)).ToList();
            var spec = JobSpec.Read(job);
            var idle = undriven.Where(n => (spec.GpuModels.Count == 0 || spec.GpuModels.Contains(n.GpuModel)) &&
                (spec.Region is null || spec.Region == n.Region) && n.GpuCount >= spec.GpusPerNode).ToList();
            if (idle.Count > 0)
            {
                var names = idle.Select(n => n.Runtime).Distinct().Order().ToList();
                var driven = names.Where(n => n is "slurm" or "kubernetes").Select(n => $"{n} is driven once the settings have a {n} section").ToList();
                var hint = driven.Count > 0 ? $" ({string.Join("; ", driven)})" : "";
                why.Add(new ReasonView("runtime-unavailable",
                    $"{idle.Count} matching node(s) are run by {string.Join(" and ", names)}, which this installation does not drive{hint}"));
            }
            var reasons = JsonSerializer.Serialize(why, Json.Options);
            if (job.PendingReasons != reasons || job.QueuePosition != wait.QueuePosition)
            {
                job.PendingReasons = reasons;
                job.QueuePosition = wait.QueuePosition;
                job.Version++;
            }
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// What each org used of each tier over the fair-share window, from its metered GPU time: an event that began
    /// before the window counts for the part inside it. Fair share then weighs recent use, not only what runs now,
    /// so an org that just finished a large job waits behind one that has had nothing.
    /// </summary>
    private async Task<ImmutableArray<WindowUsage>> RecentUsageAsync(HeadroomDb db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var windowStart = now - settings.FairShareWindow;
        var gpuSeconds = Meter.GpuSeconds.ToCode();
        var events = await db.UsageEntries.AsNoTracking()
            .Where(u => u.Meter == gpuSeconds && u.End > windowStart && u.Tier != null)
            .Select(u => new { u.OrgId, u.Tier, u.Quantity, u.Start, u.End })
            .ToListAsync(cancellationToken);
        var windowSeconds = (long)settings.FairShareWindow.TotalSeconds;
        var usage = ImmutableArray.CreateBuilder<WindowUsage>();
        foreach (var group in events.GroupBy(e => (e.OrgId, e.Tier)))
        {
            if (!WorkloadCodes.TryParseTier(group.Key.Tier, out var tier))
                continue;
            decimal milliSeconds = 0;
            foreach (var e in group)
            {
                var span = (decimal)(e.End - e.Start).TotalSeconds;
                var inside = (decimal)(e.End - (e.Start > windowStart ? e.Start : windowStart)).TotalSeconds;
                if (span > 0)
                    milliSeconds += e.Quantity * inside / span;
            }
            usage.Add(new WindowUsage(group.Key.OrgId, tier, (long)milliSeconds, 0, 0, windowSeconds));
        }
        return usage.ToImmutable();
    }

    /// <summary>Scheduled or starting → running. Safe to repeat: the runtime starts an attempt at most once.</summary>
    private async Task StartAsync(HeadroomDb db, JobRow job, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (job.State == Scheduled)
        {
            JobTransitions.Move(db, job, JobState.Starting, "starting on " + job.Runtime, now);
            await db.SaveChangesAsync(cancellationToken);
        }
        var runtime = runtimes.For(job.Runtime);
        var spec = JobSpec.Read(job);
        var placements = JsonSerializer.Deserialize<List<PlacementView>>(job.Placement!, Json.Options)!;
        WorkloadCodes.TryParseTier(job.Tier, out var tier);
        // A gang's nodes share one GPU model (the scheduler places it so); the runtime may need its name (Slurm's GRES type).
        var firstNode = placements[0].Node;
        var gpuModel = await db.Nodes.AsNoTracking().Where(n => n.Name == firstNode).Select(n => n.GpuModel).FirstOrDefaultAsync(cancellationToken);
        var outcome = runtime is null
            ? StartOutcome.Failed($"runtime '{job.Runtime}' is not available on this replica")
            : await runtime.StartAsync(new RuntimeWorkload(
                job.Id, job.Attempt, job.OrgId, job.ProjectId, spec.Command, spec.Env,
                [.. placements.Select(p => new RuntimePlacement(p.Node, p.Gpus, p.GpuMilli))],
                spec.MaxDurationSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
                Path.Combine(settings.JobsDir, "checkpoints", job.Id))
            {
                Tier = tier,
                GpuModel = gpuModel,
                NoticeGrace = settings.Scheduler.GraceFor(tier),
                CpuMilliPerNode = spec.CpuMilli,
                MemoryMibPerNode = spec.MemoryMib,
            }, cancellationToken);
        if (outcome.Handle is { } handle)
        {
            // Running (and metered) from the moment the runtime confirmed the start, not from the cycle's start.
            var startedAt = Time.GetUtcNow();
            job.RuntimeHandle = handle;
            job.StartedAt = startedAt;
            JobTransitions.Move(db, job, JobState.Running, $"running (attempt {job.Attempt})", startedAt);
            LogStarted(logger, job.Id, job.Attempt, job.Runtime ?? "");
        }
        else
        {
            JobTransitions.Move(db, job, JobState.Failed, "could not start: " + outcome.Error, now);
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    private async Task ObserveAsync(HeadroomDb db, JobRow job, IReadOnlyDictionary<string, string> downNodes, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (runtimes.For(job.Runtime) is not { } runtime || job.RuntimeHandle is not { } handle)
            return;
        var requeue = JobSpec.Read(job).Checkpoint == CheckpointPolicy.Requeue.ToCode();
        var placements = job.Placement is null ? [] : JsonSerializer.Deserialize<List<PlacementView>>(job.Placement, Json.Options)!;
        if (placements.FirstOrDefault(p => downNodes.ContainsKey(p.Node)) is { } lostOn)
        {
            // Fence before requeueing: stop the attempt through its runtime (idempotent), so it does not go on beside
            // the requeued one. What a runtime cannot reach is in docs/runtimes.md.
            await runtime.StopAsync(handle, cancellationToken);
            JobTransitions.Move(db, job, JobState.Lost, $"lost: node {lostOn.Node} is down ({downNodes[lostOn.Node]})", now);
            if (requeue)
                JobTransitions.Requeue(db, job, "requeued after it was lost; resumes from its checkpoint", now);
            await db.SaveChangesAsync(cancellationToken);
            return;
        }
        var seen = await runtime.ObserveAsync(handle, cancellationToken);
        switch (seen.State)
        {
            case ObservedState.Running:
                return;
            case ObservedState.Exited when job.CancelRequested:
                job.ExitCode = seen.ExitCode;
                JobTransitions.Move(db, job, JobState.Cancelled, "cancelled", now);
                break;
            case ObservedState.Exited when job.NoticeDeadline is not null:
                // It ended during its notice: a preemption, whether it left early or was stopped at the deadline.
                job.ExitCode = seen.ExitCode;
                JobTransitions.Move(db, job, JobState.Preempted, "ended during its preemption notice", now);
                if (requeue)
                    JobTransitions.Requeue(db, job, "requeued after preemption; resumes from its checkpoint", now);
                break;
            case ObservedState.Exited:
                job.ExitCode = seen.ExitCode;
                JobTransitions.Move(db, job, seen.ExitCode == 0 ? JobState.Succeeded : JobState.Failed,
                    seen.Signal is { } signal ? $"killed by signal {signal}" : seen.ExitCode is { } code ? $"exit code {code}" : seen.Detail, now);
                break;
            case ObservedState.Lost:
                JobTransitions.Move(db, job, JobState.Lost, "lost: " + seen.Detail, now);
                if (requeue)
                    JobTransitions.Requeue(db, job, "requeued after it was lost; resumes from its checkpoint", now);
                break;
        }
        await db.SaveChangesAsync(cancellationToken);
    }


    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Started job {JobId} attempt {Attempt} on {Runtime}")]
    private static partial void LogStarted(ILogger logger, string jobId, int attempt, string runtime);
}
