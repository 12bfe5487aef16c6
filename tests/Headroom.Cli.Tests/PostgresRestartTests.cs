using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// PostgreSQL restarted while <c>headroom up</c> takes submissions, runs and meters jobs, and answers model calls on
/// it: the server rides it out, a client that retries with its Idempotency-Key gets every job created once, every
/// answered model call is metered once, and nothing is run or metered twice. The test runs its own PostgreSQL (deploy/postgres/dev-postgres.sh), so restarting it disturbs
/// no other test.
/// </summary>
public sealed class PostgresRestartTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly string _pgRoot = Path.Combine(Path.GetTempPath(), $"headroom-pg-restart-{Guid.NewGuid():N}");
    private readonly int _pgPort = FreePort();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await PostgresAsync("stop", wipe: true);
        _dir.Dispose();
    }

    [Fact]
    public async Task Jobs_and_model_calls_across_a_postgres_restart_are_created_run_and_metered_once()
    {
        var url = (await PostgresAsync("start")).Trim();
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(4));
        var data = Path.Combine(_dir.Path, "data");
        await using var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet],
            new Dictionary<string, string> { ["HEADROOM_DATABASE"] = url });
        using var client = new HttpClient { BaseAddress = await server.AddressAsync(), Timeout = TimeSpan.FromSeconds(20) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim());
        var project = (await SubmitAsync(client, "/v1/projects", """{"name":"pg-restart"}""", "project"))["id"]!.GetValue<string>();

        // A client submitting a job every 150 ms, retrying each until it is acknowledged, as a real one would.
        var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal);
        using var stopLoad = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            for (var i = 0; !stopLoad.IsCancellationRequested; i++)
            {
                var key = $"job-{i}";
                var job = await SubmitAsync(client, "/v1/jobs", $$"""
                    {"project_id":"{{project}}","name":"{{key}}","command":["/bin/sh","-c","echo started >> \"$HEADROOM_CHECKPOINT_DIR/starts\"; sleep 0.5"]}
                    """, key, async () => Assert.Single(JsonNode.Parse(await client.GetStringAsync($"/v1/jobs?project_id={project}&name={key}"))!["data"]!.AsArray())!);
                acknowledged[key] = job["id"]!.GetValue<string>();
                await Task.Delay(150);
            }
        });

        // And a client calling a model every 100 ms: what was answered must be metered once; what failed while the
        // store was down may be metered whole (its record committed, the answer lost) or not at all.
        var answeredCalls = new List<string>();
        var calls = Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings")
                    {
                        Content = new StringContent("""{"model":"all-minilm-l6-v2","input":"the store restarts"}""", Encoding.UTF8, "application/json"),
                    };
                    using var response = await client.SendAsync(request);
                    await response.Content.ReadAsStringAsync();
                    if (response.IsSuccessStatusCode)
                        answeredCalls.Add(response.Headers.GetValues("X-Model-Call-Id").Single() + ":input_tokens");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
                await Task.Delay(100);
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(3));
        await PostgresAsync("stop");
        await Task.Delay(TimeSpan.FromSeconds(3));
        await PostgresAsync("start");
        await Task.Delay(TimeSpan.FromSeconds(4));
        await stopLoad.CancelAsync();
        await load;
        await calls;
        Assert.True(answeredCalls.Count >= 20, $"{answeredCalls.Count} model calls answered");

        // The server is still up, and every job exists once, under its key, ran, and is metered once.
        Assert.False(server.HasExited, server.Output);
        var jobs = JsonNode.Parse(await client.GetStringAsync($"/v1/jobs?project_id={project}&limit=100"))!["data"]!.AsArray();
        Assert.Equal(acknowledged.Count, jobs.Count);
        Assert.Equal(acknowledged.Values.Order(StringComparer.Ordinal), jobs.Select(j => j!["id"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, id) in acknowledged)
        {
            var job = await AdminApi.WaitForStateAsync(client, id, "succeeded", seconds: 60);
            var attempt = job["attempt"]!.GetValue<int>();
            Assert.Equal(attempt, (await File.ReadAllLinesAsync(Path.Combine(data, "jobs", "checkpoints", id, "starts"))).Length);
            for (var a = 1; a <= attempt; a++)
                expected.Add($"{id}:{a}");
        }
        expected.UnionWith(answeredCalls);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<string> metered;
        do
        {
            await Task.Delay(300);
            metered = await UsageEventIdsAsync(client);
        }
        while (!expected.IsSubsetOf(metered) && DateTime.UtcNow < deadline);
        Assert.Equal(metered.Count, metered.Distinct(StringComparer.Ordinal).Count());
        var missing = expected.Except(metered).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged usage events lost: {string.Join(", ", missing.Take(10))}");
        // Beyond what was acknowledged, only model calls whose answer was lost, each whole.
        Assert.All(metered.Except(expected), id => Assert.Matches("^emb-.*:input_tokens$", id));

        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(20));
        var (verify, output) = await HeadroomProcess.RunAsync("billing", "verify", "--database", url, "--org", "org_internal");
        Assert.True(verify == 0, output);
    }

    private static async Task<List<string>> UsageEventIdsAsync(HttpClient client)
    {
        var ids = new List<string>();
        for (string? after = null; ;)
        {
            var page = JsonNode.Parse(await client.GetStringAsync($"/v1/usage/events?limit=100{(after is null ? "" : $"&after={after}")}"))!;
            ids.AddRange(page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
            after = page["has_more"]!.GetValue<bool>() ? page["last_id"]!.GetValue<string>() : null;
            if (after is null)
                return ids;
        }
    }

    /// <summary>
    /// POSTs until acknowledged, as the API asks a client to: a refused connection, a timeout, a 5xx or 409
    /// <c>idempotency_key_in_use</c> is retried with the same key; 409 <c>idempotency_key_applied</c> (it took effect,
    /// its answer was lost) is looked up with <paramref name="lookUp"/>.
    /// </summary>
    private static async Task<JsonNode> SubmitAsync(HttpClient client, string path, string body, string key, Func<Task<JsonNode>>? lookUp = null)
    {
        // Past the idempotency claim's one minute, after which a claim its holder could not let go of is taken over.
        var deadline = DateTime.UtcNow.AddSeconds(90);
        var last = "";
        while (true)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Add("Idempotency-Key", key);
                using var response = await client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                if (response.IsSuccessStatusCode)
                    return JsonNode.Parse(text)!;
                last = $"{(int)response.StatusCode}: {text}";
                if (lookUp is not null && text.Contains("\"idempotency_key_applied\"", StringComparison.Ordinal))
                    return await lookUp();
                Assert.True((int)response.StatusCode >= 500 || text.Contains("\"idempotency_key_in_use\"", StringComparison.Ordinal), last);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            Assert.True(DateTime.UtcNow < deadline, $"{key} never acknowledged; last answer {last}");
            await Task.Delay(250);
        }
    }

    private async Task<string> PostgresAsync(string verb, bool wipe = false)
    {
        var script = Path.Combine(RepoRoot(), "deploy", "postgres", "dev-postgres.sh");
        var start = new ProcessStartInfo("bash", [script, verb]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["PGROOT"] = _pgRoot;
        start.Environment["PGPORT"] = _pgPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (wipe)
            start.Environment["WIPE"] = "1";
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"dev-postgres.sh {verb}: {error}");
        return output;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Headroom.slnx).");
    }
}
