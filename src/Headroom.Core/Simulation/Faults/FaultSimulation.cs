using System.Collections.Immutable;
using System.Globalization;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Simulation.Faults;

/// <summary>How hard one seed's run is, and how often each fault strikes (probabilities per step, in percent).</summary>
public sealed record FaultSimulationOptions
{
    public int Steps { get; init; } = 60;

    /// <summary>The control plane dies while applying a plan: only a random prefix of its decisions takes effect.</summary>
    public int CrashPercent { get; init; } = 8;

    /// <summary>A usage event is delivered to the ledger twice.</summary>
    public int DuplicatePercent { get; init; } = 10;

    /// <summary>The events of a step reach the ledger shuffled, and some only at a later step.</summary>
    public int ReorderPercent { get; init; } = 30;

    public static FaultSimulationOptions Default { get; } = new();
}

/// <summary>What one seed did and every invariant it broke (empty when none).</summary>
public sealed record FaultSimulationResult(
    int Seed,
    int Steps,
    int Starts,
    int Notices,
    int PreemptionStops,
    int Crashes,
    int EventsMetered,
    int DuplicatesDelivered,
    int ReservationsAdmitted,
    int ReservationsRefused,
    TimeSpan ShortestNotice,
    IReadOnlyList<string> Violations);

/// <summary>
/// A deterministic simulation of the control plane's decisions under faults: the tiered scheduler, reservation
/// admission, GPU metering, the hash-chained ledger and invoicing, driven by a seeded random workload on a virtual
/// clock. Everything comes from the seed, so a failing seed replays exactly.
/// </summary>
/// <remarks>
/// <para>Each step: the clock moves 5–120 s; tenants ask for capacity blocks; workloads of every tier arrive, some
/// are cancelled, some finish; the scheduler plans; the plan is applied (a crash applies only part of it, and the next
/// cycle plans again from what was applied, as the server re-plans from the store); metered events go to the ledger
/// duplicated, reordered and late; the spot price of each pool is recorded.</para>
/// <para>Checked after every step: no GPU, CPU or memory overcommitted; every gang whole on distinct nodes; reserved
/// work only inside its own active block and within its size; blocks never overbooked; notice only for spot work and
/// only for a higher tier, with at least the grace period before the stop; on-demand, reserved and internal work never
/// preempted. Checked at the end: the ledger holds every metered event exactly once, its chains verify, no attempt is
/// charged outside its run or for its notice period, and each org's invoice built from the delivered stream (with its
/// duplicates) equals the one built from the events themselves.</para>
/// </remarks>
public static class FaultSimulation
{
    public const string InternalOrg = "internal";

