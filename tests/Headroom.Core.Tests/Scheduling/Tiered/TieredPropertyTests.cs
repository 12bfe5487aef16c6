using System.Collections.Immutable;
using CsCheck;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Scheduling.Tiered.SnapshotBuilder;

namespace Headroom.Core.Tests.Scheduling.Tiered;

/// <summary>
/// Invariants over random histories. A history is built with the scheduler itself: a first plan
/// over an empty fleet decides what runs (so allocations are valid by construction), then a
/// second plan over that state with new arrivals is checked.
/// </summary>
public sealed class TieredPropertyTests
{
    private static readonly Gen<SchedulingNode> GenNode =
        Gen.Select(Gen.Int[1, 8], Gen.OneOf<string>("h100-80gb", "a100-40gb"), Gen.Int[0, 2], Gen.Int[0, 3])
            .Select((gpus, model, domain, rack) => new SchedulingNode("n", "eu-1", model, gpus, gpus * 16_000, gpus * 131_072)
            {
                Labels = ImmutableDictionary<string, string>.Empty.Add(SchedulingNode.NvlinkDomainLabel, $"nvl-{domain}").Add(SchedulingNode.RackLabel, $"rack-{rack}"),
            });

    private static readonly Gen<Workload> GenWorkload =
        Gen.Select(Gen.Enum<Tier>(), Gen.Int[1, 8], Gen.Int[1, 3], Gen.OneOf<int>(1000, 1000, 250, 500), Gen.OneOf<string>("acme", "globex", "internal"), Gen.Int[0, 3600])
            .Select((tier, gpus, nodes, milli, org, age) => new Workload
            {
                Id = "w",
                Org = org,
                Tier = tier,
                GpusPerNode = milli < 1000 ? 1 : gpus,
                NodeCount = nodes,
                GpuMilli = milli,
                CpuMilliPerNode = 4_000,
                MemoryMibPerNode = 16_384,
                ReservationId = tier == Tier.Reserved ? "r1" : null,
                Checkpoint = age % 2 == 0 ? CheckpointPolicy.Requeue : CheckpointPolicy.None,
                SubmittedAt = Now - TimeSpan.FromSeconds(age),
            });

    private static readonly Gen<(SchedulerSnapshot Snapshot, int Seed)> GenHistory =
        Gen.Select(GenNode.Array[1, 6], GenWorkload.Array[0, 12], GenWorkload.Array[1, 8], Gen.Int[0, 16], Gen.Int[0, 7200], Gen.Int)
            .Select((nodes, first, second, reserved, age, seed) =>
            {
                var named = nodes.Select((n, i) => n with { Name = $"n{i}" }).ToImmutableArray();
                var blocks = reserved == 0 ? ImmutableArray<CapacityBlock>.Empty : [new CapacityBlock("r1", "acme", "eu-1", "h100-80gb", reserved, Now.AddHours(-1), Now.AddHours(1))];
                var firstPending = first.Select((w, i) => w with { Id = $"a{i}" }).ToImmutableArray();
                var before = TieredScheduler.Plan(new SchedulerSnapshot(named, [], firstPending, blocks), new SchedulerConfig(), Now.AddSeconds(-age), seed);
                var running = before.Starts
                    .Select(s => new RunningWorkload(firstPending.Single(w => w.Id == s.WorkloadId), s.Allocations, Now.AddSeconds(-age)))
                    .ToImmutableArray();
                var pending = second.Select((w, i) => w with { Id = $"b{i}" }).ToImmutableArray();
                return (new SchedulerSnapshot(named, running, pending, blocks), seed);
            });

