using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Simulation.Trace;

/// <summary>Settings of one trace replay.</summary>
/// <param name="Shares">Share of jobs per tier (each job's tier drawn with the seed).</param>
/// <param name="Seed">Seeds the tier draws and the scheduler's tie-breaking.</param>
/// <param name="Tick">Events are batched to this step of the virtual clock: one scheduling cycle per tick with events.</param>
/// <param name="CheckpointEvery">Jobs checkpoint this often; a preempted job loses the work since its last checkpoint.</param>
public sealed record TraceReplayOptions(TierShares Shares, int Seed, TimeSpan Tick, TimeSpan CheckpointEvery)
{
    public SchedulerConfig Scheduler { get; init; } = new();

    public static TraceReplayOptions Default { get; } = new(TierShares.Default, 42, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(30));
}

/// <summary>
/// Replays a time-based trace through <see cref="TieredScheduler"/> on a virtual clock. Each job
/// becomes a workload of a tier drawn from the shares (tenant = the trace's cluster; internal jobs
/// belong to the org <c>internal</c>; reserved ones run in one capacity block sized to the
/// reserved share of the fleet). Jobs wider than a node become gangs of full nodes.
/// </summary>
/// <remarks>
/// Each cycle, at virtual time t (a multiple of the tick): finish jobs whose end has come; admit
/// arrivals; plan; apply the plan's stops (a preempted job goes back to the queue with the work
/// since its last checkpoint lost), notices and starts. Allocated GPU-seconds per tier are
/// integrated between cycles. The replay ends when nothing runs, nothing arrives, and the queue
/// (if any is left) cannot start on an empty fleet.
/// </remarks>
public static class TraceReplay
{
    public const string InternalOrg = "internal";
    public const string ReservationId = "r-trace";

