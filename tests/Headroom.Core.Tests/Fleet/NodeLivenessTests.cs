using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

public class NodeLivenessTests
{
    private static readonly GpuHealthIssue Hot = new(GpuHealthIssueKind.OverTemperature, 3, "GPU 3 is at 91 °C, above 85 °C");

    public static TheoryData<string, NodeState, string, bool, NodeState, string> Heartbeats => new()
    {
        { "a healthy ready node stays ready", NodeState.Ready, "", false, NodeState.Ready, "" },
        { "an issue drains a ready node", NodeState.Ready, "", true, NodeState.Draining, "health: GPU 3 is at 91 °C, above 85 °C" },
        { "a down node that answers sick comes back draining", NodeState.Down, "no heartbeat since 2026-11-26T10:00:00Z", true, NodeState.Draining, "health: GPU 3 is at 91 °C, above 85 °C" },
        { "a down node that answers healthy is ready again", NodeState.Down, "no heartbeat since 2026-11-26T10:00:00Z", false, NodeState.Ready, "" },
        { "recovery ends a drain health started", NodeState.Draining, "health: GPU 3 is at 91 °C, above 85 °C", false, NodeState.Ready, "" },
        { "recovery never ends an operator's drain", NodeState.Draining, "maintenance", false, NodeState.Draining, "maintenance" },
        { "an issue leaves an operator's drain as it is", NodeState.Draining, "maintenance", true, NodeState.Draining, "maintenance" },
        { "an issue leaves a cordoned node cordoned", NodeState.Cordoned, "rack work", true, NodeState.Cordoned, "rack work" },
        { "recovery never uncordons", NodeState.Cordoned, "rack work", false, NodeState.Cordoned, "rack work" },
    };

    [Theory]
    [MemberData(nameof(Heartbeats))]
    public void A_heartbeat_moves_the_node(string because, NodeState current, string reason, bool sick, NodeState expected, string expectedReason)
    {
        var (state, why) = NodeLiveness.OnHeartbeat(current, reason, sick ? [Hot] : []);

        Assert.True(expected == state, because);
        Assert.Equal(expectedReason, why);
    }

    [Fact]
    public void Only_a_node_that_sent_heartbeats_and_then_went_quiet_too_long_is_silent()
    {
        var now = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        var after = TimeSpan.FromSeconds(30);

        Assert.False(NodeLiveness.IsSilent(NodeState.Ready, null, now, after));
        Assert.False(NodeLiveness.IsSilent(NodeState.Ready, now.AddSeconds(-30), now, after));
        Assert.True(NodeLiveness.IsSilent(NodeState.Ready, now.AddSeconds(-31), now, after));
        Assert.True(NodeLiveness.IsSilent(NodeState.Cordoned, now.AddMinutes(-5), now, after));
        Assert.False(NodeLiveness.IsSilent(NodeState.Down, now.AddMinutes(-5), now, after));
        Assert.Equal("no heartbeat since 2026-11-26T11:59:29Z", NodeLiveness.SilenceReason(now.AddSeconds(-31)));
    }
}
