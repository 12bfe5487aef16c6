using System.Text.Json.Nodes;
using Headroom.Store;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// Two control-plane processes on one PostgreSQL: both serve the API, one runs the control loops,
/// and when that one is killed with SIGKILL while jobs run the other takes over within the lease's time to live,
/// re-attaches to the running jobs, and every job finishes and is metered exactly once.
/// </summary>
public sealed class ReplicaTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_replicas_serve_one_runs_the_loops_and_the_other_takes_over_when_it_is_killed()
    {
        var database = await TestDatabases.CreateAsync(StoreProvider.Postgres, _dir.Path);
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(4));
        var env = new Dictionary<string, string> { ["HEADROOM_LEASE_TTL_SECONDS"] = "3", ["HEADROOM_DATABASE"] = database.ConnectionString };
        string[] args = ["up", "--data", _dir.Path, "--port", "0", "--fleet", fleet];
        await using var a = HeadroomProcess.Start(args, env: new Dictionary<string, string>(env) { ["HEADROOM_REPLICA_ID"] = "replica-a" });
        var addressA = await a.AddressAsync();
        await using var b = HeadroomProcess.Start(args, env: new Dictionary<string, string>(env) { ["HEADROOM_REPLICA_ID"] = "replica-b" });
        var addressB = await b.AddressAsync();
        var key = (await File.ReadAllTextAsync(Path.Combine(_dir.Path, "admin.key"))).Trim();
        using var clientA = Client(addressA, key);
        using var clientB = Client(addressB, key);

        // Both serve the same state.
        using (var created = await clientA.PostAsync("/v1/orgs", Json("""{"name":"acme"}""")))
            created.EnsureSuccessStatusCode();
        Assert.Contains("acme", await clientB.GetStringAsync("/v1/orgs"), StringComparison.Ordinal);

        // Exactly one leads, and only the leader's control-loop counter moves.
        var (leaderA, leaderB) = (await IsLeaderAsync(clientA), await IsLeaderAsync(clientB));
        Assert.True(leaderA ^ leaderB, $"leaders: a={leaderA} b={leaderB}");
        var (leader, follower, followerClient) = leaderA ? (a, b, clientB) : (b, a, clientA);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.DoesNotContain("headroom_control_loop_passes_total{loop=\"housekeeping\"}", await followerClient.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Jobs submitted through the follower, started by the leader's scheduler, running when the leader dies.
        var project = (await AdminApi.PostAsync(followerClient, "/v1/projects", """{"name":"replicas"}"""))["id"]!.GetValue<string>();
        var jobs = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            jobs.Add((await AdminApi.PostAsync(followerClient, "/v1/jobs", $$"""
                {"project_id":"{{project}}","gpus_per_node":1,
                 "command":["/bin/sh","-c","echo started >> \"$HEADROOM_CHECKPOINT_DIR/starts\"; sleep 3"]}
                """))["id"]!.GetValue<string>());
        }
        foreach (var job in jobs)
            await AdminApi.WaitForStateAsync(followerClient, job, "running");

        leader.KillHard();
        var killedAt = DateTime.UtcNow;
        while (!await IsLeaderAsync(followerClient))
        {
            Assert.True(DateTime.UtcNow - killedAt < TimeSpan.FromSeconds(15), $"no takeover:\n{follower.Output}");
            await Task.Delay(200);
        }
        var takeover = DateTime.UtcNow - killedAt;

        Assert.True(takeover < TimeSpan.FromSeconds(6), $"takeover took {takeover}");
        Assert.Contains("acme", await followerClient.GetStringAsync("/v1/orgs"), StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Contains("headroom_control_loop_passes_total{loop=\"housekeeping\"}", await followerClient.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // The new leader re-attached to the jobs the dead one started: each ends once, run once per attempt, metered once.
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var job in jobs)
        {
            var done = await AdminApi.WaitForStateAsync(followerClient, job, "succeeded", seconds: 60);
            var attempts = done["attempt"]!.GetValue<int>();
            Assert.Equal(attempts, (await File.ReadAllLinesAsync(Path.Combine(_dir.Path, "jobs", "checkpoints", job, "starts"))).Length);
            for (var attempt = 1; attempt <= attempts; attempt++)
                expected.Add($"{job}:{attempt}");
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<string> metered;
        do
        {
            await Task.Delay(300);
            metered = [.. JsonNode.Parse(await followerClient.GetStringAsync("/v1/usage/events?limit=100"))!["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>())];
        }
        while (!expected.IsSubsetOf(metered) && DateTime.UtcNow < deadline);
        Assert.Equal(expected.Order(StringComparer.Ordinal), metered.Order(StringComparer.Ordinal));
    }

    private static HttpClient Client(Uri address, string key)
    {
        var client = new HttpClient { BaseAddress = address };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    private static async Task<bool> IsLeaderAsync(HttpClient client) =>
        JsonNode.Parse(await client.GetStringAsync("/healthz"))!["leader"]!.GetValue<bool>();
}
