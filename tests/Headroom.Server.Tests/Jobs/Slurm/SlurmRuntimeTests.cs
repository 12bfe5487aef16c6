using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Slurm;
using Headroom.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Headroom.Server.Tests.Jobs.Slurm;

/// <summary>
/// The slurm runtime against the real dev cluster, below the scheduler (one GPU of gpu-node1, beside the API test there):
/// a start repeated after a crash submits nothing new, and a new runtime instance (a restarted control plane)
/// observes, reads the logs of and stops an attempt from its persisted handle alone.
/// </summary>
public sealed class SlurmRuntimeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SlurmRuntime Runtime() => new(new SlurmRuntimeOptions
    {
        SlurmConf = SlurmJobs.Conf,
        SharedDirectory = _dir.Path,
        GresTypes = new Dictionary<string, string> { ["h100-80gb"] = "h100" },
        CommandTimeout = TimeSpan.FromSeconds(20),
    }, NullLoggerFactory.Instance);

    private static async Task<Observation> WaitAsync(SlurmRuntime runtime, string handle, Func<Observation, bool> until, double seconds = 30)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var seen = await runtime.ObserveAsync(handle, CancellationToken.None);
            if (until(seen))
                return seen;
            Assert.True(clock.Elapsed.TotalSeconds < seconds, $"still {seen.State}: {seen.Detail}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task An_attempt_is_submitted_once_and_a_restarted_runtime_observes_reads_and_stops_it_by_its_handle()
    {
        var jobId = "job_rt" + Guid.NewGuid().ToString("N")[..8];
        var workload = new RuntimeWorkload(jobId, 1, "org_test", "prj_test",
            ["/bin/bash", "-c", "echo \"line one of $HEADROOM_JOB_ID\"; echo line two; sleep 120"], new Dictionary<string, string>(),
            [new RuntimePlacement("gpu-node1", [0], 1000)], TimeSpan.FromMinutes(5), "")
        {
            Tier = Tier.OnDemand,
            GpuModel = "h100-80gb",
            NoticeGrace = TimeSpan.FromSeconds(10),
        };
        try
        {
            var first = await Runtime().StartAsync(workload, CancellationToken.None);
            var again = await Runtime().StartAsync(workload, CancellationToken.None);
            var handle = first.Handle!;

            Assert.Null(first.Error);
            Assert.Equal(handle, again.Handle);
            Assert.Single(SlurmJobs.Run("squeue", "-h", "--name=hr-" + jobId, "-o", "%i").Split('\n', StringSplitOptions.RemoveEmptyEntries));

            var restarted = Runtime();
            var running = await WaitAsync(restarted, handle, o => o.Detail.Contains("RUNNING", StringComparison.Ordinal));
            var log = new StringBuilder();
            long offset = 0;
            var clock = Stopwatch.StartNew();
            while (!log.ToString().Contains("line two", StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                // Small reads, so the offset is carried across calls as a follower does.
                var chunk = await restarted.ReadLogsAsync(handle, offset, 8, CancellationToken.None);
                log.Append(Encoding.UTF8.GetString(chunk.Data));
                offset = chunk.NextOffset;
                if (chunk.Data.Length == 0)
                    await Task.Delay(100);
            }
            await restarted.StopAsync(handle, CancellationToken.None);
            var stopped = await WaitAsync(restarted, handle, o => o.State != ObservedState.Running);
            await restarted.StopAsync(handle, CancellationToken.None);

            Assert.Equal(ObservedState.Running, running.State);
            Assert.Contains($"line one of {jobId}\n", log.ToString(), StringComparison.Ordinal);
            Assert.Contains("line two", log.ToString(), StringComparison.Ordinal);
            Assert.Equal(JsonNode.Parse(handle)!["log"]!.GetValue<string>(), Path.Combine(_dir.Path, "slurm", jobId, "attempt-1.log"));
            Assert.Equal((ObservedState.Exited, 15), (stopped.State, stopped.Signal));
            Assert.Contains("CANCELLED", stopped.Detail, StringComparison.Ordinal);
        }
        finally
        {
            SlurmJobs.CancelAll(jobId);
        }
    }

    [Fact]
    public async Task A_job_slurm_refuses_fails_to_start_with_slurms_reason()
    {
        var workload = new RuntimeWorkload("job_rt" + Guid.NewGuid().ToString("N")[..8], 1, "org_test", "prj_test", ["true"],
            new Dictionary<string, string>(), [new RuntimePlacement("gpu-node1", [0], 1000)], null, "")
        {
            GpuModel = "b200-180gb",
        };

        var outcome = await Runtime().StartAsync(workload, CancellationToken.None);

        Assert.Null(outcome.Handle);
        Assert.StartsWith("Slurm refused the job: ", outcome.Error, StringComparison.Ordinal);
    }
}
