using CsCheck;
using Headroom.Core.Deployments;

namespace Headroom.Core.Tests.Deployments;

public sealed class AutoscalerTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(60);

    [Theory]
    //          min max desired inflight unserved target quietSeconds  expected reason
    [InlineData(1, 4, 0, 0, 0, 4, 0, 1, ScaleDecision.BelowMin)]
    [InlineData(1, 2, 5, 100, 0, 4, 0, 2, ScaleDecision.AboveMax)]
    [InlineData(1, 4, 1, 4, 0, 4, 0, 1, ScaleDecision.Steady)]
    [InlineData(1, 4, 1, 5, 0, 4, 0, 2, ScaleDecision.Load)]
    [InlineData(1, 4, 1, 9, 0, 4, 0, 3, ScaleDecision.Load)]
    [InlineData(1, 4, 1, 0, 3, 2, 0, 2, ScaleDecision.Load)]
    [InlineData(1, 4, 2, 100, 0, 1, 0, 4, ScaleDecision.Load)]
    [InlineData(1, 4, 3, 0, 0, 4, 59, 3, ScaleDecision.Cooldown)]
    [InlineData(1, 4, 3, 0, 0, 4, 60, 2, ScaleDecision.Idle)]
    [InlineData(2, 4, 2, 0, 0, 4, 600, 2, ScaleDecision.Steady)]
    [InlineData(0, 4, 1, 0, 0, 4, 600, 0, ScaleDecision.Idle)]
    public void Decides_by_the_table(int min, int max, int desired, int inFlight, int unserved, int target, int quietSeconds, int expected, string reason)
    {
        var decision = Autoscaler.Decide(new ScaleSnapshot(min, max, desired, inFlight, unserved, target, Now.AddSeconds(-quietSeconds)), Now, Delay);

        Assert.Equal(expected, decision.Desired);
        Assert.Equal(reason, decision.Reason);
        Assert.False(string.IsNullOrWhiteSpace(decision.Message));
    }

    [Fact]
    public void Refuses_bounds_that_cannot_hold() =>
        Assert.Throws<ArgumentException>(() => Autoscaler.Decide(new ScaleSnapshot(3, 2, 2, 0, 0, 1, Now), Now, Delay));

    private static readonly Gen<(ScaleSnapshot Snapshot, int Quiet)> Snapshots =
        Gen.Select(Gen.Int[0, 8], Gen.Int[0, 8], Gen.Int[0, 20], Gen.Int[0, 200], Gen.Int[0, 50], Gen.Int[1, 16], Gen.Int[0, 300])
            .Select((min, extra, desired, inFlight, unserved, target, quiet) =>
                (new ScaleSnapshot(min, min + extra, desired, inFlight, unserved, target, Now.AddSeconds(-quiet)), quiet));

    [Fact]
    public void Always_lands_within_the_bounds_and_steps_down_at_most_one_replica_only_after_the_delay() =>
        Snapshots.Sample(c =>
        {
            var s = c.Snapshot;
            var d = Autoscaler.Decide(s, Now, Delay);
            var inBounds = s.Desired >= s.Min && s.Desired <= s.Max;
            return d.Desired >= s.Min && d.Desired <= s.Max
                && (!inBounds || d.Desired >= s.Desired - 1)
                && (!inBounds || d.Desired >= s.Desired || c.Quiet >= Delay.TotalSeconds);
        });

    [Fact]
    public void Serves_the_demand_it_sees_when_max_allows() =>
        Snapshots.Sample(c =>
        {
            var s = c.Snapshot;
            var d = Autoscaler.Decide(s, Now, Delay);
            // From within the bounds, capacity after the decision covers the demand unless max caps it: a scale-down never cuts below it.
            var inBounds = s.Desired >= s.Min && s.Desired <= s.Max;
            return !inBounds || d.Desired == s.Max || (long)d.Desired * s.TargetConcurrency >= s.InFlight + s.Unserved;
        });
}
