using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

/// <summary>
/// These numbers and codes are stored in databases and written in fleet files. If a test here
/// fails, a change renumbered or renamed a persisted value: add a new member instead.
/// </summary>
public sealed class PersistedEnumStabilityTests
{
    [Theory]
    [InlineData(NodeState.Ready, 0, "ready")]
    [InlineData(NodeState.Cordoned, 1, "cordoned")]
    [InlineData(NodeState.Draining, 2, "draining")]
    [InlineData(NodeState.Down, 3, "down")]
    public void Node_state_codes_are_frozen(NodeState state, int number, string code)
    {
        Assert.Equal(number, (int)state);
        Assert.Equal(code, state.ToCode());
        Assert.True(FleetCodes.TryParseNodeState(code, out var parsed));
        Assert.Equal(state, parsed);
    }

    [Theory]
    [InlineData(Runtime.Local, 0, "local")]
    [InlineData(Runtime.Slurm, 1, "slurm")]
    [InlineData(Runtime.Kubernetes, 2, "kubernetes")]
    public void Runtime_codes_are_frozen(Runtime runtime, int number, string code)
    {
        Assert.Equal(number, (int)runtime);
        Assert.Equal(code, runtime.ToCode());
        Assert.True(FleetCodes.TryParseRuntime(code, out var parsed));
        Assert.Equal(runtime, parsed);
    }

    [Fact]
    public void Every_member_is_frozen_above()
    {
        // A new member must get a row in the theories above, which pins its number and code.
        Assert.Equal(4, Enum.GetValues<NodeState>().Length);
        Assert.Equal(3, Enum.GetValues<Runtime>().Length);
    }

    [Theory]
    [InlineData("Ready")]
    [InlineData("READY")]
    [InlineData(" ready")]
    [InlineData("")]
    public void Codes_match_exactly(string code) => Assert.False(FleetCodes.TryParseNodeState(code, out _));
}
