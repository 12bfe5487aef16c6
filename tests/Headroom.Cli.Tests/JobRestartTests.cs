using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>kill -9 of the control plane while jobs run, then a restart: every job finishes once, none is lost or run twice.</summary>
public sealed class JobRestartTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Jobs_survive_a_kill_9_of_the_control_plane_and_none_runs_twice()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(4));
        var data = Path.Combine(_dir.Path, "data");
        string[] args = ["up", "--data", data, "--port", "0", "--fleet", fleet];
        var env = new Dictionary<string, string> { ["HEADROOM_REPLICA_ID"] = "box-control-plane" };

        var ids = new List<string>();
        await using (var first = HeadroomProcess.Start(args, env))
        {
            using var client = await AdminApi.ClientAsync(first, data);
            var project = await AdminApi.PostAsync(client, "/v1/projects", """{"name":"restart"}""");
            for (var i = 0; i < 3; i++)
            {
                var job = await AdminApi.PostAsync(client, "/v1/jobs", $$"""
                    {"project_id":"{{project["id"]}}","command":["/bin/sh","-c","echo started >> \"$HEADROOM_CHECKPOINT_DIR/starts\"; sleep 5; echo finished"]}
                    """);
                ids.Add(job["id"]!.GetValue<string>());
            }
            foreach (var id in ids)
                await AdminApi.WaitForStateAsync(client, id, "running");
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        await using var second = HeadroomProcess.Start(args, env);
        using var again = await AdminApi.ClientAsync(second, data);
        foreach (var id in ids)
        {
            var job = await AdminApi.WaitForStateAsync(again, id, "succeeded");
            var starts = await File.ReadAllLinesAsync(Path.Combine(data, "jobs", "checkpoints", id, "starts"));
            Assert.Single(starts);
            Assert.Equal(1, job["attempt"]!.GetValue<int>());
            Assert.Contains("finished", await again.GetStringAsync($"/v1/jobs/{id}/logs"), StringComparison.Ordinal);
        }
    }
}
