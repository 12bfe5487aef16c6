using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// <c>headroom up</c> with the dev Slurm settings (deploy/slurm/headroom.dev.json: the fleet of the dev cluster's nodes,
/// run by the slurm runtime) on the real cluster deploy/slurm/dev-cluster.sh starts; kill -9 of the control plane
/// while its jobs run in Slurm, then a restart: every job finishes once, re-attached by its handle. Without
/// SLURM_CONF it fails, saying how to start a cluster.
/// </summary>
public sealed class SlurmRestartTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string SlurmConf
    {
        get
        {
            var conf = Environment.GetEnvironmentVariable("SLURM_CONF");
            if (string.IsNullOrEmpty(conf) || !File.Exists(conf))
            {
                throw new InvalidOperationException(
                    "SLURM_CONF is not set or names no file. The Slurm tests run against a real cluster: run `deploy/slurm/dev-cluster.sh start` as root and " +
                    "`export SLURM_CONF=...` as it prints (scripts/test.sh does both), then run the tests again.");
            }
            return conf;
        }
    }

    private static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
                dir = dir.Parent;
            return dir!.FullName;
        }
    }

    [Fact]
    public async Task Slurm_jobs_survive_a_kill_9_of_headroom_up_and_none_is_submitted_twice()
    {
        var data = Path.Combine(_dir.Path, "data");
        string[] args = ["up", "--config", "deploy/slurm/headroom.dev.json", "--data", data, "--port", "0"];
        // The dev settings name the default cluster root; this one may be another. The same replica id takes its lease back at once.
        var env = new Dictionary<string, string> { ["HEADROOM_SLURM__SLURM_CONF"] = SlurmConf, ["HEADROOM_REPLICA_ID"] = "slurm-control-plane" };

        var ids = new List<string>();
        await using (var first = HeadroomProcess.Start(args, env, RepositoryRoot))
        {
            using var client = await AdminApi.ClientAsync(first, data);
            var project = await AdminApi.PostAsync(client, "/v1/projects", """{"name":"restart"}""");
            for (var i = 0; i < 2; i++)
            {
                var job = await AdminApi.PostAsync(client, "/v1/jobs", $$"""
                    {"project_id":"{{project["id"]}}","command":["/bin/bash","-c","echo \"started on $SLURMD_NODENAME\" >> \"$HEADROOM_CHECKPOINT_DIR/starts\"; sleep 4; echo finished"]}
                    """);
                ids.Add(job["id"]!.GetValue<string>());
            }
            foreach (var id in ids)
                await AdminApi.WaitForStateAsync(client, id, "running");
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        await using var second = HeadroomProcess.Start(args, env, RepositoryRoot);
        using var again = await AdminApi.ClientAsync(second, data);
        foreach (var id in ids)
        {
            var job = await AdminApi.WaitForStateAsync(again, id, "succeeded");
            var starts = await File.ReadAllLinesAsync(Path.Combine(data, "jobs", "checkpoints", id, "starts"));
            Assert.Single(starts);
            Assert.StartsWith("started on gpu-node", starts[0], StringComparison.Ordinal);
            Assert.Equal(1, job["attempt"]!.GetValue<int>());
            Assert.Contains("finished", await again.GetStringAsync($"/v1/jobs/{id}/logs"), StringComparison.Ordinal);
        }
    }
}
