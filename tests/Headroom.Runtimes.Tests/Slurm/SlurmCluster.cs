using System.Diagnostics;
using System.Globalization;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>
/// The real Slurm cluster the integration tests run against: the one deploy/slurm/dev-cluster.sh starts
/// (4 nodes gpu-node1..4 × 8 fake h100, partitions spot/on-demand/reserved/internal). Without SLURM_CONF
/// every test using it fails, saying how to start one; none passes silently.
/// </summary>
internal static class SlurmCluster
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
            {
                throw new InvalidOperationException($"SLURM_CONF={conf} does not exist. Start the cluster with `deploy/slurm/dev-cluster.sh start`.");
            }
            return conf;
        }
    }

    /// <summary>slurmrestd's URL, as dev-cluster.sh prints it (SLURM_REST_URL).</summary>
    public static Uri RestUrl =>
        Environment.GetEnvironmentVariable("SLURM_REST_URL") is { Length: > 0 } url
            ? new Uri(url)
            : throw new InvalidOperationException(
                "SLURM_REST_URL is not set. Run `eval \"$(deploy/slurm/dev-cluster.sh start)\"` as root (it exports SLURM_CONF and SLURM_REST_URL; scripts/test.sh does it), then run the tests again.");

    public static SlurmClient Client() => new(new SlurmClientOptions { SlurmConf = Conf, CommandTimeout = TimeSpan.FromSeconds(20) });

    /// <summary>A fresh directory for one test's logs and checkpoints, on the file system the "nodes" share.</summary>
    public static string NewWorkDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "headroom-slurm-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    public static SlurmJobSpec Spec(string directory, string jobId, string tier, string node, string script, params string[] args) => new()
    {
        JobId = jobId,
        Org = "org_test",
        Project = "prj_slurm",
        Tier = WorkloadCodes.TryParseTier(tier, out var parsed) ? parsed : throw new ArgumentException($"no tier '{tier}'", nameof(tier)),
        Command = "bash",
        Args = ["-c", script, "workload", .. args],
        GpuModel = "h100",
        GpusPerNode = 1,
        NodeCount = 1,
        NodeNames = [node],
        MaxDuration = TimeSpan.FromMinutes(10),
        NoticeGrace = TimeSpan.FromSeconds(GraceSeconds),
        CheckpointDirectory = Path.Combine(directory, "checkpoints", jobId),
        LogPath = Path.Combine(directory, "logs", jobId + ".log"),
    };

    public static string NewJobId(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Runs scontrol with the given arguments against the cluster; returns its stdout.</summary>
    public static string Scontrol(params string[] arguments)
    {
        var info = new ProcessStartInfo("scontrol", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["SLURM_CONF"] = Conf;
        using var scontrol = Process.Start(info)!;
        var stdout = scontrol.StandardOutput.ReadToEnd();
        scontrol.StandardError.ReadToEnd();
        scontrol.WaitForExit();
        return stdout;
    }

    /// <summary>The spot partition's GraceTime: what Slurm really grants a preempted spot job.</summary>
    public static int GraceSeconds
    {
        get
        {
            var line = Scontrol("show", "partition", "spot", "-o");
            var graceTime = line.Split(' ').Single(f => f.StartsWith("GraceTime=", StringComparison.Ordinal));
            return int.Parse(graceTime["GraceTime=".Length..], CultureInfo.InvariantCulture);
        }
    }

    public static async Task<long> SubmitAsync(SlurmClient client, SlurmJobSpec spec)
    {
        var result = await client.SubmitAsync(spec);
        return Assert.IsType<SubmitResult.Submitted>(result).SlurmJobId;
    }

    public static async Task<SlurmJobObservation> ObserveAsync(SlurmClient client, long id) =>
        Assert.IsType<ObserveResult.Found>(await client.ObserveAsync(id)).Job;

    /// <summary>Polls every 100 ms until the job satisfies <paramref name="until"/>; fails with the last state seen.</summary>
    public static async Task<SlurmJobObservation> WaitAsync(SlurmClient client, long id, Func<SlurmJobObservation, bool> until, TimeSpan timeout, Action<SlurmJobObservation>? seen = null)
    {
        var clock = Stopwatch.StartNew();
        SlurmJobObservation? last = null;
        while (clock.Elapsed < timeout)
        {
            if (await client.ObserveAsync(id) is ObserveResult.Found { Job: var job })
            {
                seen?.Invoke(job);
                last = job;
                if (until(job))
                {
                    return job;
                }
            }
            await Task.Delay(100);
        }
        Assert.Fail($"Slurm job {id} did not get there within {timeout.TotalSeconds} s; last seen: {last}");
        return null!;
    }

    public static Task<SlurmJobObservation> WaitForStateAsync(SlurmClient client, long id, JobState state, double seconds = 30) =>
        WaitAsync(client, id, j => j.Status?.State == state, TimeSpan.FromSeconds(seconds));

    /// <summary>Waits until the job's log holds <paramref name="text"/> (Slurm's state can run ahead of the job's own writes).</summary>
    public static async Task<string> WaitForLogAsync(string path, string text, double seconds = 20)
    {
        var clock = Stopwatch.StartNew();
        var log = "";
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            log = File.Exists(path) ? await File.ReadAllTextAsync(path) : "";
            if (log.Contains(text, StringComparison.Ordinal))
            {
                return log;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"{path} never showed '{text}' within {seconds} s; it holds:\n{log}");
        return log;
    }

    /// <summary>The epoch time on a "headroom: &lt;what&gt; at &lt;epoch&gt;" line of a job log.</summary>
    public static double? LogTime(string log, string what)
    {
        var marker = $"headroom: {what} at ";
        var line = log.Split('\n').FirstOrDefault(l => l.StartsWith(marker, StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[marker.Length..].Split([',', ' '])[0], CultureInfo.InvariantCulture);
    }
}
