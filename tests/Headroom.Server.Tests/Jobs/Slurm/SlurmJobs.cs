using System.Collections.Immutable;
using System.Diagnostics;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Jobs.Slurm;
using Headroom.Server.Tests.Infrastructure;

namespace Headroom.Server.Tests.Jobs.Slurm;

/// <summary>
/// Servers whose fleet is run by the <c>slurm</c> runtime on the real cluster deploy/slurm/dev-cluster.sh starts
/// (nodes gpu-node1..4 × 8 fake GPUs of GRES type h100, one partition per tier). Without SLURM_CONF every test
/// using it fails, saying how to start one; none passes silently (as tests/Headroom.Runtimes.Tests/Slurm).
/// </summary>
internal static class SlurmJobs
{
    public static string Conf
    {
        get
        {
            var conf = Environment.GetEnvironmentVariable("SLURM_CONF");
            if (string.IsNullOrEmpty(conf))
            {
                throw new InvalidOperationException(
                    "SLURM_CONF is not set. The Slurm tests run against a real cluster: run `deploy/slurm/dev-cluster.sh start` as root and " +
                    "`export SLURM_CONF=...` as it prints (scripts/test.sh does both), then run the tests again.");
            }
            if (!File.Exists(conf))
                throw new InvalidOperationException($"SLURM_CONF={conf} does not exist. Start the cluster with `deploy/slurm/dev-cluster.sh start`.");
            return conf;
        }
    }

    /// <summary>One Slurm node of the dev cluster as a fleet: the fleet node's name is the Slurm NodeName.</summary>
    public static string Fleet(string slurmNode) => $$"""
        regions:
          - name: lab
            clusters:
              - name: hpc
                runtime: slurm
                nodes:
                  - name: {{slurmNode}}
                    gpu_model: h100-80gb
                    gpu_count: 8
                    cpu_millicores: 16000
                    memory_mib: 64000
        """;

    /// <summary>A server driving the dev cluster: the fleet model h100-80gb is GRES type h100 there.</summary>
    public static Task<TestServer> StartAsync(string slurmNode, TimeSpan grace) => TestServer.StartAsync(fleetYaml: Fleet(slurmNode), configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        LeaseTtl = TimeSpan.FromSeconds(3),
        Scheduler = new SchedulerConfig
        {
            Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => grace),
            SpotMinimumRunTime = TimeSpan.Zero,
        },
        Slurm = new SlurmRuntimeOptions
        {
            SlurmConf = Conf,
            SharedDirectory = s.JobsDir,
            GresTypes = new Dictionary<string, string> { ["h100-80gb"] = "h100" },
            CommandTimeout = TimeSpan.FromSeconds(20),
        },
    });

    /// <summary>Runs a Slurm command against the cluster; returns its stdout.</summary>
    public static string Run(string tool, params string[] arguments)
    {
        var info = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["SLURM_CONF"] = Conf;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return stdout;
    }

    /// <summary>Cancels every Slurm job of a Headroom job, so a failed test leaves no job holding a node for the next.</summary>
    public static void CancelAll(string headroomJobId) => Run("scancel", "--name=hr-" + headroomJobId);
}