    private static readonly DateTimeOffset Origin = new(2026, 11, 2, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Tenants = ["t1", "t2", "t3"];
    private const int InternalGuaranteeGpus = 2;
    private static readonly TimeSpan CheckpointEvery = TimeSpan.FromMinutes(5);

    public static FaultSimulationResult Run(int seed, FaultSimulationOptions? options = null) =>
        new World(seed, options ?? FaultSimulationOptions.Default).Run();

    private sealed class Attempt(Workload workload, ImmutableArray<Allocation> allocations, DateTimeOffset started, int number)
    {
        public Workload Workload { get; } = workload;
        public ImmutableArray<Allocation> Allocations { get; } = allocations;
        public DateTimeOffset Started { get; } = started;
        public int Number { get; } = number;
        public DateTimeOffset? NoticedAt { get; set; }
        public DateTimeOffset? Deadline { get; set; }
    }

    private sealed class Job(Workload workload, long workSeconds)
    {
        public Workload Workload { get; } = workload;
        public long RemainingSeconds { get; set; } = workSeconds;
        public int Attempts { get; set; }
    }

    private sealed class World
    {
        private readonly int _seed;
        private readonly FaultSimulationOptions _options;
        private readonly Random _random;
        private readonly ImmutableArray<SchedulingNode> _nodes;
        private readonly Dictionary<Pool, int> _poolGpus = [];
        private readonly SchedulerConfig _config;
        private readonly PriceSheet _sheet;
        private readonly List<SpotPricePoint> _spotPoints = [];
        private readonly List<CapacityBlock> _blocks = [];
        private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
        private readonly List<Workload> _pending = [];
        private readonly Dictionary<string, Attempt> _running = new(StringComparer.Ordinal);

        // Metering: what the control plane metered (the truth), what is in flight to the ledger, what it holds.
        private readonly Dictionary<string, (UsageEvent Event, DateTimeOffset RunStart, DateTimeOffset RunEnd)> _metered = new(StringComparer.Ordinal);
        private readonly List<UsageEvent> _inFlight = [];
        private readonly List<UsageEvent> _delivered = [];
        private readonly Dictionary<string, List<LedgerEntry>> _ledger = new(StringComparer.Ordinal);
        private readonly Dictionary<string, UsageEvent> _ledgerById = new(StringComparer.Ordinal);

        private readonly List<string> _violations = [];
        private DateTimeOffset _now = Origin;
        private int _step;
        private int _nextJob;
        private int _nextBlock;
        private int _starts, _notices, _preemptionStops, _crashes, _duplicates, _admitted, _refused;
        private TimeSpan _shortestNotice = TimeSpan.MaxValue;

        public World(int seed, FaultSimulationOptions options)
        {
            _seed = seed;
            _options = options;
            _random = new Random(seed);
            _nodes = BuildFleet();
            foreach (var node in _nodes)
            {
                var pool = new Pool(node.Region, node.GpuModel);
                _poolGpus[pool] = _poolGpus.GetValueOrDefault(pool) + node.GpuCount;
            }
            _config = new SchedulerConfig
            {
                Grace = ImmutableDictionary<Tier, TimeSpan>.Empty.Add(Tier.Spot, TimeSpan.FromSeconds(_random.Next(30, 181))),
                SpotMinimumRunTime = TimeSpan.FromSeconds(_random.Next(0, 301)),
                OnDemandCaps = _poolGpus.ToImmutableDictionary(p => p.Key, p => (long)p.Value * 1000 * _random.Next(50, 101) / 100),
            };
            _sheet = BuildSheet();
        }

        public FaultSimulationResult Run()
        {
            RecordSpotPrices();
            for (_step = 1; _step <= _options.Steps; _step++)
            {
                _now += TimeSpan.FromSeconds(_random.Next(5, 121));
                OfferReservation();
                Submit();
                Cancel();
                Finish();
                PlanAndApply();
                Deliver(flush: false);
                RecordSpotPrices();
                CheckState();
            }

            // The end of the run: stop what still runs, deliver everything, then audit the books.
            _now += TimeSpan.FromSeconds(1);
            foreach (var attempt in _running.Values.OrderBy(a => a.Workload.Id, StringComparer.Ordinal).ToList())
                End(attempt, requeue: false);
            Deliver(flush: true);
            CheckBooks();
            return new FaultSimulationResult(_seed, _options.Steps, _starts, _notices, _preemptionStops, _crashes, _metered.Count,
                _duplicates, _admitted, _refused, _shortestNotice == TimeSpan.MaxValue ? TimeSpan.Zero : _shortestNotice, _violations);
        }

        private ImmutableArray<SchedulingNode> BuildFleet()
        {
            var nodes = ImmutableArray.CreateBuilder<SchedulingNode>();
            (string Region, string Model, int Gpus, int MaxNodes)[] pools = [("eu", "h100-80gb", 8, 3), ("eu", "a100-80gb", 4, 2), ("us", "h100-80gb", 8, 2)];
            foreach (var (region, model, gpus, maxNodes) in pools)
            {
                var count = _random.Next(1, maxNodes + 1);
                for (var i = 0; i < count; i++)
                {
                    nodes.Add(new SchedulingNode($"{region}-{model}-{i}", region, model, gpus, gpus * 16_000, gpus * 64_000)
                    {
                        Labels = ImmutableDictionary<string, string>.Empty
                            .Add(SchedulingNode.NvlinkDomainLabel, $"{region}-{model}-{i}")
                            .Add(SchedulingNode.RackLabel, $"{region}-rack-{i / 2}"),
                    });
                }
            }
            return nodes.ToImmutable();
        }

        // Two versions: the second, a random 1–5 hours in, changes every price, so events straddle a change.
        private PriceSheet BuildSheet()
        {
            PriceSheetDraft Version(DateTimeOffset from, decimal factor) => new(from, "USD",
                [.. _poolGpus.Keys.SelectMany(p => Enum.GetValues<Tier>().Select(t => new GpuRate(p.GpuModel, t, p.Region,
                    decimal.Round((p.GpuModel.StartsWith("h100", StringComparison.Ordinal) ? 2.49m : 1.29m) * factor * (t == Tier.Spot ? 0.6m : 1m), 4))))],
                [], 0m, SpotFormula.Default);
            var change = Origin + TimeSpan.FromMinutes(_random.Next(60, 301));
            var result = PriceSheet.Load([Version(Origin, 1m), Version(change, 1.0731m)]);
            return result.Value ?? throw new InvalidOperationException(string.Join("; ", result.Problems));
        }

        private void OfferReservation()
        {
            if (_random.Next(100) >= 15)
                return;
            var pool = _poolGpus.Keys.OrderBy(p => p.Region, StringComparer.Ordinal).ThenBy(p => p.GpuModel, StringComparer.Ordinal).ElementAt(_random.Next(_poolGpus.Count));
            var start = _now + TimeSpan.FromMinutes(_random.Next(0, 121));
            var block = new CapacityBlock($"r{++_nextBlock}", Tenants[_random.Next(Tenants.Length)], pool.Region, pool.GpuModel,
                _random.Next(1, _poolGpus[pool] + 1), start, start + TimeSpan.FromMinutes(_random.Next(30, 361)));
            if (ReservationAdmission.Admit(block, _blocks, _poolGpus[pool], InternalGuaranteeGpus).Admitted)
            {
                _blocks.Add(block);
                _admitted++;
            }
            else
            {
                _refused++;
            }
        }

        private void Submit()
        {
            for (var n = _random.Next(0, 3); n > 0; n--)
            {
                var org = _random.Next(4) == 0 ? InternalOrg : Tenants[_random.Next(Tenants.Length)];
                var tier = org == InternalOrg ? Tier.Internal : _random.Next(100) switch { < 20 => Tier.Reserved, < 50 => Tier.OnDemand, _ => Tier.Spot };
                var block = tier == Tier.Reserved ? _blocks.Where(b => b.Org == org && b.End > _now).OrderBy(b => b.Id, StringComparer.Ordinal).FirstOrDefault() : null;
                if (tier == Tier.Reserved && block is null)
                    tier = Tier.OnDemand;
                var (nodes, gpus, milli) = _random.Next(100) switch
                {
                    < 15 => (1, 1, _random.Next(2) == 0 ? 250 : 500),
                    < 85 => (1, new[] { 1, 2, 4, 8 }[_random.Next(4)], 1000),
                    _ => (2, _random.Next(2) == 0 ? 4 : 8, 1000),
                };
                if (block is not null)
                    (nodes, gpus) = (1, Math.Min(gpus, block.GpuCount));
                var pool = block is null ? null : (Pool?)new Pool(block.Region, block.GpuModel);
                var anyModel = pool is null && _random.Next(2) == 0;
                var workload = new Workload
                {
                    Id = $"j{++_nextJob:D4}",
                    Org = org,
                    Project = $"{org}-p{_random.Next(2)}",
                    Tier = tier,
                    NodeCount = nodes,
                    GpusPerNode = gpus,
                    GpuMilli = milli,
                    GpuModels = pool is { } p ? [p.GpuModel] : anyModel ? [] : [_random.Next(2) == 0 ? "h100-80gb" : "a100-80gb"],
                    Region = pool?.Region ?? (_random.Next(3) == 0 ? (_random.Next(2) == 0 ? "eu" : "us") : null),
                    ReservationId = block?.Id,
                    CpuMilliPerNode = gpus * 4_000,
                    MemoryMibPerNode = gpus * 16_000,
                    MaxDuration = _random.Next(5) == 0 ? TimeSpan.FromSeconds(_random.Next(300, 2_401)) : null,
                    Checkpoint = _random.Next(10) < 7 ? CheckpointPolicy.Requeue : CheckpointPolicy.None,
                    SubmittedAt = _now,
                };
                _jobs[workload.Id] = new Job(workload, _random.Next(60, 901));
                _pending.Add(workload);
            }
        }

        private void Cancel()
        {
            if (_random.Next(100) >= 5)
                return;
            if (_running.Count > 0 && _random.Next(2) == 0)
            {
                End(_running.Values.OrderBy(a => a.Workload.Id, StringComparer.Ordinal).ElementAt(_random.Next(_running.Count)), requeue: false);
            }
            else if (_pending.Count > 0)
            {
                _pending.RemoveAt(_random.Next(_pending.Count));
            }
        }

        private void Finish()
        {
            foreach (var attempt in _running.Values.OrderBy(a => a.Workload.Id, StringComparer.Ordinal).ToList())
            {
                if (attempt.Started + TimeSpan.FromSeconds(_jobs[attempt.Workload.Id].RemainingSeconds) <= _now)
                    End(attempt, requeue: false);
            }
        }

        private void PlanAndApply()
        {
            var snapshot = new SchedulerSnapshot(
                _nodes,
                [.. _running.Values.OrderBy(a => a.Workload.Id, StringComparer.Ordinal).Select(a =>
                    new RunningWorkload(a.Workload, a.Allocations, a.Started, LastCheckpoint(a), a.Deadline))],
                [.. _pending],
                [.. _blocks]);
            var plan = TieredScheduler.Plan(snapshot, _config, _now, unchecked((_seed * 7919) + _step));

            var actions = new List<Action>();
            actions.AddRange(plan.Stops.Select(s => (Action)(() => ApplyStop(s))));
            actions.AddRange(plan.Notices.Select(n => (Action)(() => ApplyNotice(n))));
            actions.AddRange(plan.Starts.Select(s => (Action)(() => ApplyStart(s))));
            var applied = actions.Count;
            if (actions.Count > 0 && _random.Next(100) < _options.CrashPercent)
            {
                // The control plane dies part way: what it did not apply is forgotten, and the next cycle plans again
                // from what it did. Events not yet in the ledger are re-sent from the durable record after restart.
                applied = _random.Next(actions.Count);
                _crashes++;
                Shuffle(_inFlight);
            }
            foreach (var action in actions.Take(applied))
                action();
        }

        private void ApplyStop(StopDecision stop)
        {
            if (!_running.TryGetValue(stop.WorkloadId, out var attempt))
            {
                Violation($"stop of {stop.WorkloadId}, which does not run");
                return;
            }
            if (stop.Cause == StopCause.NoticeExpired)
            {
                if (attempt.NoticedAt is not { } noticed || attempt.Deadline is not { } deadline)
                {
                    Violation($"{stop.WorkloadId} stopped for an expired notice it never got");
                }
                else
                {
                    var grace = _config.GraceFor(attempt.Workload.Tier);
                    var given = _now - noticed;
                    if (given < grace || _now < deadline)
                        Violation($"{stop.WorkloadId} killed {given.TotalSeconds} s after its notice (grace {grace.TotalSeconds} s, deadline {deadline:O})");
                    _shortestNotice = given < _shortestNotice ? given : _shortestNotice;
                    _preemptionStops++;
                }
            }
            else if (stop.Cause == StopCause.MaxDurationReached && attempt.Workload.MaxDuration is { } max && _now - attempt.Started < max)
            {
                Violation($"{stop.WorkloadId} stopped for its max duration after {(_now - attempt.Started).TotalSeconds} s of {max.TotalSeconds} s");
            }
            End(attempt, requeue: stop.Requeue);
        }

        private void ApplyNotice(NoticeDecision notice)
        {
            if (!_running.TryGetValue(notice.WorkloadId, out var victim))
            {
                Violation($"notice to {notice.WorkloadId}, which does not run");
                return;
            }
            var preemptor = _jobs.GetValueOrDefault(notice.PreemptedFor)?.Workload;
            if (victim.Workload.Tier != Tier.Spot)
                Violation($"{victim.Workload.Tier} workload {notice.WorkloadId} given notice");
            if (preemptor is null || preemptor.Tier <= victim.Workload.Tier)
                Violation($"{notice.WorkloadId} ({victim.Workload.Tier}) preempted for {notice.PreemptedFor} ({preemptor?.Tier})");
            if (victim.Workload.Tier == Tier.Spot && _now - victim.Started < _config.SpotMinimumRunTime)
                Violation($"{notice.WorkloadId} preempted {(_now - victim.Started).TotalSeconds} s after it started (minimum {_config.SpotMinimumRunTime.TotalSeconds} s)");
            if (notice.Deadline - _now < _config.GraceFor(victim.Workload.Tier))
                Violation($"{notice.WorkloadId} got a deadline {(notice.Deadline - _now).TotalSeconds} s away");
            if (victim.NoticedAt is not null)
                Violation($"{notice.WorkloadId} given notice twice");
            victim.NoticedAt ??= _now;
            victim.Deadline ??= notice.Deadline;
            _notices++;
        }

        private void ApplyStart(StartDecision start)
        {
            var index = _pending.FindIndex(w => w.Id == start.WorkloadId);
            if (index < 0 || _running.ContainsKey(start.WorkloadId))
            {
                Violation($"start of {start.WorkloadId}, which is not pending");
                return;
            }
            var workload = _pending[index];
            _pending.RemoveAt(index);
            var job = _jobs[workload.Id];
            job.Attempts++;
            _running[workload.Id] = new Attempt(workload, start.Allocations, _now, job.Attempts);
            _starts++;
        }

        // Ends an attempt now: metered as the control plane records it, requeued from its checkpoint when asked.
        private void End(Attempt attempt, bool requeue)
        {
            var w = attempt.Workload;
            _running.Remove(w.Id);
            var node = _nodes.First(n => n.Name == attempt.Allocations[0].Node);
            var milli = attempt.Allocations.Sum(a => (long)a.Gpus.Length * a.GpuMilli);
            if (milli > 0)
            {
                var usage = UsageEvent.GpuAttempt($"{w.Id}.{attempt.Number}", w.Org, w.Project, milli, w.Tier, node.GpuModel, node.Region,
                    attempt.Started, _now, attempt.NoticedAt);
                _metered.Add(usage.Id, (usage, attempt.Started, _now));
                _inFlight.Add(usage);
            }
            var job = _jobs[w.Id];
            if (requeue && w.Checkpoint == CheckpointPolicy.Requeue)
            {
                job.RemainingSeconds -= (long)((LastCheckpoint(attempt) ?? attempt.Started) - attempt.Started).TotalSeconds;
                _pending.Add(w);
            }
        }

        private DateTimeOffset? LastCheckpoint(Attempt attempt)
        {
            var done = (long)((_now - attempt.Started) / CheckpointEvery);
            return done == 0 ? null : attempt.Started + (CheckpointEvery * done);
        }

        // Delivery to the ledger: duplicated, reordered and late; the ledger keeps the first copy of each id.
        private void Deliver(bool flush)
        {
            var batch = new List<UsageEvent>(_inFlight);
            _inFlight.Clear();
            foreach (var usage in batch.ToList())
            {
                if (_random.Next(100) < _options.DuplicatePercent)
                {
                    batch.Add(usage);
                    _duplicates++;
                }
            }
            if (_random.Next(100) < _options.ReorderPercent)
            {
                Shuffle(batch);
                if (!flush)
                {
                    var late = _random.Next(batch.Count + 1);
                    _inFlight.AddRange(batch.Skip(batch.Count - late));
                    batch.RemoveRange(batch.Count - late, late);
                }
            }
            foreach (var usage in batch)
            {
                _delivered.Add(usage);
                if (_ledgerById.TryGetValue(usage.Id, out var held))
                {
                    if (held != usage)
                        Violation($"event {usage.Id} delivered twice with different content");
                    continue;
                }
                var chain = _ledger.TryGetValue(usage.OrgId, out var entries) ? entries : _ledger[usage.OrgId] = [];
                chain.Add(UsageLedger.Seal(chain.Count == 0 ? null : chain[^1], usage, _now));
                _ledgerById[usage.Id] = usage;
            }
        }

        private void RecordSpotPrices()
        {
            foreach (var (pool, gpus) in _poolGpus.OrderBy(p => p.Key.Region, StringComparer.Ordinal).ThenBy(p => p.Key.GpuModel, StringComparer.Ordinal))
            {
                var used = _running.Values.SelectMany(a => a.Allocations).Where(a => _nodes.First(n => n.Name == a.Node) is var n && n.Region == pool.Region && n.GpuModel == pool.GpuModel)
                    .Sum(a => (long)a.Gpus.Length * a.GpuMilli);
                var point = SpotPricing.Point(_sheet, new SpotPool(pool.Region, pool.GpuModel), used, gpus * 1000L, _now);
                if (point.Value is { } p && (_spotPoints.LastOrDefault(x => x.Pool == p.Pool) is not { } last || last.PerGpuHour != p.PerGpuHour))
                    _spotPoints.Add(p);
            }
        }

        private void CheckState()
        {
            var gpu = new Dictionary<(string Node, int Gpu), int>();
            var cpu = new Dictionary<string, long>(StringComparer.Ordinal);
            var mem = new Dictionary<string, long>(StringComparer.Ordinal);
            var reservedUse = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var attempt in _running.Values)
            {
                var w = attempt.Workload;
                if (attempt.Allocations.Length != w.NodeCount || attempt.Allocations.Select(a => a.Node).Distinct().Count() != w.NodeCount)
                    Violation($"{w.Id} holds {attempt.Allocations.Length} allocations for a gang of {w.NodeCount}");
                if (_pending.Any(p => p.Id == w.Id))
                    Violation($"{w.Id} is both running and queued");
                foreach (var a in attempt.Allocations)
                {
                    if (a.Gpus.Length != w.GpusPerNode)
                        Violation($"{w.Id} got {a.Gpus.Length} GPUs on {a.Node}, asked {w.GpusPerNode}");
                    foreach (var g in a.Gpus)
                        gpu[(a.Node, g)] = gpu.GetValueOrDefault((a.Node, g)) + a.GpuMilli;
                    cpu[a.Node] = cpu.GetValueOrDefault(a.Node) + a.CpuMilli;
                    mem[a.Node] = mem.GetValueOrDefault(a.Node) + a.MemoryMib;
                }
                if (w.Tier == Tier.Reserved)
                {
                    var block = _blocks.FirstOrDefault(b => b.Id == w.ReservationId);
                    var node = _nodes.First(n => n.Name == attempt.Allocations[0].Node);
                    if (block is null || !block.ActiveAt(attempt.Started) || block.Region != node.Region || block.GpuModel != node.GpuModel)
                        Violation($"reserved {w.Id} runs outside its block {w.ReservationId}");
                    else
                        reservedUse[block.Id] = reservedUse.GetValueOrDefault(block.Id) + w.TotalGpuMilli;
                }
            }
            foreach (var ((node, g), milli) in gpu.Where(p => p.Value > 1000))
                Violation($"GPU {g} of {node} holds {milli} milli-GPUs");
            foreach (var node in _nodes)
            {
                if (cpu.GetValueOrDefault(node.Name) > node.CpuMilli || mem.GetValueOrDefault(node.Name) > node.MemoryMib)
                    Violation($"{node.Name} overcommitted: CPU {cpu.GetValueOrDefault(node.Name)}/{node.CpuMilli}, memory {mem.GetValueOrDefault(node.Name)}/{node.MemoryMib}");
                if (gpu.Keys.Any(k => k.Node == node.Name && (k.Gpu < 0 || k.Gpu >= node.GpuCount)))
                    Violation($"{node.Name} has no such GPU");
            }
            foreach (var (id, milli) in reservedUse)
            {
                var block = _blocks.First(b => b.Id == id);
                if (milli > block.GpuCount * 1000L)
                    Violation($"block {id} of {block.GpuCount} GPUs runs {milli} milli-GPUs");
            }
            foreach (var block in _blocks)
            {
                var booked = _blocks.Where(b => b.SamePool(block) && b.ActiveAt(block.Start)).Sum(b => b.GpuCount);
                if (booked > _poolGpus[new Pool(block.Region, block.GpuModel)] - InternalGuaranteeGpus)
                    Violation($"pool {block.Region}/{block.GpuModel} overbooked at {block.Start:O}: {booked} GPUs in blocks");
            }
        }

        private void CheckBooks()
        {
            _violations.AddRange(BookViolations(_metered.Values.Select(m => m.Event).ToList(), _delivered, _ledger, _sheet, _spotPoints,
                _metered.Values.Select(m => (m.Event.Id, m.RunStart, m.RunEnd)).ToList()));
        }

        private void Shuffle<T>(List<T> list)
        {
            for (var i = list.Count - 1; i > 0; i--)
            {
                var j = _random.Next(i + 1);
                (list[i], list[j]) = (list[j], list[i]);
            }
        }

        private void Violation(string what) =>
            _violations.Add(string.Create(CultureInfo.InvariantCulture, $"seed {_seed} step {_step} ({_now:O}): {what}"));
    }

