using System.Collections.Immutable;
using System.Globalization;
using Headroom.Core.Scheduling.Placement;

namespace Headroom.Core.Scheduling.Tiered;

/// <summary>Everything one cycle decides from: the fleet, what runs, what waits, the reservations.</summary>
public sealed record SchedulerSnapshot(
    ImmutableArray<SchedulingNode> Nodes,
    ImmutableArray<RunningWorkload> Running,
    ImmutableArray<Workload> Pending,
    ImmutableArray<CapacityBlock> Reservations)
{
    /// <summary>
    /// What each org used per tier over the fair-share window (the caller sums its usage events);
    /// empty means fair share looks at current holdings only.
    /// </summary>
    public ImmutableArray<WindowUsage> RecentUsage { get; init; } = [];
}

/// <summary>An org's use of one tier over a window that ends now, in integer resource-seconds.</summary>
public sealed record WindowUsage(string Org, Tier Tier, long GpuMilliSeconds, long CpuMilliSeconds, long MemoryMibSeconds, long WindowSeconds);

/// <summary>
/// The tiered scheduler: a pure function from a snapshot, the config, <c>now</c> and a seed to a
/// <see cref="SchedulingPlan"/>. It never reads a clock and never throws for an expected outcome.
/// </summary>
/// <remarks>
/// Order of one cycle:
/// 1. Stop what must stop now (notice deadline passed, max duration reached, a reserved workload's block
///    no longer active); their capacity frees.
/// 2. Hold the unused part of every active reservation block in its pool.
/// 3. Order the queue: tier (internal first), then dominant share of the org within the tier
///    (lowest first, so one tenant cannot starve another), then submission time, then id.
/// 4. For each pending workload: filters → score → pick a gang (one pool; fewest NVLink domains,
///    then racks) → start it, or else preempt: the cheapest set of spot victims that frees a
///    fitting shape gets notice, and the workload waits for their deadline at the head of its tier.
/// Invariants (property-tested): no GPU is overcommitted; a gang starts whole or not at all;
/// victims are spot and of a lower tier than the workload they make room for; on-demand,
/// reserved and internal work is never preempted.
/// </remarks>
public static class TieredScheduler
{
    public static SchedulingPlan Plan(SchedulerSnapshot snapshot, SchedulerConfig config, DateTimeOffset now, int seed)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(config);
        var cycle = new Cycle(snapshot, config, now, seed);
        return cycle.Run();
    }

    private sealed class NodeState(SchedulingNode node, int index)
    {
        public SchedulingNode Node { get; } = node;
        public int Index { get; } = index;
        public Pool Pool { get; } = new(node.Region, node.GpuModel);
        public int[] GpuFree { get; } = [.. Enumerable.Repeat(1000, node.GpuCount)];
        public int CpuFree { get; set; } = node.CpuMilli;
        public int MemFree { get; set; } = node.MemoryMib;
        public int Order { get; set; }

        public int WholeFree => GpuFree.Count(f => f == 1000);

        public bool Fits(Workload w, int[]? gpuFree = null, int? cpuFree = null, int? memFree = null)
        {
            var free = gpuFree ?? GpuFree;
            if ((cpuFree ?? CpuFree) < w.CpuMilliPerNode || (memFree ?? MemFree) < w.MemoryMibPerNode)
                return false;
            return w.GpusPerNode == 0 || free.Count(f => f >= w.GpuMilli) >= w.GpusPerNode;
        }
    }

    private sealed class Cycle
    {
        private readonly SchedulerSnapshot _snapshot;
        private readonly SchedulerConfig _config;
        private readonly DateTimeOffset _now;
        private readonly List<NodeState> _nodes;
        private readonly Dictionary<string, NodeState> _byName;
        private readonly Dictionary<string, RunningWorkload> _running = [];
        private readonly Dictionary<Pool, long> _onDemandUsed = [];
        private readonly Dictionary<QuotaKey, long> _quotaUsed = [];
        private readonly Dictionary<string, long> _blockUsed = []; // milli-GPUs used inside each block
        private readonly HashSet<string> _claimed = []; // victims already promised to a waiting workload this cycle
        private Dictionary<Pool, int> _poolWhole = []; // whole free GPUs per pool, as of the current workload's turn
        private readonly List<StartDecision> _starts = [];
        private readonly List<NoticeDecision> _notices = [];
        private readonly List<StopDecision> _stops = [];
        private readonly int _seed;

        // For the fgd-pack score: the cycle's free capacity as a placement fleet (same node
        // order as _nodes, kept in step by Start) and the mix of every workload in the snapshot.
        private PlacementFleet? _fleet;
        private FragmentationPolicy? _fragmentation;
        private WorkloadMix? _mix;

        public Cycle(SchedulerSnapshot snapshot, SchedulerConfig config, DateTimeOffset now, int seed)
        {
            _snapshot = snapshot;
            _config = config;
            _now = now;
            _seed = seed;
            _nodes = [.. snapshot.Nodes.OrderBy(n => n.Name, StringComparer.Ordinal).Select((n, i) => new NodeState(n, i))];
            // The seed only breaks exact score ties, through a fixed per-cycle node order.
            var random = new Random(seed);
            foreach (var n in _nodes)
                n.Order = random.Next();
            _byName = _nodes.ToDictionary(n => n.Node.Name, StringComparer.Ordinal);
        }

        public SchedulingPlan Run()
        {
            // 1. What must stop now, and what keeps holding capacity.
            foreach (var r in _snapshot.Running.OrderBy(r => r.Workload.Id, StringComparer.Ordinal))
            {
                var requeue = r.Workload.Checkpoint == CheckpointPolicy.Requeue;
                if (r.NoticeDeadline is { } deadline && deadline <= _now)
                    _stops.Add(new StopDecision(r.Workload.Id, StopCause.NoticeExpired, requeue));
                else if (r.Workload.MaxDuration is { } max && r.StartedAt + max <= _now)
                    _stops.Add(new StopDecision(r.Workload.Id, StopCause.MaxDurationReached, false));
                else if (r.Workload.Tier == Tier.Reserved && ActiveBlock(r.Workload.ReservationId) is null)
                    _stops.Add(new StopDecision(r.Workload.Id, StopCause.ReservationEnded, false));
                else
                    Hold(r);
            }

            if (_config.Score == SchedulingPlugins.FgdPack)
                PrepareFragmentation();

            // 3. Queue order, then 4. one decision per pending workload.
            var pending = new List<PendingDecision>();
            var queue = Order(_snapshot.Pending.Where(w => !_running.ContainsKey(w.Id)));
            foreach (var w in queue)
            {
                var reasons = Schedule(w);
                if (reasons is not null)
                    pending.Add(new PendingDecision(w.Id, pending.Count + 1, reasons.Value));
            }
            return new SchedulingPlan([.. _starts], [.. _notices], [.. _stops], [.. pending]);
        }

        private void Hold(RunningWorkload r)
        {
            _running[r.Workload.Id] = r;
            foreach (var a in r.Allocations)
            {
                if (!_byName.TryGetValue(a.Node, out var node))
                    continue;
                foreach (var g in a.Gpus)
                    node.GpuFree[g] -= a.GpuMilli;
                node.CpuFree -= a.CpuMilli;
                node.MemFree -= a.MemoryMib;
                Account(r.Workload, node.Pool, (long)a.Gpus.Length * a.GpuMilli);
            }
        }

        private void Account(Workload w, Pool pool, long milli)
        {
            if (w.Tier == Tier.OnDemand)
                _onDemandUsed[pool] = _onDemandUsed.GetValueOrDefault(pool) + milli;
            var key = new QuotaKey(w.Org, w.Tier, pool.GpuModel);
            _quotaUsed[key] = _quotaUsed.GetValueOrDefault(key) + milli;
            var any = key with { GpuModel = "*" };
            _quotaUsed[any] = _quotaUsed.GetValueOrDefault(any) + milli;
            if (w.ReservationId is { } id)
                _blockUsed[id] = _blockUsed.GetValueOrDefault(id) + milli;
        }

        private List<Workload> Order(IEnumerable<Workload> pending)
        {
            // Dominant share within the tier: the org's largest share of GPUs, CPU or memory, as
            // held now plus its average over the fair-share window, so a tenant that just used a
            // lot waits behind one that did not, even when neither holds anything at this instant.
            double gpus = Math.Max(1, _nodes.Sum(n => n.Node.GpuCount) * 1000.0);
            double cpu = Math.Max(1, _nodes.Sum(n => (double)n.Node.CpuMilli));
            double mem = Math.Max(1, _nodes.Sum(n => (double)n.Node.MemoryMib));
            var held = new Dictionary<(string, Tier), (double Gpu, double Cpu, double Mem)>();
            foreach (var r in _running.Values)
            {
                var key = (r.Workload.Org, r.Workload.Tier);
                var h = held.GetValueOrDefault(key);
                foreach (var a in r.Allocations)
                    h = (h.Gpu + ((double)a.Gpus.Length * a.GpuMilli), h.Cpu + a.CpuMilli, h.Mem + a.MemoryMib);
                held[key] = h;
            }
            foreach (var u in _snapshot.RecentUsage.Where(u => u.WindowSeconds > 0))
            {
                var key = (u.Org, u.Tier);
                var h = held.GetValueOrDefault(key);
                held[key] = (h.Gpu + ((double)u.GpuMilliSeconds / u.WindowSeconds), h.Cpu + ((double)u.CpuMilliSeconds / u.WindowSeconds), h.Mem + ((double)u.MemoryMibSeconds / u.WindowSeconds));
            }
            var share = held.ToDictionary(h => h.Key, h => Math.Max(h.Value.Gpu / gpus, Math.Max(h.Value.Cpu / cpu, h.Value.Mem / mem)));
            return [.. pending
                .OrderByDescending(w => w.Tier)
                .ThenBy(w => share.GetValueOrDefault((w.Org, w.Tier)))
                .ThenBy(w => w.SubmittedAt)
                .ThenBy(w => w.Id, StringComparer.Ordinal)];
        }

        /// <summary>Starts or preempts for the workload; returns null when it started, else why it waits.</summary>
        private ImmutableArray<PendingReason>? Schedule(Workload w)
        {
            if (w.Validate() is { } invalid)
                return [new PendingReason("invalid", invalid)];
            _poolWhole = _nodes.GroupBy(n => n.Pool).ToDictionary(g => g.Key, g => g.Sum(n => n.WholeFree));

            var rejected = new Dictionary<string, int>(StringComparer.Ordinal);
            var passing = new List<NodeState>();
            foreach (var node in _nodes)
            {
                var failed = _config.Filters.FirstOrDefault(f => !Passes(f, node, w));
                if (failed is null)
                    passing.Add(node);
                else
                    rejected[failed] = rejected.GetValueOrDefault(failed) + 1;
            }

            var gang = PickGang(w, passing);
            if (gang is not null)
            {
                Start(w, gang);
                return null;
            }

            var reasons = Explain(w, passing.Count, rejected);
            if (_config.Preempt == SchedulingPlugins.CheapestVictims && w.Tier > Tier.Spot)
            {
                var preemption = Preempt(w);
                if (preemption is not null)
                    reasons.Insert(0, preemption);
            }
            return [.. reasons];
        }

        private bool Passes(string filter, NodeState node, Workload w) => filter switch
        {
            SchedulingPlugins.Schedulable => node.Node.Schedulable,
            SchedulingPlugins.Region => w.Region is null || w.Region == node.Node.Region,
            SchedulingPlugins.GpuModel => w.GpusPerNode == 0 || w.GpuModels.IsDefaultOrEmpty || w.GpuModels.Contains(node.Node.GpuModel),
            SchedulingPlugins.Reservation => ReservationAllows(node, w, whole: node.WholeFree),
            SchedulingPlugins.Quota => QuotaAllows(node.Pool, w),
            SchedulingPlugins.OnDemandCap => w.Tier != Tier.OnDemand || !_config.OnDemandCaps.TryGetValue(node.Pool, out var cap) || _onDemandUsed.GetValueOrDefault(node.Pool) + w.TotalGpuMilli <= cap,
            SchedulingPlugins.Resources => node.Fits(w),
            _ => true,
        };

        /// <summary>
        /// A reserved workload runs only in its own active block's pool and within its size; anyone
        /// else must leave the pool's unused held GPUs whole and free.
        /// </summary>
        private bool ReservationAllows(NodeState node, Workload w, int whole)
        {
            if (w.Tier == Tier.Reserved)
            {
                var block = ActiveBlock(w.ReservationId);
                return block is not null && block.Region == node.Node.Region && block.GpuModel == node.Node.GpuModel
                    && _blockUsed.GetValueOrDefault(block.Id) + w.TotalGpuMilli <= block.GpuCount * 1000L;
            }
            var held = UnusedHeldGpus(node.Pool);
            if (held == 0 || w.GpusPerNode == 0)
                return true;
            var poolWhole = _poolWhole.GetValueOrDefault(node.Pool) - node.WholeFree + whole;
            return poolWhole - ((long)w.NodeCount * w.GpusPerNode) >= held;
        }

        private CapacityBlock? ActiveBlock(string? id) =>
            id is null ? null : _snapshot.Reservations.FirstOrDefault(b => b.Id == id && b.ActiveAt(_now));

        private IEnumerable<CapacityBlock> ActiveBlocks(Pool pool) =>
            _snapshot.Reservations.Where(b => b.ActiveAt(_now) && b.Region == pool.Region && b.GpuModel == pool.GpuModel);

        private long UnusedHeldGpus(Pool pool) =>
            ActiveBlocks(pool).Sum(b => Math.Max(0, b.GpuCount - ((_blockUsed.GetValueOrDefault(b.Id) + 999) / 1000)));

        private bool QuotaAllows(Pool pool, Workload w)
        {
            foreach (var key in new[] { new QuotaKey(w.Org, w.Tier, pool.GpuModel), new QuotaKey(w.Org, w.Tier, "*") })
            {
                if (_config.Quotas.TryGetValue(key, out var quota) && _quotaUsed.GetValueOrDefault(key) + w.TotalGpuMilli > quota)
                    return false;
            }
            return true;
        }

        /// <summary>Score step: the gang's nodes from one pool, fewest NVLink domains, then racks, then best score.</summary>
        private List<NodeState>? PickGang(Workload w, List<NodeState> passing)
        {
            List<NodeState>? best = null;
            (int Domains, int Racks, long Score) bestKey = default;
            foreach (var pool in passing.GroupBy(n => n.Pool).OrderBy(g => g.Key.Region, StringComparer.Ordinal).ThenBy(g => g.Key.GpuModel, StringComparer.Ordinal))
            {
                var ranked = pool.OrderBy(n => Score(n, w)).ThenBy(n => n.Order).ToList();
                if (ranked.Count < w.NodeCount)
                    continue;
                var chosen = Topology(ranked, w.NodeCount);
                var key = (Distinct(chosen, SchedulingNode.NvlinkDomainLabel), Distinct(chosen, SchedulingNode.RackLabel), chosen.Sum(n => Score(n, w)));
                if (best is null || key.CompareTo(bestKey) < 0)
                    (best, bestKey) = (chosen, key);
            }
            return best;
        }

        private static int Distinct(List<NodeState> nodes, string label) => nodes.Select(n => n.Node.Label(label) ?? n.Node.Name).Distinct().Count();

        /// <summary>
        /// Picks <paramref name="count"/> of the ranked nodes: inside one NVLink domain if one holds
        /// enough, else one rack, else the domains with the most candidates first.
        /// </summary>
        private static List<NodeState> Topology(List<NodeState> ranked, int count)
        {
            if (count == 1)
                return [ranked[0]];
            foreach (var label in new[] { SchedulingNode.NvlinkDomainLabel, SchedulingNode.RackLabel })
            {
                var group = ranked.Where(n => n.Node.Label(label) is not null)
                    .GroupBy(n => n.Node.Label(label)!)
                    .Where(g => g.Count() >= count)
                    .OrderBy(g => g.Count()) // the tightest group that holds the gang keeps larger ones whole
                    .ThenBy(g => g.Key, StringComparer.Ordinal)
                    .FirstOrDefault();
                if (group is not null)
                    return [.. group.Take(count)];
            }
            return [.. ranked
                .GroupBy(n => n.Node.Label(SchedulingNode.NvlinkDomainLabel) ?? n.Node.Name)
                .OrderByDescending(g => g.Count())
                .ThenBy(g => g.Key, StringComparer.Ordinal)
                .SelectMany(g => g)
                .Take(count)];
        }

        private void PrepareFragmentation()
        {
            _fleet = PlacementFleet.Create([.. _nodes.Select(n => new PlacementNode(n.Node.Name, n.Node.GpuModel, n.Node.GpuCount, n.Node.CpuMilli, n.Node.MemoryMib)
            {
                GpuMilliUsed = [.. n.GpuFree.Select(f => 1000 - f)],
                CpuMilliUsed = n.Node.CpuMilli - n.CpuFree,
                MemoryMibUsed = n.Node.MemoryMib - n.MemFree,
            })]);
            _mix = WorkloadMix.From(_snapshot.Pending.Concat(_running.Values.Select(r => r.Workload)).Select(Request));
            _fragmentation = new FragmentationPolicy(SchedulingPlugins.FgdPack, _mix, new Random(_seed), FragmentationPolicy.Measure.WithPacking, FragmentationPolicy.TieBreak.BestFit);
        }

        private PlacementRequest Request(Workload w) =>
            new(w.CpuMilliPerNode, w.MemoryMibPerNode, w.GpusPerNode, w.GpusPerNode == 0 ? 0 : w.GpuMilli, _fleet!.ModelMask(w.GpuModels.IsDefault ? [] : w.GpuModels));

        /// <summary>
        /// Lower is better. best-fit: what the node has left after the placement; spread: the
        /// opposite; fgd-pack: how much the placement grows the node's expected fragmentation.
        /// </summary>
        private long Score(NodeState n, Workload w)
        {
            if (_fragmentation is not null)
                return _fragmentation.Score(_fleet!, n.Index, _mix!.Tag(Request(w)), out _);
            long leftover = ((n.GpuFree.Sum() - ((long)w.GpusPerNode * w.GpuMilli)) * 1_000_000L / Math.Max(1, n.Node.GpuCount * 1000))
                + ((n.CpuFree - w.CpuMilliPerNode) * 1_000_000L / Math.Max(1, n.Node.CpuMilli));
            return _config.Score == SchedulingPlugins.Spread ? -leftover : leftover;
        }

        private void Start(Workload w, List<NodeState> gang)
        {
            var allocations = ImmutableArray.CreateBuilder<Allocation>(gang.Count);
            foreach (var node in gang.OrderBy(n => n.Node.Name, StringComparer.Ordinal))
            {
                var gpus = TakeGpus(node.GpuFree, w);
                node.CpuFree -= w.CpuMilliPerNode;
                node.MemFree -= w.MemoryMibPerNode;
                allocations.Add(new Allocation(node.Node.Name, gpus, w.GpuMilli, w.CpuMilliPerNode, w.MemoryMibPerNode));
                // Same GPUs as TakeGpus: the lowest free whole GPUs, or the tightest (then lowest) for a share.
                _fleet?.Place(node.Index, w.GpuMilli < 1000 && w.GpusPerNode > 0 ? gpus[0] : -1, Request(w));
                Account(w, node.Pool, (long)w.GpusPerNode * w.GpuMilli);
            }
            _starts.Add(new StartDecision(w.Id, allocations.MoveToImmutable()));
        }

        /// <summary>Whole GPUs: the lowest free ones. A share: the tightest GPU it fits on.</summary>
        private static ImmutableArray<int> TakeGpus(int[] free, Workload w)
        {
            if (w.GpusPerNode == 0)
                return [];
            if (w.GpuMilli < 1000)
            {
                var g = Enumerable.Range(0, free.Length).Where(i => free[i] >= w.GpuMilli).OrderBy(i => free[i]).ThenBy(i => i).First();
                free[g] -= w.GpuMilli;
                return [g];
            }
            var taken = Enumerable.Range(0, free.Length).Where(i => free[i] == 1000).Take(w.GpusPerNode).ToImmutableArray();
            foreach (var g in taken)
                free[g] = 0;
            return taken;
        }

        /// <summary>
        /// Preempt step. For each node, the cheapest spot victims (lowest tier, least work at
        /// risk, fewest GPUs, youngest) whose removal lets one gang member fit there; then the
        /// gang's nodes with the cheapest sets. Nothing is noticed unless the whole gang fits.
        /// </summary>
        private PendingReason? Preempt(Workload w)
        {
            var protectedUntil = DateTimeOffset.MaxValue;
            var eligible = _running.Values
                .Where(r => r.Workload.Tier == Tier.Spot && r.Workload.Tier < w.Tier && !_claimed.Contains(r.Workload.Id))
                .Where(r =>
                {
                    var until = r.StartedAt + _config.SpotMinimumRunTime;
                    if (r.NoticeDeadline is not null || until <= _now)
                        return true;
                    protectedUntil = until < protectedUntil ? until : protectedUntil;
                    return false;
                })
                .OrderBy(r => r.NoticeDeadline is null ? 1 : 0) // already leaving: free of charge
                .ThenBy(r => r.Workload.Tier)
                .ThenBy(r => r.WorkAtRisk(_now))
                .ThenBy(r => r.Workload.TotalGpuMilli)
                .ThenByDescending(r => r.StartedAt)
                .ThenBy(r => r.Workload.Id, StringComparer.Ordinal)
                .ToList();

            var options = new List<(NodeState Node, List<RunningWorkload> Victims, long Cost)>();
            foreach (var node in _nodes)
            {
                if (!_config.Filters.Where(f => f != SchedulingPlugins.Resources && f != SchedulingPlugins.Reservation).All(f => Passes(f, node, w)))
                    continue;
                var free = (int[])node.GpuFree.Clone();
                int cpu = node.CpuFree, mem = node.MemFree;
                var victims = new List<RunningWorkload>();
                foreach (var v in eligible)
                {
                    if (node.Fits(w, free, cpu, mem))
                        break;
                    var here = v.Allocations.Where(a => a.Node == node.Node.Name).ToList();
                    if (here.Count == 0)
                        continue;
                    foreach (var a in here)
                    {
                        foreach (var g in a.Gpus)
                            free[g] += a.GpuMilli;
                        cpu += a.CpuMilli;
                        mem += a.MemoryMib;
                    }
                    victims.Add(v);
                }
                // A node that fits without victims joins at no cost; a gang may mix both kinds.
                if (node.Fits(w, free, cpu, mem) && ReservationAllows(node, w, free.Count(f => f == 1000)))
                {
                    var cost = victims.Sum(v => v.NoticeDeadline is null ? (v.WorkAtRisk(_now).Ticks / TimeSpan.TicksPerSecond) + 1 : 0);
                    options.Add((node, victims, cost));
                }
            }

            var gang = options
                .GroupBy(o => o.Node.Pool)
                .Select(g => g.OrderBy(o => o.Victims.Count == 0 ? 0 : 1).ThenBy(o => o.Cost).ThenBy(o => o.Node.Order).Take(w.NodeCount).ToList())
                .Where(g => g.Count == w.NodeCount && g.Any(o => o.Victims.Count > 0))
                .OrderBy(g => g.Sum(o => o.Cost))
                .ThenBy(g => g[0].Node.Pool.Region, StringComparer.Ordinal)
                .ThenBy(g => g[0].Node.Pool.GpuModel, StringComparer.Ordinal)
                .FirstOrDefault();
            if (gang is null)
            {
                return protectedUntil != DateTimeOffset.MaxValue
                    ? new PendingReason("spot-minimum-run-time", $"spot workloads that could make room are protected by their minimum run time until {Format(protectedUntil)}")
                    : null;
            }

            foreach (var (node, victims, _) in gang)
                HoldFor(w, node, victims);
            var deadline = DateTimeOffset.MinValue;
            foreach (var v in gang.SelectMany(o => o.Victims).DistinctBy(v => v.Workload.Id))
            {
                _claimed.Add(v.Workload.Id);
                var due = v.NoticeDeadline ?? _now + _config.GraceFor(v.Workload.Tier);
                if (v.NoticeDeadline is null)
                    _notices.Add(new NoticeDecision(v.Workload.Id, due, w.Id, v.Workload.Checkpoint == CheckpointPolicy.Requeue));
                deadline = due > deadline ? due : deadline;
            }
            return new PendingReason("waiting-for-preemption", $"{gang.SelectMany(o => o.Victims).DistinctBy(v => v.Workload.Id).Count()} spot workload(s) were given notice to make room; they stop by {Format(deadline)}");
        }

        /// <summary>
        /// Keeps for <paramref name="w"/>, for the rest of the cycle, the free capacity of <paramref name="node"/> it
        /// will need once its <paramref name="victims"/> have left, so that work later in the queue cannot take it in
        /// the meantime (the victims leave at different instants: one gone a cycle before the others would otherwise
        /// make room for a queued spot workload, which the waiting one would then have to preempt in turn).
        /// </summary>
        private static void HoldFor(Workload w, NodeState node, List<RunningWorkload> victims)
        {
            var after = (int[])node.GpuFree.Clone();
            int cpu = node.CpuFree, mem = node.MemFree;
            foreach (var a in victims.SelectMany(v => v.Allocations).Where(a => a.Node == node.Node.Name))
            {
                foreach (var g in a.Gpus)
                    after[g] += a.GpuMilli;
                cpu += a.CpuMilli;
                mem += a.MemoryMib;
            }
            var remaining = (int[])after.Clone();
            TakeGpus(remaining, w);
            // What stays free now is at most what the node will have left after the victims go and w starts.
            for (var g = 0; g < remaining.Length; g++)
                node.GpuFree[g] = Math.Min(node.GpuFree[g], remaining[g]);
            node.CpuFree = Math.Min(node.CpuFree, cpu - w.CpuMilliPerNode);
            node.MemFree = Math.Min(node.MemFree, mem - w.MemoryMibPerNode);
        }

        private List<PendingReason> Explain(Workload w, int passing, Dictionary<string, int> rejected)
        {
            var shape = w.GpusPerNode == 0
                ? $"{w.CpuMilliPerNode / 1000.0:0.#} CPU"
                : w.GpuMilli < 1000 ? $"{w.GpuMilli} milli-GPUs of one {Models(w)}" : $"{w.GpusPerNode} × {Models(w)}";
            var where = w.NodeCount == 1 ? "on one node" : $"on each of {w.NodeCount} nodes in one pool";
            var reasons = new List<PendingReason>();
            if (passing > 0)
                reasons.Add(new PendingReason("gang-does-not-fit", $"needs {shape} {where}; only {passing} node(s) can take a member now"));
            foreach (var (filter, count) in rejected.OrderBy(r => _config.Filters.IndexOf(r.Key)))
            {
                reasons.Add(filter switch
                {
                    SchedulingPlugins.Reservation when w.Tier == Tier.Reserved =>
                        new PendingReason("reservation", ActiveBlock(w.ReservationId) is { } b
                            ? $"reservation {b.Id} ({b.GpuCount} × {b.GpuModel} in {b.Region}) has no room left for {shape}"
                            : $"reservation {w.ReservationId} is not active at {Format(_now)}"),
                    SchedulingPlugins.Reservation => HeldReason(w, shape, where, count),
                    SchedulingPlugins.Resources => new PendingReason("insufficient-capacity", $"needs {shape} {where}; {count} node(s) have too little free GPU, CPU or memory"),
                    SchedulingPlugins.Quota => new PendingReason("quota", $"org {w.Org} has no {w.Tier} quota left for {w.TotalGpuMilli} milli-GPUs on {count} node(s)' models"),
                    SchedulingPlugins.OnDemandCap => new PendingReason("on-demand-cap", $"the on-demand cap of the pool is reached on {count} node(s)"),
                    SchedulingPlugins.GpuModel => new PendingReason("gpu-model", $"{count} node(s) have another GPU model than {Models(w)}"),
                    SchedulingPlugins.Region => new PendingReason("region", $"{count} node(s) are outside region {w.Region}"),
                    _ => new PendingReason(filter, $"{count} node(s) are cordoned"),
                });
            }
            return reasons;
        }

        private PendingReason HeldReason(Workload w, string shape, string where, int count)
        {
            var blocks = _snapshot.Reservations.Where(b => b.ActiveAt(_now) && (w.GpuModels.IsDefaultOrEmpty || w.GpuModels.Contains(b.GpuModel)) && (w.Region is null || w.Region == b.Region))
                .OrderBy(b => b.End).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();
            var held = string.Join(", ", blocks.Select(b => $"{b.Id} until {Format(b.End)}"));
            return new PendingReason("held-by-reservation", $"needs {shape} {where}; {count} such node(s) are free but held by reservation {held}");
        }

        private static string Models(Workload w) => w.GpuModels.IsDefaultOrEmpty ? "GPU" : string.Join("|", w.GpuModels);

        private static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture);
    }
}