    public static TraceReport Run(IReadOnlyList<SchedulingNode> nodes, IReadOnlyList<TraceJob> jobs, TraceReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        var fleetGpus = nodes.Sum(n => n.GpuCount);
        var perNode = nodes.Count == 0 ? 1 : nodes.Max(n => n.GpuCount);
        var start = jobs.Count == 0 ? DateTimeOffset.UnixEpoch : jobs[0].Arrival;
        var end = jobs.Count == 0 ? start : jobs.Max(j => j.Arrival + TimeSpan.FromSeconds(j.DurationSeconds));
        var pool = nodes.Count == 0 ? new Pool("", "") : new Pool(nodes[0].Region, nodes[0].GpuModel);
        var reservedGpus = ((fleetGpus * options.Shares.Reserved) + 99) / 100; // rounded up: a share above 0 buys at least one GPU
        ImmutableArray<CapacityBlock> blocks = reservedGpus == 0 ? [] :
            [new CapacityBlock(ReservationId, "reserved-tenants", pool.Region, pool.GpuModel, reservedGpus, start, end.AddYears(1))];

        var random = new Random(options.Seed);
        var jobsById = new Dictionary<string, JobState>(jobs.Count);
        var arrivals = new Queue<(TraceJob Job, Workload Workload)>(jobs.Count);
        foreach (var job in jobs)
        {
            var tier = options.Shares.Pick(random.Next(100));
            var gang = job.Gpus <= perNode ? 1 : (job.Gpus + perNode - 1) / perNode;
            var workload = new Workload
            {
                Id = job.Id,
                Org = tier == Tier.Internal ? InternalOrg : job.Tenant,
                Tier = tier,
                NodeCount = gang,
                GpusPerNode = gang == 1 ? job.Gpus : perNode,
                GpuModels = tier == Tier.Reserved ? [pool.GpuModel] : [],
                ReservationId = tier == Tier.Reserved ? ReservationId : null,
                Checkpoint = CheckpointPolicy.Requeue,
                SubmittedAt = job.Arrival,
            };
            arrivals.Enqueue((job, workload));
            jobsById[job.Id] = new JobState(job, workload, job.DurationSeconds);
        }

        var pending = new List<Workload>();
        var running = new Dictionary<string, RunningWorkload>(StringComparer.Ordinal);
        var endsAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var gpuSeconds = new double[4];
        double windowGpuSeconds = 0;
        var lastArrival = jobs.Count == 0 ? start : jobs[^1].Arrival;
        var series = new List<UtilizationSample>();
        var tick = options.Tick <= TimeSpan.Zero ? TimeSpan.FromMinutes(1) : options.Tick;
        var now = Align(start, start, tick);
        var previous = now;
        var cycles = 0;

        while (true)
        {
            // Integrate what ran since the previous cycle, then sample it for the chart.
            var dt = (now - previous).TotalSeconds;
            var allocated = new double[4];
            foreach (var r in running.Values)
                allocated[(int)r.Workload.Tier] += r.Workload.TotalGpuMilli / 1000.0;
            for (var t = 0; t < 4; t++)
                gpuSeconds[t] += allocated[t] * dt;
            var inWindow = ((now < lastArrival ? now : lastArrival) - (previous < lastArrival ? previous : lastArrival)).TotalSeconds;
            windowGpuSeconds += allocated.Sum() * inWindow;
            previous = now;

            foreach (var id in endsAt.Where(e => e.Value <= now).Select(e => e.Key).OrderBy(k => k, StringComparer.Ordinal).ToList())
            {
                running.Remove(id);
                endsAt.Remove(id);
                jobsById[id].FinishedAt = now;
            }
            while (arrivals.Count > 0 && arrivals.Peek().Job.Arrival <= now)
                pending.Add(arrivals.Dequeue().Workload);

            var snapshot = new SchedulerSnapshot([.. nodes], [.. running.Values.Select(r => WithCheckpoint(r, now, options.CheckpointEvery))], [.. pending], blocks);
            var plan = TieredScheduler.Plan(snapshot, options.Scheduler, now, options.Seed);
            cycles++;

            foreach (var stop in plan.Stops)
            {
                var victim = WithCheckpoint(running[stop.WorkloadId], now, options.CheckpointEvery);
                var state = jobsById[stop.WorkloadId];
                var kept = ((victim.LastCheckpointAt ?? victim.StartedAt) - victim.StartedAt).TotalSeconds;
                state.Remaining -= (int)kept;
                state.Preemptions++;
                state.WorkLostGpuSeconds += (now - (victim.LastCheckpointAt ?? victim.StartedAt)).TotalSeconds * victim.Workload.TotalGpuMilli / 1000.0;
                running.Remove(stop.WorkloadId);
                endsAt.Remove(stop.WorkloadId);
                pending.Add(victim.Workload);
            }
            foreach (var notice in plan.Notices)
                running[notice.WorkloadId] = running[notice.WorkloadId] with { NoticeDeadline = notice.Deadline };
            var started = plan.Starts.Select(s => s.WorkloadId).ToHashSet(StringComparer.Ordinal);
            foreach (var s in plan.Starts)
            {
                var state = jobsById[s.WorkloadId];
                state.FirstStartedAt ??= now;
                running[s.WorkloadId] = new RunningWorkload(state.Workload, s.Allocations, now);
                endsAt[s.WorkloadId] = now + TimeSpan.FromSeconds(Math.Max(0, state.Remaining));
            }
            pending.RemoveAll(w => started.Contains(w.Id));

            series.Add(new UtilizationSample(now, [.. Enumerable.Range(0, 4).Select(t => running.Values.Where(r => (int)r.Workload.Tier == t).Sum(r => (int)(r.Workload.TotalGpuMilli / 1000)))]));

            // Next cycle: the earliest arrival, end or notice deadline, on the tick grid.
            var next = DateTimeOffset.MaxValue;
            if (arrivals.Count > 0)
                next = arrivals.Peek().Job.Arrival;
            foreach (var e in endsAt.Values)
                next = e < next ? e : next;
            foreach (var r in running.Values)
                next = r.NoticeDeadline is { } d && d < next ? d : next;
            if (next == DateTimeOffset.MaxValue)
                break; // nothing runs or arrives: what is still queued cannot start on this fleet
            now = Align(next, start, tick);
            if (now <= previous)
                now = previous + tick;
        }

        var windowPercent = lastArrival > start ? 100 * windowGpuSeconds / (fleetGpus * (lastArrival - start).TotalSeconds) : 0;
        return TraceReport.From(nodes.Count, fleetGpus, start, previous, jobsById.Values, gpuSeconds, series, cycles) with { ArrivalWindowUtilizationPercent = windowPercent };
    }

    private static DateTimeOffset Align(DateTimeOffset t, DateTimeOffset origin, TimeSpan tick)
    {
        var ticks = (t - origin).Ticks;
        var steps = (ticks + tick.Ticks - 1) / tick.Ticks;
        return origin + TimeSpan.FromTicks(steps * tick.Ticks);
    }

    private static RunningWorkload WithCheckpoint(RunningWorkload r, DateTimeOffset now, TimeSpan every)
    {
        if (every <= TimeSpan.Zero)
            return r;
        var done = (long)((now - r.StartedAt) / every);
        return done == 0 ? r with { LastCheckpointAt = null } : r with { LastCheckpointAt = r.StartedAt + (every * done) };
    }

    internal sealed class JobState(TraceJob job, Workload workload, int remaining)
    {
        public TraceJob Job { get; } = job;
        public Workload Workload { get; } = workload;
        public int Remaining { get; set; } = remaining;
        public DateTimeOffset? FirstStartedAt { get; set; }
        public DateTimeOffset? FinishedAt { get; set; }
        public int Preemptions { get; set; }
        public double WorkLostGpuSeconds { get; set; }
    }
}

/// <summary>GPUs allocated per tier (index = <see cref="Tier"/> value) from this instant on.</summary>
public sealed record UtilizationSample(DateTimeOffset At, ImmutableArray<int> GpusByTier);
