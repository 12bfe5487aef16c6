using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>Parsers over output captured from Slurm 22.05.8 (the dev cluster, TZ=UTC).</summary>
public sealed class SlurmOutputTests
{
    private const string Completed =
        "JobId=1 JobName=hr-job_01 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) " +
        "JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 " +
        "TimeLimit=365-00:00:00 TimeMin=N/A SubmitTime=2026-11-26T14:34:18 EligibleTime=2026-11-26T14:34:18 AccrueTime=2026-11-26T14:34:18 " +
        "StartTime=2026-11-26T14:34:19 EndTime=2026-11-26T14:34:21 Deadline=N/A PreemptEligibleTime=2026-11-26T14:34:19 PreemptTime=None " +
        "SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-26T14:34:19 Scheduler=Backfill Partition=spot AllocNode:Sid=localhost:17914 " +
        "ReqNodeList=(null) ExcNodeList=(null) NodeList=gpu-node[1-2] BatchHost=gpu-node1 NumNodes=2 NumCPUs=2 NumTasks=2 CPUs/Task=1 " +
        "ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1000M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 " +
        "MinMemoryCPU=1000M MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) " +
        "Network=(null) Command=(null) WorkDir=/srv/my work dir Comment=headroom:job=job_01,attempt=3,org=org_acme,project=p Note=x y " +
        "StdErr=/tmp/hrs-1.out StdIn=/dev/null StdOut=/tmp/hrs 1.out Power= TresPerNode=gres:gpu:h100:2 ";

    [Fact]
    public void Scontrol_lines_split_into_fields_even_where_values_hold_spaces_and_equals_signs()
    {
        var fields = SlurmOutput.ParseScontrolLine(Completed);

        Assert.Equal("COMPLETED", fields["JobState"]);
        Assert.Equal("/srv/my work dir", fields["WorkDir"]);
        Assert.Equal("headroom:job=job_01,attempt=3,org=org_acme,project=p Note=x y", fields["Comment"]);
        Assert.Equal("/tmp/hrs 1.out", fields["StdOut"]);
        Assert.Equal("cpu=1,mem=1000M,node=1,billing=1", fields["TRES"]);
        Assert.Equal("", fields["Power"]);
        Assert.Equal("gres:gpu:h100:2", fields["TresPerNode"]);
    }

    [Fact]
    public void A_completed_job_observes_as_succeeded_with_its_nodes_and_times()
    {
        var job = SlurmOutput.FromScontrol(Completed)!;

        Assert.Equal(1, job.SlurmJobId);
        Assert.Equal("job_01", job.HeadroomJobId);
        Assert.Equal(3, job.Attempt);
        Assert.Equal(JobState.Succeeded, job.Status!.State);
        Assert.Equal(0, job.ExitCode);
        Assert.Null(job.ExitSignal);
        Assert.Equal(["gpu-node1", "gpu-node2"], job.Nodes);
        Assert.Equal("spot", job.Partition);
        // Slurm prints local time without an offset.
        Assert.Equal(new DateTimeOffset(new DateTime(2026, 11, 26, 14, 34, 19, DateTimeKind.Local)), job.StartTime);
        Assert.Equal(2, (job.EndTime - job.StartTime)!.Value.TotalSeconds);
        Assert.Null(job.PreemptTime);
        Assert.Equal("/tmp/hrs 1.out", job.LogPath);
        Assert.Equal(SlurmObservationSource.Controller, job.Source);
    }

    [Fact]
    public void A_running_job_has_no_end_time_and_a_preempt_time_means_its_notice_was_given()
    {
        var line = Completed.Replace("JobState=COMPLETED", "JobState=RUNNING", StringComparison.Ordinal)
            .Replace("PreemptTime=None", "PreemptTime=2026-11-26T14:34:20", StringComparison.Ordinal);

        var job = SlurmOutput.FromScontrol(line)!;

        Assert.Equal(JobState.Running, job.Status!.State);
        Assert.Contains("preemption notice", job.Status.Reason, StringComparison.Ordinal);
        Assert.Null(job.EndTime);
        Assert.Null(job.ExitCode);
        Assert.NotNull(job.PreemptTime);
    }

    [Fact]
    public void A_pending_job_with_a_backfill_plan_is_scheduled()
    {
        var line = Completed.Replace("JobState=COMPLETED Reason=None", "JobState=PENDING Reason=Resources", StringComparison.Ordinal)
            .Replace("NodeList=gpu-node[1-2] ", "NodeList=(null) SchedNodeList=gpu-node4 ", StringComparison.Ordinal);

        var job = SlurmOutput.FromScontrol(line)!;

        Assert.Equal(JobState.Scheduled, job.Status!.State);
        Assert.Empty(job.Nodes);
        Assert.Equal("Resources", job.Reason);
    }

    [Fact]
    public void The_completion_log_keeps_one_line_per_run_and_the_last_is_the_end()
    {
        const string output = """
            2|hr-job_02|PREEMPTED|0:0|gpu-node4|2026-11-26T14:35:45|2026-11-26T14:36:08|spot
            2|hr-job_02|CANCELLED by 0|0:15|gpu-node4|2026-11-26T14:36:28|2026-11-26T14:36:46|spot
            21|hr-other|COMPLETED|0:0|gpu-node1|2026-11-26T14:36:28|2026-11-26T14:36:46|spot
            """;

        var job = SlurmOutput.FromSacct(output, 2)!;

        Assert.Equal("job_02", job.HeadroomJobId);
        Assert.Equal(JobState.Cancelled, job.Status!.State);
        Assert.Equal(1, job.Restarts);
        Assert.Equal(15, job.ExitSignal);
        Assert.Equal(["gpu-node4"], job.Nodes);
        Assert.Equal(SlurmObservationSource.Accounting, job.Source);
        Assert.Null(SlurmOutput.FromSacct(output, 3));
    }

    [Theory]
    [InlineData("gpu-node1", "gpu-node1")]
    [InlineData("gpu-node[1-3]", "gpu-node1 gpu-node2 gpu-node3")]
    [InlineData("gpu-node[1-2,4],login1", "gpu-node1 gpu-node2 gpu-node4 login1")]
    [InlineData("n[08-10]", "n08 n09 n10")]
    [InlineData("(null)", "")]
    public void Hostlists_expand(string hostlist, string expected) =>
        Assert.Equal(expected, string.Join(' ', Hostlist.Expand(hostlist)));

    [Theory]
    [InlineData("0:0", 0, null)]
    [InlineData("1:0", 1, null)]
    [InlineData("0:9", 0, 9)]
    public void Exit_codes_are_code_and_signal(string text, int code, int? signal) =>
        Assert.Equal((code, signal), SlurmOutput.ExitCode(text));
}
