using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

public sealed class SlurmStatesTests
{
    public static TheoryData<string, string?, bool, bool, JobState> Cases => new()
    {
        // state, reason, planned nodes, notice given → Headroom state
        { "PENDING", "None", false, false, JobState.Queued },
        { "PENDING", "Resources", false, false, JobState.Queued },
        { "PENDING", "Priority", false, false, JobState.Queued },
        { "PENDING", "Resources", true, false, JobState.Scheduled },
        { "PENDING", "BeginTime", true, false, JobState.Queued },
        { "PENDING", "JobHeldAdmin", false, false, JobState.Queued },
        { "REQUEUED", null, false, false, JobState.Queued },
        { "REQUEUE_HOLD", null, false, false, JobState.Queued },
        { "REQUEUE_FED", null, false, false, JobState.Queued },
        { "RESV_DEL_HOLD", null, false, false, JobState.Queued },
        { "CONFIGURING", "None", false, false, JobState.Starting },
        { "RUNNING", "Prolog", false, false, JobState.Starting },
        { "RUNNING", "None", false, false, JobState.Running },
        { "RUNNING", "None", false, true, JobState.Running },
        { "SIGNALING", null, false, false, JobState.Running },
        { "STAGE_OUT", null, false, false, JobState.Running },
        { "RESIZING", null, false, false, JobState.Running },
        { "STOPPED", null, false, false, JobState.Running },
        { "COMPLETING", "None", false, false, JobState.Running },
        { "SUSPENDED", "Preempted", false, false, JobState.Preempted },
        { "PREEMPTED", null, false, false, JobState.Preempted },
        { "COMPLETED", "None", false, false, JobState.Succeeded },
        { "FAILED", "NonZeroExitCode", false, false, JobState.Failed },
        { "TIMEOUT", "TimeLimit", false, false, JobState.Failed },
        { "DEADLINE", null, false, false, JobState.Failed },
        { "OUT_OF_MEMORY", null, false, false, JobState.Failed },
        { "SPECIAL_EXIT", null, false, false, JobState.Failed },
        { "CANCELLED", "None", false, false, JobState.Cancelled },
        { "REVOKED", null, false, false, JobState.Cancelled },
        { "NODE_FAIL", null, false, false, JobState.Lost },
        { "BOOT_FAIL", null, false, false, JobState.Lost },
        { "running", null, false, false, JobState.Running },
        { "CANCELLED+", null, false, false, JobState.Cancelled },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Slurm_states_map_to_Headroom_states(string state, string? reason, bool planned, bool notice, JobState expected)
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
    [InlineData(JobState.Succeeded, true)]
    [InlineData(JobState.Preempted, true)]
    [InlineData(JobState.Lost, true)]
    [InlineData(JobState.Running, false)]
    [InlineData(JobState.Queued, false)]
    public void Terminal_states_are_the_ended_ones(JobState state, bool terminal) =>
        Assert.Equal(terminal, new RuntimeJobStatus(state, "x").IsTerminal);
}
