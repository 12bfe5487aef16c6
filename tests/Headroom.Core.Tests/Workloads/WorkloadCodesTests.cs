using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;

namespace Headroom.Core.Tests.Workloads;

/// <summary>Job states, tiers and checkpoint policies are stored and sent by these codes; they never change.</summary>
public sealed class WorkloadCodesTests
{
    [Fact]
    public void Job_state_codes_are_frozen()
    {
        Assert.Equal(
            ["queued", "scheduled", "starting", "running", "succeeded", "failed", "cancelled", "preempted", "lost"],
            Enum.GetValues<JobState>().Select(s => s.ToCode()));
    }

    [Fact]
    public void Tier_and_checkpoint_codes_are_frozen()
    {
        Assert.Equal(["spot", "on-demand", "reserved", "internal"], Enum.GetValues<Tier>().Select(t => t.ToCode()));
        Assert.Equal(["none", "requeue"], Enum.GetValues<CheckpointPolicy>().Select(c => c.ToCode()));
    }

    [Fact]
    public void Every_code_parses_back_and_nothing_else_parses()
    {
        Assert.All(Enum.GetValues<JobState>(), s => Assert.True(WorkloadCodes.TryParseJobState(s.ToCode(), out var back) && back == s));
        Assert.All(Enum.GetValues<Tier>(), t => Assert.True(WorkloadCodes.TryParseTier(t.ToCode(), out var back) && back == t));
        Assert.False(WorkloadCodes.TryParseTier("On-Demand", out _));
        Assert.False(WorkloadCodes.TryParseJobState(null, out _));
    }

    [Fact]
    public void Active_states_are_the_queue_and_those_holding_capacity()
    {
        Assert.Equal(["queued", "scheduled", "starting", "running"], WorkloadCodes.ActiveCodes);
    }
}