    /// <summary>
    /// The end-of-run audit of the books, on its own so a test can show it catches what it claims: every metered event
    /// is in the ledger exactly once and nothing else is; each org's chain verifies; no event charges outside its run;
    /// and each org's invoice built from what was delivered (duplicates included) equals the one the events call for.
    /// </summary>
    internal static List<string> BookViolations(
        IReadOnlyList<UsageEvent> metered,
        IReadOnlyList<UsageEvent> delivered,
        IReadOnlyDictionary<string, List<LedgerEntry>> ledger,
        PriceSheet sheet,
        IReadOnlyList<SpotPricePoint> spotPoints,
        IReadOnlyList<(string EventId, DateTimeOffset RunStart, DateTimeOffset RunEnd)> runs)
    {
        var violations = new List<string>();
        var held = ledger.Values.SelectMany(c => c).GroupBy(e => e.EventId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        foreach (var usage in metered)
        {
            var count = held.GetValueOrDefault(usage.Id);
            if (count != 1)
                violations.Add($"event {usage.Id} is in the ledger {count} times");
        }
        var known = metered.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var id in held.Keys.Where(id => !known.Contains(id)))
            violations.Add($"event {id} is in the ledger but was never metered");
        foreach (var (org, chain) in ledger)
        {
            foreach (var finding in UsageLedger.Verify(org, chain))
                violations.Add($"ledger of {org}: {finding.Kind} at {finding.Seq} ({finding.EventId}): {finding.Message}");
        }
        var byId = metered.ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (var entry in ledger.Values.SelectMany(c => c).Where(e => byId.TryGetValue(e.EventId, out var m) && m != e.Event))
            violations.Add($"event {entry.EventId} in the ledger differs from what was metered");
        foreach (var (id, runStart, runEnd) in runs)
        {
            var usage = byId[id];
            if (usage.Start < runStart || usage.End > runEnd || usage.ChargedUntil < usage.Start)
                violations.Add($"event {id} charges [{usage.Start:O}, {usage.ChargedUntil:O}) outside its run [{runStart:O}, {runEnd:O})");
        }

        var spot = SpotPriceHistory.Load(spotPoints);
        if (spot.Value is not { } history)
        {
            violations.Add($"spot price history: {string.Join("; ", spot.Problems)}");
            return violations;
        }
        foreach (var org in metered.Select(m => m.OrgId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            foreach (var period in metered.Where(m => m.OrgId == org).SelectMany(m => new[] { m.Start, m.End }).Select(BillingPeriod.MonthOf).Distinct())
            {
                var truth = Invoicing.Build(org, period, metered, sheet, history);
                var fromStream = Invoicing.Build(org, period, delivered, sheet, history);
                if (truth.Problems.Count > 0)
                    violations.Add($"invoice of {org} {period}: {string.Join("; ", truth.Problems.Select(p => p.Message))}");
                if (truth.Lines.Sum(l => l.Amount) != truth.Subtotal)
                    violations.Add($"invoice of {org} {period}: lines sum to {truth.Lines.Sum(l => l.Amount)}, subtotal {truth.Subtotal}");
                foreach (var difference in Invoicing.Verify(fromStream, metered, sheet, history))
                    violations.Add($"invoice of {org} {period} from the delivered stream: {difference.Kind}: {difference.Message}");
            }
        }
        return violations;
    }
}
