using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Scheduling.Tiered.SnapshotBuilder;

namespace Headroom.Core.Tests.Scheduling.Tiered;

public sealed class TieredSchedulerTests
{
    private static readonly TimeSpan LongAgo = TimeSpan.FromHours(2);

    [Fact]
    public void Tier_values_are_frozen()
    {
        Assert.Equal([0, 1, 2, 3], Enum.GetValues<Tier>().Select(t => (int)t));
        Assert.Equal(["Spot", "OnDemand", "Reserved", "Internal"], Enum.GetNames<Tier>());
        Assert.Equal([0, 1, 2], Enum.GetValues<StopCause>().Select(t => (int)t));
    }

    [Fact]
    public void A_job_that_fits_starts_with_all_its_GPUs_on_one_node()
    {
        var plan = new SnapshotBuilder().Nodes(2).Pending(Job("j1", Tier.OnDemand)).Plan();

        var start = Assert.Single(plan.Starts);
        Assert.Equal("j1", start.WorkloadId);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], Assert.Single(start.Allocations).Gpus.ToArray());
        Assert.Empty(plan.Pending);
    }

    public static TheoryData<string, Tier, Tier, bool> PreemptionCases => new()
    {
        { "internal takes GPUs from spot", Tier.Internal, Tier.Spot, true },
        { "reserved takes GPUs from spot", Tier.Reserved, Tier.Spot, true },
        { "on-demand takes GPUs from spot", Tier.OnDemand, Tier.Spot, true },
        { "internal never preempts on-demand", Tier.Internal, Tier.OnDemand, false },
        { "spot never preempts spot", Tier.Spot, Tier.Spot, false },
        { "on-demand never preempts on-demand", Tier.OnDemand, Tier.OnDemand, false },
    };

    [Theory]
    [MemberData(nameof(PreemptionCases))]
    public void Only_spot_is_preempted_and_only_by_a_higher_tier(string because, Tier waiting, Tier running, bool preempts)
    {
        var builder = new SnapshotBuilder().Node("n1").Running(Job("victim", running), LongAgo, ["n1"]);
        var job = Job("waiting", waiting) with { ReservationId = waiting == Tier.Reserved ? "r1" : null };
        if (waiting == Tier.Reserved)
            builder.Reservation("r1", 8, -TimeSpan.FromHours(1), TimeSpan.FromDays(1));

        var plan = builder.Pending(job).Plan();

        Assert.True(preempts == (plan.Notices.Length == 1), because);
        Assert.Empty(plan.Starts);
        Assert.Equal("waiting", Assert.Single(plan.Pending).WorkloadId);
    }

    [Fact]
    public void A_notice_carries_the_tier_grace_and_the_requeue_policy()
    {
        var config = new SchedulerConfig { Grace = new Dictionary<Tier, TimeSpan> { [Tier.Spot] = TimeSpan.FromSeconds(30) }.ToImmutableDictionary() };
        var plan = new SnapshotBuilder().Node("n1").Running(Job("spot", Tier.Spot), LongAgo, ["n1"]).Pending(Job("int", Tier.Internal)).Plan(config);

        var notice = Assert.Single(plan.Notices);
        Assert.Equal(new NoticeDecision("spot", Now.AddSeconds(30), "int", Requeue: true), notice);
        var reason = Assert.Single(plan.Pending).Reasons[0];
        Assert.Equal("waiting-for-preemption", reason.Code);
        Assert.Contains("2026-11-26T12:00Z", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_grace_is_120_seconds()
    {
        var plan = new SnapshotBuilder().Node("n1").Running(Job("spot", Tier.Spot), LongAgo, ["n1"]).Pending(Job("int", Tier.Internal)).Plan();

        Assert.Equal(Now.AddSeconds(120), Assert.Single(plan.Notices).Deadline);
    }

    [Fact]
    public void Victims_are_the_cheapest_spot_jobs_least_work_lost_first()
    {
        var plan = new SnapshotBuilder()
            .Node("n1").Node("n2")
            .Running(Job("spot-no-checkpoint", Tier.Spot), LongAgo, ["n1"])
            .Running(Job("spot-checkpointed", Tier.Spot), LongAgo, ["n2"], checkpointAgo: TimeSpan.FromMinutes(1))
            .Pending(Job("int", Tier.Internal))
            .Plan();

        Assert.Equal("spot-checkpointed", Assert.Single(plan.Notices).WorkloadId);
    }

    [Fact]
    public void Preemption_frees_a_fitting_shape_on_one_node_never_scattered_GPUs()
    {
        // Four spot GPUs on each of two nodes, the rest taken by on-demand: eight free-able GPUs
        // in all, but never eight on one node, so nobody gets notice.
        var plan = new SnapshotBuilder()
            .Node("n1").Node("n2")
            .Running(Job("spot-1", Tier.Spot, gpus: 4), LongAgo, ["n1"])
            .Running(Job("od-1", Tier.OnDemand, gpus: 4), LongAgo, ["n1"], firstGpu: 4)
            .Running(Job("spot-2", Tier.Spot, gpus: 4), LongAgo, ["n2"])
            .Running(Job("od-2", Tier.OnDemand, gpus: 4), LongAgo, ["n2"], firstGpu: 4)
            .Pending(Job("int", Tier.Internal))
            .Plan();

        Assert.Empty(plan.Notices);
        Assert.Equal("insufficient-capacity", Assert.Single(plan.Pending).Reasons.Last().Code);
    }

    [Fact]
    public void A_spot_job_within_its_minimum_run_time_is_protected()
    {
        var plan = new SnapshotBuilder()
            .Node("n1").Running(Job("young-spot", Tier.Spot), TimeSpan.FromMinutes(2), ["n1"])
            .Pending(Job("int", Tier.Internal))
            .Plan();

        Assert.Empty(plan.Notices);
        var reason = Assert.Single(plan.Pending).Reasons[0];
        Assert.Equal("spot-minimum-run-time", reason.Code);
        Assert.Contains("2026-11-26T12:08Z", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_waiting_job_does_not_notice_more_victims_while_earlier_ones_are_leaving()
    {
        var plan = new SnapshotBuilder()
            .Node("n1").Node("n2")
            .Running(Job("leaving", Tier.Spot), LongAgo, ["n1"], noticeDeadlineIn: TimeSpan.FromSeconds(60))
            .Running(Job("other-spot", Tier.Spot), LongAgo, ["n2"])
            .Pending(Job("int", Tier.Internal))
            .Plan();

        Assert.Empty(plan.Notices);
        Assert.Equal("waiting-for-preemption", Assert.Single(plan.Pending).Reasons[0].Code);
    }

    [Fact]
    public void What_a_waiting_job_needs_of_the_free_capacity_is_held_for_it_while_its_victims_leave()
    {
        // Half of n1's victims are gone (requeued), half still run out their notice: the four free GPUs are the
        // internal job's, not the requeued spot job's, or it would have to preempt that one next. n2's two are anyone's.
        var plan = new SnapshotBuilder()
            .Node("n1").Node("n2")
            .Running(Job("leaving", Tier.Spot, gpus: 4), LongAgo, ["n1"], noticeDeadlineIn: TimeSpan.FromSeconds(2))
            .Running(Job("n2-od", Tier.OnDemand, gpus: 6), LongAgo, ["n2"])
            .Pending(Job("int", Tier.Internal), Job("requeued", Tier.Spot, gpus: 4, submittedAgo: TimeSpan.FromHours(1)), Job("small", Tier.Spot, gpus: 2))
            .Plan();

        Assert.Empty(plan.Notices);
        Assert.Equal(["int", "requeued"], plan.Pending.Select(p => p.WorkloadId));
        Assert.Equal("waiting-for-preemption", plan.Pending[0].Reasons[0].Code);
        var start = Assert.Single(plan.Starts);
        Assert.Equal("small", start.WorkloadId);
        Assert.Equal("n2", Assert.Single(start.Allocations).Node);
    }

    public static TheoryData<string, TimeSpan?, TimeSpan?, StopCause?> StopCases => new()
    {
        { "notice deadline passed", TimeSpan.FromSeconds(-1), null, StopCause.NoticeExpired },
        { "notice deadline ahead", TimeSpan.FromSeconds(30), null, null },
        { "max duration reached", null, TimeSpan.FromHours(1), StopCause.MaxDurationReached },
        { "max duration ahead", null, TimeSpan.FromHours(3), null },
    };

    [Theory]
    [MemberData(nameof(StopCases))]
    public void Running_workloads_stop_at_their_deadline_or_max_duration(string because, TimeSpan? noticeIn, TimeSpan? maxDuration, StopCause? expected)
    {
        var plan = new SnapshotBuilder().Node("n1")
            .Running(Job("spot", Tier.Spot) with { MaxDuration = maxDuration }, LongAgo, ["n1"], noticeDeadlineIn: noticeIn)
            .Plan();

        Assert.True(expected == plan.Stops.SingleOrDefault()?.Cause, because);
    }

    [Fact]
    public void Capacity_held_by_a_reservation_is_explained_with_its_id_and_end()
    {
        var plan = new SnapshotBuilder()
            .Nodes(3)
            .Reservation("r_123", 24, -TimeSpan.FromHours(1), TimeSpan.FromDays(5))
            .Pending(Job("od", Tier.OnDemand))
            .Plan();

        Assert.Empty(plan.Starts);
        var reason = Assert.Single(Assert.Single(plan.Pending).Reasons);
        Assert.Equal("held-by-reservation", reason.Code);
        Assert.Equal("needs 8 × h100-80gb on one node; 3 such node(s) are free but held by reservation r_123 until 2026-12-01T11:00Z", reason.Message);
    }

    [Fact]
    public void A_reserved_job_runs_inside_its_block_and_no_further()
    {
        var plan = new SnapshotBuilder()
            .Nodes(3)
            .Reservation("r1", 16, -TimeSpan.FromHours(1), TimeSpan.FromDays(1))
            .Pending(
                Job("res-1", Tier.Reserved) with { ReservationId = "r1" },
                Job("res-2", Tier.Reserved, submittedAgo: TimeSpan.FromSeconds(50)) with { ReservationId = "r1" },
                Job("res-3", Tier.Reserved, submittedAgo: TimeSpan.FromSeconds(40)) with { ReservationId = "r1" },
                Job("od", Tier.OnDemand))
            .Plan();

        Assert.Equal(["res-1", "res-2", "od"], plan.Starts.Select(s => s.WorkloadId));
        Assert.Equal("reservation", Assert.Single(plan.Pending).Reasons.Single().Code);
    }

    [Fact]
    public void A_gang_lands_in_one_NVLink_domain_when_one_holds_it()
    {
        var plan = new SnapshotBuilder()
            .Node("a1", nvlinkDomain: "nvl-a", rack: "r1").Node("b1", nvlinkDomain: "nvl-b", rack: "r1")
            .Node("b2", nvlinkDomain: "nvl-b", rack: "r2").Node("c1", nvlinkDomain: "nvl-c", rack: "r2")
            .Pending(Job("gang", Tier.Internal, nodes: 2))
            .Plan();

        Assert.Equal(["b1", "b2"], Assert.Single(plan.Starts).Allocations.Select(a => a.Node));
    }

    [Fact]
    public void A_gang_starts_whole_or_not_at_all()
    {
        var plan = new SnapshotBuilder().Nodes(2).Pending(Job("gang", Tier.Internal, nodes: 3)).Plan();

        Assert.Empty(plan.Starts);
        Assert.Equal("gang-does-not-fit", Assert.Single(plan.Pending).Reasons[0].Code);
    }

    [Fact]
    public void Quotas_and_on_demand_caps_hold_jobs_back_with_their_reason()
    {
        var config = new SchedulerConfig
        {
            Quotas = new Dictionary<QuotaKey, long> { [new QuotaKey("small", Tier.OnDemand, "*")] = 4_000 }.ToImmutableDictionary(),
            OnDemandCaps = new Dictionary<Pool, long> { [new Pool("eu-1", "h100-80gb")] = 16_000 }.ToImmutableDictionary(),
        };
        var plan = new SnapshotBuilder().Nodes(4)
            .Pending(Job("small-1", Tier.OnDemand, org: "small"), Job("big-1", Tier.OnDemand, org: "big"), Job("big-2", Tier.OnDemand, org: "big"), Job("big-3", Tier.OnDemand, org: "big"))
            .Plan(config);

        Assert.Equal(["big-1", "big-2"], plan.Starts.Select(s => s.WorkloadId));
        Assert.Equal([("big-3", "on-demand-cap"), ("small-1", "quota")], plan.Pending.Select(p => (p.WorkloadId, p.Reasons.Last().Code)));
    }

    [Fact]
    public void Within_a_tier_the_org_with_the_smaller_dominant_share_goes_first()
    {
        var plan = new SnapshotBuilder().Nodes(2)
            .Running(Job("heavy-running", Tier.OnDemand, org: "heavy"), LongAgo, ["h100-80gb-00"])
            .Pending(Job("heavy-next", Tier.OnDemand, org: "heavy", submittedAgo: TimeSpan.FromHours(1)), Job("light-next", Tier.OnDemand, org: "light"))
            .Plan();

        Assert.Equal("light-next", Assert.Single(plan.Starts).WorkloadId);
        var pending = Assert.Single(plan.Pending);
        Assert.Equal(("heavy-next", 1), (pending.WorkloadId, pending.QueuePosition));
    }

    [Fact]
    public void Fair_share_counts_what_an_org_used_over_the_window_not_only_what_it_holds()
    {
        var snapshot = new SnapshotBuilder().Nodes(1)
            .Pending(Job("busy-next", Tier.Spot, org: "busy", submittedAgo: TimeSpan.FromHours(1)), Job("quiet-next", Tier.Spot, org: "quiet"))
            .Build() with
        {
            RecentUsage = [new WindowUsage("busy", Tier.Spot, GpuMilliSeconds: 8_000L * 3_600, CpuMilliSeconds: 0, MemoryMibSeconds: 0, WindowSeconds: 7_200)],
        };

        var plan = TieredScheduler.Plan(snapshot, new SchedulerConfig(), Now, seed: 1);

        Assert.Equal("quiet-next", Assert.Single(plan.Starts).WorkloadId);
    }

    [Fact]
    public void Fractional_jobs_share_a_GPU()
    {
        var plan = new SnapshotBuilder().Node("n1", gpus: 1)
            .Pending(Job("a", Tier.OnDemand, gpus: 1, milli: 500), Job("b", Tier.OnDemand, gpus: 1, milli: 500), Job("c", Tier.OnDemand, gpus: 1, milli: 100))
            .Plan();

        Assert.Equal(["a", "b"], plan.Starts.Select(s => s.WorkloadId));
        Assert.Equal("c", Assert.Single(plan.Pending).WorkloadId);
    }

    [Theory]
    [InlineData(SchedulingPlugins.BestFit, "used")]
    [InlineData(SchedulingPlugins.FgdPack, "used")]
    [InlineData(SchedulingPlugins.Spread, "empty")]
    public void The_score_plugin_chosen_by_name_ranks_the_nodes(string score, string expected)
    {
        var plan = new SnapshotBuilder().Node("empty", gpus: 2).Node("used", gpus: 2)
            .Running(Job("half", Tier.OnDemand, gpus: 1, milli: 500), LongAgo, ["used"])
            .Pending(Job("share", Tier.OnDemand, gpus: 1, milli: 500))
            .Plan(new SchedulerConfig { Score = score });

        var allocation = Assert.Single(Assert.Single(plan.Starts).Allocations);
        Assert.Equal(expected, allocation.Node);
    }

    [Fact]
    public void Config_validation_lists_every_problem()
    {
        var config = new SchedulerConfig { Filters = ["resources", "colour"], Score = "cheapest", Preempt = "always", SpotMinimumRunTime = TimeSpan.FromSeconds(-1) };

        Assert.Equal(4, config.Validate().Count);
        Assert.Empty(new SchedulerConfig().Validate());
    }
}
