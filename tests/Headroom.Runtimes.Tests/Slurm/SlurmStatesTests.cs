using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

public sealed class SlurmStatesTests
{
    public static TheoryData<string, string?, bool, bool, RuntimeJobState> Cases => new()
    {
        // state, reason, planned nodes, notice given → Headroom state
        { "PENDING", "None", false, false, RuntimeJobState.Queued },
        { "PENDING", "Resources", false, false, RuntimeJobState.Queued },
        { "PENDING", "Priority", false, false, RuntimeJobState.Queued },
        { "PENDING", "Resources", true, false, RuntimeJobState.Scheduled },
        { "PENDING", "BeginTime", true, false, RuntimeJobState.Queued },
        { "PENDING", "JobHeldAdmin", false, false, RuntimeJobState.Queued },
        { "REQUEUED", null, false, false, RuntimeJobState.Queued },
        { "REQUEUE_HOLD", null, false, false, RuntimeJobState.Queued },
        { "REQUEUE_FED", null, false, false, RuntimeJobState.Queued },
        { "RESV_DEL_HOLD", null, false, false, RuntimeJobState.Queued },
        { "CONFIGURING", "None", false, false, RuntimeJobState.Starting },
        { "RUNNING", "Prolog", false, false, RuntimeJobState.Starting },
        { "RUNNING", "None", false, false, RuntimeJobState.Running },
        { "RUNNING", "None", false, true, RuntimeJobState.Running },
        { "SIGNALING", null, false, false, RuntimeJobState.Running },
        { "STAGE_OUT", null, false, false, RuntimeJobState.Running },
        { "RESIZING", null, false, false, RuntimeJobState.Running },
        { "STOPPED", null, false, false, RuntimeJobState.Running },
        { "COMPLETING", "None", false, false, RuntimeJobState.Running },
        { "SUSPENDED", "Preempted", false, false, RuntimeJobState.Preempted },
        { "PREEMPTED", null, false, false, RuntimeJobState.Preempted },
        { "COMPLETED", "None", false, false, RuntimeJobState.Succeeded },
        { "FAILED", "NonZeroExitCode", false, false, RuntimeJobState.Failed },
        { "TIMEOUT", "TimeLimit", false, false, RuntimeJobState.Failed },
        { "DEADLINE", null, false, false, RuntimeJobState.Failed },
        { "OUT_OF_MEMORY", null, false, false, RuntimeJobState.Failed },
        { "SPECIAL_EXIT", null, false, false, RuntimeJobState.Failed },
        { "CANCELLED", "None", false, false, RuntimeJobState.Cancelled },
        { "REVOKED", null, false, false, RuntimeJobState.Cancelled },
        { "NODE_FAIL", null, false, false, RuntimeJobState.Lost },
        { "BOOT_FAIL", null, false, false, RuntimeJobState.Lost },
        { "running", null, false, false, RuntimeJobState.Running },
        { "CANCELLED+", null, false, false, RuntimeJobState.Cancelled },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Slurm_states_map_to_Headroom_states(string state, string? reason, bool planned, bool notice, RuntimeJobState expected)
    {
        var status = SlurmStates.Map(state, reason, planned, notice);

        Assert.NotNull(status);
        Assert.Equal(expected, status.State);
        Assert.False(string.IsNullOrWhiteSpace(status.Reason));
    }

    [Theory]
    [InlineData("PENDING", "Resources", "waiting for GPUs to free up")]
    [InlineData("PENDING", "Priority", "higher-priority jobs are ahead of it")]
    [InlineData("PENDING", "QOSMaxGRESPerUser", "pending: QOSMaxGRESPerUser")]
    [InlineData("RUNNING", "None", "running")]
    public void Pending_reasons_read_as_words(string state, string reason, string expected) =>
        Assert.Equal(expected, SlurmStates.Map(state, reason)!.Reason);

    [Fact]
    public void A_state_the_table_does_not_know_maps_to_nothing_rather_than_a_guess() =>
        Assert.Null(SlurmStates.Map("TELEPORTED"));

    [Theory]
    [InlineData(RuntimeJobState.Succeeded, true)]
    [InlineData(RuntimeJobState.Preempted, true)]
    [InlineData(RuntimeJobState.Lost, true)]
    [InlineData(RuntimeJobState.Running, false)]
    [InlineData(RuntimeJobState.Queued, false)]
    public void Terminal_states_are_the_ended_ones(RuntimeJobState state, bool terminal) =>
        Assert.Equal(terminal, new RuntimeJobStatus(state, "x").IsTerminal);
}
