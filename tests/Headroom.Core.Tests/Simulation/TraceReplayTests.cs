using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Simulation.Trace;

namespace Headroom.Core.Tests.Simulation;

public sealed class TraceReplayTests
{
    private static readonly DateTimeOffset T0 = new(2017, 10, 9, 0, 0, 0, TimeSpan.Zero);

    private static List<SchedulingNode> Fleet(int nodes, int gpus = 8) =>
        [.. Enumerable.Range(0, nodes).Select(i => new SchedulingNode($"n{i}", "default", "V100", gpus, 64_000, 524_288))];

    private static TraceJob Job(int i, int arriveSecond, int duration, int gpus, string tenant = "t1") =>
        new($"j{i}", T0.AddSeconds(arriveSecond), duration, gpus, tenant);

    private static readonly TraceReplayOptions ExactClock = TraceReplayOptions.Default with { Tick = TimeSpan.FromSeconds(1) };

    [Fact]
    public void With_room_for_everyone_every_job_runs_once_and_GPU_hours_add_up()
    {
        TraceJob[] jobs = [Job(0, 0, 3600, 8), Job(1, 10, 1800, 2), Job(2, 20, 7200, 16), Job(3, 30, 60, 1)];

        var report = TraceReplay.Run(Fleet(4), jobs, ExactClock);

        Assert.Equal(jobs.Length, report.Tiers.Sum(t => t.Completed));
        Assert.Equal(0, report.NeverStarted);
        Assert.Equal(0, report.Tiers.Sum(t => t.Preemptions));
        var expected = jobs.Sum(j => (double)j.DurationSeconds * j.Gpus) / 3600;
        Assert.Equal(expected, report.Tiers.Sum(t => t.GpuHours), precision: 6);
        Assert.Equal(0, report.Tiers.Max(t => t.MeanQueueSeconds));
    }

    [Fact]
    public void Only_spot_loses_work_and_the_same_seed_gives_the_same_report()
    {
        // Twice the demand of one node: internal, reserved and on-demand arrivals push spot out.
        var jobs = Enumerable.Range(0, 60).Select(i => Job(i, i * 300, 3 * 3600, 1 + (i % 4), $"t{i % 3}")).ToList();
        var options = ExactClock with
        {
            Shares = new TierShares(Internal: 40, Reserved: 0, OnDemand: 20, Spot: 40),
            Tick = TimeSpan.FromSeconds(30),
            Scheduler = new SchedulerConfig { SpotMinimumRunTime = TimeSpan.FromMinutes(5) },
        };

        var a = TraceReplay.Run(Fleet(1), jobs, options);
        var b = TraceReplay.Run(Fleet(1), jobs, options);

        Assert.True(a.Tiers.Single(t => t.Tier == Tier.Spot).Preemptions > 0);
        Assert.All(a.Tiers.Where(t => t.Tier != Tier.Spot), t => Assert.Equal((0, 0.0), (t.Preemptions, t.WorkLostGpuHours)));
        Assert.Equal(jobs.Count, a.Tiers.Sum(t => t.Completed));
        Assert.Equal(a.ToText(), b.ToText());
        Assert.InRange(a.UtilizationPercent, 0, 100);
    }

    [Fact]
    public void Reserved_jobs_run_in_the_block_bought_for_the_reserved_share()
    {
        // 40 % of 8 GPUs: a four-GPU block from the first arrival on; reserved jobs run only there.
        var jobs = Enumerable.Range(0, 40).Select(i => Job(i, i * 60, 600, 1)).ToList();
        var options = ExactClock with { Shares = new TierShares(Internal: 60, Reserved: 40, OnDemand: 0, Spot: 0) };

        var report = TraceReplay.Run(Fleet(1), jobs, options);

        var reserved = report.Tiers.Single(t => t.Tier == Tier.Reserved);
        Assert.True(reserved.Jobs > 0, report.ToText());
        Assert.Equal(reserved.Jobs, reserved.Completed);
        Assert.Equal(jobs.Count, report.Tiers.Sum(t => t.Completed));
    }

    [Fact]
    public void A_job_wider_than_the_fleet_never_starts_and_the_replay_still_ends()
    {
        var report = TraceReplay.Run(Fleet(1), [Job(0, 0, 60, 16), Job(1, 0, 60, 1)], ExactClock);

        Assert.Equal(1, report.NeverStarted);
    }

    [Theory]
    [InlineData("internal=40,reserved=10,on-demand=25,spot=25", true)]
    [InlineData("internal=100", true)]
    [InlineData("internal=50,spot=40", false)]
    [InlineData("gold=100", false)]
    public void Shares_must_name_tiers_and_sum_to_100(string text, bool valid)
    {
        Assert.Equal(valid, TierShares.TryParse(text, out _, out var error));
        Assert.Equal(valid, error is null);
    }

    [Fact]
    public void The_chart_is_an_SVG_document_with_a_band_per_tier()
    {
        var report = TraceReplay.Run(Fleet(1), [Job(0, 0, 600, 4), Job(1, 60, 600, 2)], ExactClock);

        var svg = System.Xml.Linq.XDocument.Parse(report.ToSvg());

        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.Equal(4, svg.Root.Elements().Count(e => e.Name.LocalName == "polygon"));
    }

    [Fact]
    public void The_Philly_sample_parses_sorted_by_arrival()
    {
        var jobs = PhillyTrace.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "philly", "philly_jobs_2017-10-09_12h.csv")));

        Assert.Equal(1_170, jobs.Count);
        Assert.True(jobs.Zip(jobs.Skip(1)).All(p => p.First.Arrival <= p.Second.Arrival));
        Assert.All(jobs, j => Assert.True(j.Gpus >= 1));
    }
}