    [Fact]
    public void No_GPU_is_overcommitted_and_gangs_start_whole()
    {
        GenHistory.Sample(h =>
        {
            var plan = TieredScheduler.Plan(h.Snapshot, new SchedulerConfig(), Now, h.Seed);
            var stopped = plan.Stops.Select(s => s.WorkloadId).ToHashSet();
            var used = new Dictionary<(string Node, int Gpu), int>();
            var byId = h.Snapshot.Pending.ToDictionary(w => w.Id);

            var holding = h.Snapshot.Running.Where(r => !stopped.Contains(r.Workload.Id)).Select(r => r.Allocations)
                .Concat(plan.Starts.Select(s => s.Allocations));
            foreach (var allocation in holding.SelectMany(a => a))
            {
                foreach (var g in allocation.Gpus)
                    used[(allocation.Node, g)] = used.GetValueOrDefault((allocation.Node, g)) + allocation.GpuMilli;
            }
            Assert.All(used, u => Assert.InRange(u.Value, 1, 1000));
            foreach (var node in h.Snapshot.Nodes)
                Assert.All(used.Keys.Where(k => k.Node == node.Name), k => Assert.InRange(k.Gpu, 0, node.GpuCount - 1));

            foreach (var start in plan.Starts)
            {
                var w = byId[start.WorkloadId];
                Assert.Equal(w.NodeCount, start.Allocations.Select(a => a.Node).Distinct().Count());
                Assert.All(start.Allocations, a => Assert.Equal(w.GpusPerNode, a.Gpus.Length));
            }
        }, iter: 300);
    }

    [Fact]
    public void Only_spot_is_preempted_and_only_for_a_higher_tier()
    {
        var notices = 0;
        GenHistory.Sample(h =>
        {
            var plan = TieredScheduler.Plan(h.Snapshot, new SchedulerConfig(), Now, h.Seed);
            Interlocked.Add(ref notices, plan.Notices.Length);
            var running = h.Snapshot.Running.ToDictionary(r => r.Workload.Id);
            var pending = h.Snapshot.Pending.ToDictionary(w => w.Id);
            foreach (var notice in plan.Notices)
            {
                var victim = running[notice.WorkloadId];
                Assert.Equal(Tier.Spot, victim.Workload.Tier); // on-demand, reserved and internal are never preempted
                Assert.True(pending[notice.PreemptedFor].Tier > victim.Workload.Tier);
                Assert.True(Now - victim.StartedAt >= new SchedulerConfig().SpotMinimumRunTime);
                Assert.Equal(Now + SchedulerConfig.DefaultGrace, notice.Deadline);
            }
        }, iter: 300);
        Assert.True(notices > 0, "the histories never exercised preemption");
    }

    [Fact]
    public void The_same_seed_gives_the_same_plan()
    {
        GenHistory.Sample(h =>
        {
            var a = TieredScheduler.Plan(h.Snapshot, new SchedulerConfig(), Now, h.Seed);
            var b = TieredScheduler.Plan(h.Snapshot, new SchedulerConfig(), Now, h.Seed);
            Assert.Equal(Describe(a), Describe(b));
        }, iter: 200);
    }

    [Fact]
    public void Reservations_are_never_overbooked()
    {
        var genRequest = Gen.Select(Gen.Int[1, 40], Gen.Int[0, 100], Gen.Int[1, 50], Gen.OneOf<string>("h100-80gb", "a100-40gb"));
        Gen.Select(genRequest.Array[1, 30], Gen.Int[8, 64], Gen.Int[0, 8]).Sample((requests, pool, guarantee) =>
        {
            var admitted = new List<CapacityBlock>();
            foreach (var (i, (gpus, start, length, model)) in requests.Index())
            {
                var block = new CapacityBlock($"r{i}", "acme", "eu-1", model, gpus, Now.AddHours(start), Now.AddHours(start + length));
                if (ReservationAdmission.Admit(block, admitted, pool, guarantee).Admitted)
                    admitted.Add(block);
            }
            for (var hour = 0; hour <= 150; hour++)
            {
                foreach (var model in new[] { "h100-80gb", "a100-40gb" })
                {
                    var t = Now.AddHours(hour);
                    Assert.True(admitted.Where(b => b.GpuModel == model && b.ActiveAt(t)).Sum(b => b.GpuCount) + guarantee <= pool);
                }
            }
        }, iter: 300);
    }

    private static string Describe(SchedulingPlan plan) => string.Join("\n",
        plan.Starts.Select(s => $"start {s.WorkloadId} " + string.Join(";", s.Allocations.Select(a => $"{a.Node}:{string.Join(",", a.Gpus)}")))
            .Concat(plan.Notices.Select(n => $"notice {n}"))
            .Concat(plan.Stops.Select(s => $"stop {s}"))
            .Concat(plan.Pending.Select(p => $"pending {p.WorkloadId} {p.QueuePosition} " + string.Join(";", p.Reasons))));
}
