using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// The control plane killed with SIGKILL again and again while jobs are submitted, run and metered and models are
/// called: nothing it acknowledged is lost, no job is created or run twice, every run and every answered model call
/// is metered exactly once, a call cut off by the kill is metered whole or not at all, and the ledger verifies.
/// </summary>
public sealed class CrashLoopTests : IDisposable
{
    /// <summary>Kills per CI run; CRASH_LOOP_KILLS sets more for a long run (scripts/test.sh --long).</summary>
    private static readonly int Kills = int.TryParse(Environment.GetEnvironmentVariable("CRASH_LOOP_KILLS"), out var n) && n > 20 ? n : 20;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Twenty_kill_9s_under_a_job_load_lose_nothing_and_do_nothing_twice()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(4));
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        TinyGguf.Write(gguf);
        var data = Path.Combine(_dir.Path, "data");
        string[] args = ["up", "--data", data, "--port", "0", "--fleet", fleet, "--model", $"tiny={gguf}"];
        var env = new Dictionary<string, string> { ["HEADROOM_REPLICA_ID"] = "crash-loop" };
        var random = new Random(20261126);

        var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal); // idempotency key → job id
        var inFlight = new List<string>(); // keys whose request was on the wire when the process died
        var answeredCalls = new List<string>(); // usage event ids of model calls answered before a kill: each must be metered once
        string? projectId = null;
        for (var cycle = 0; ; cycle++)
        {
            await using var process = HeadroomProcess.Start(args, env);
            using var client = await AdminApi.ClientAsync(process, data);
            projectId ??= (await SendAsync(client, "/v1/projects", """{"name":"crash-loop"}""", key: null)).Body!["id"]!.GetValue<string>();

            // What was on the wire at the last kill: the same key yields the job it created, or creates it now; never two.
            foreach (var key in inFlight)
            {
                var (status, body) = await SendAsync(client, "/v1/jobs", JobBody(projectId, key), key);
                if (status == 409)
                {
                    Assert.Equal("idempotency_key_applied", body!["error"]!["code"]!.GetValue<string>());
                    continue; // took effect before the crash; found by name below
                }
                var id = body!["id"]!.GetValue<string>();
                Assert.True(!acknowledged.TryGetValue(key, out var earlier) || earlier == id, $"{key} gave {earlier}, then {id}");
                acknowledged[key] = id;
            }
            inFlight.Clear();
            if (cycle == Kills)
            {
                await CheckAsync(client, process, data, projectId, acknowledged, answeredCalls);
                return;
            }

            for (var i = 0; i < 2; i++)
            {
                var key = $"c{cycle}-{i}";
                acknowledged[key] = (await SendAsync(client, "/v1/jobs", JobBody(projectId, key), key)).Body!["id"]!.GetValue<string>();
                answeredCalls.AddRange(await ChatAsync(client) ?? throw new InvalidOperationException("a model call failed with the server up"));
            }
            var lateKey = $"c{cycle}-late";
            var late = SendAsync(client, "/v1/jobs", JobBody(projectId, lateKey), lateKey);
            // Calls on the wire while the process dies: those answered count like any other, the rest may be metered
            // whole or not at all (checked at the end), never in part or twice.
            var lateCalls = Enumerable.Range(0, 3).Select(_ => ChatAsync(client)).ToList();
            await Task.Delay(random.Next(0, 1_500));
            process.KillHard();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
            foreach (var call in lateCalls)
            {
                try
                {
                    if (await call is { } events)
                        answeredCalls.AddRange(events);
                }
                catch (HttpRequestException)
                {
                }
            }
            try
            {
                var (status, body) = await late;
                if (status == 201)
                    acknowledged[lateKey] = body!["id"]!.GetValue<string>();
            }
            catch (HttpRequestException)
            {
                // Cut off by the kill: not acknowledged, so the client sends it again.
            }
            inFlight.Add(lateKey);
        }
    }

    private static async Task CheckAsync(
        HttpClient client, HeadroomProcess process, string data, string projectId, Dictionary<string, string> acknowledged, List<string> answeredCalls)
    {
        // Every job there is was asked for once, under its key's name; every acknowledged one is among them.
        var jobs = new List<JsonNode>();
        for (string? after = null; ;)
        {
            var page = JsonNode.Parse(await client.GetStringAsync($"/v1/jobs?project_id={projectId}&limit=100{(after is null ? "" : $"&after={after}")}"))!;
            jobs.AddRange(page["data"]!.AsArray().Select(j => j!));
            after = page["has_more"]!.GetValue<bool>() ? page["last_id"]!.GetValue<string>() : null;
            if (after is null)
                break;
        }
        var byName = jobs.GroupBy(j => j["name"]!.GetValue<string>()).ToList();
        Assert.All(byName, g => Assert.True(g.Count() == 1, $"{g.Count()} jobs named {g.Key}"));
        foreach (var (key, id) in acknowledged)
            Assert.Equal(id, byName.Single(g => g.Key == key).Single()["id"]!.GetValue<string>());
        Assert.True(jobs.Count >= Kills * 2, $"{jobs.Count} jobs");

        // Each ran to the end, started as many times as it has attempts, and each attempt is metered exactly once.
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var job in jobs)
        {
            var id = job["id"]!.GetValue<string>();
            var done = await AdminApi.WaitForStateAsync(client, id, "succeeded", seconds: 90);
            var attempt = done["attempt"]!.GetValue<int>();
            var starts = await File.ReadAllLinesAsync(Path.Combine(data, "jobs", "checkpoints", id, "starts"));
            Assert.Equal(attempt, starts.Length);
            for (var a = 1; a <= attempt; a++)
                expected.Add($"{id}:{a}");
        }
        expected.UnionWith(answeredCalls);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<string> metered;
        while (true)
        {
            metered = [];
            for (string? after = null; ;)
            {
                var page = JsonNode.Parse(await client.GetStringAsync($"/v1/usage/events?limit=100{(after is null ? "" : $"&after={after}")}"))!;
                metered.AddRange(page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
                after = page["has_more"]!.GetValue<bool>() ? page["last_id"]!.GetValue<string>() : null;
                if (after is null)
                    break;
            }
            if (expected.IsSubsetOf(metered) || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(300);
        }
        Assert.Equal(metered.Count, metered.Distinct(StringComparer.Ordinal).Count());
        var missing = expected.Except(metered).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged usage events lost: {string.Join(", ", missing.Take(10))}");
        // Beyond what was acknowledged, only calls cut off by a kill may appear, and each of those whole.
        var cut = metered.Except(expected).ToList();
        Assert.All(cut, id => Assert.StartsWith("chatcmpl-", id, StringComparison.Ordinal));
        Assert.All(cut.GroupBy(id => id[..id.LastIndexOf(':')]), call => Assert.Contains($"{call.Key}:input_tokens", call));
        Assert.True(answeredCalls.Count >= Kills * 2, $"{answeredCalls.Count} usage events of answered calls");

        process.Terminate();
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        var (verify, output) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data, "--org", "org_internal");
        Assert.True(verify == 0, output);
    }

    private static string JobBody(string projectId, string key) => $$"""
        {"project_id":"{{projectId}}","name":"{{key}}","gpus_per_node":1,
         "command":["/bin/sh","-c","echo started >> \"$HEADROOM_CHECKPOINT_DIR/starts\"; sleep 1; echo finished"]}
        """;

    /// <summary>One short chat call; the usage event ids its answer promises, null when the server refused it.</summary>
    private static async Task<string[]?> ChatAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "tiny", max_tokens = 3, messages = new[] { new { role = "user", content = "count" } },
        });
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            return null;
        var answer = JsonNode.Parse(text)!;
        var id = answer["id"]!.GetValue<string>();
        return answer["usage"]!["completion_tokens"]!.GetValue<int>() > 0 ? [$"{id}:input_tokens", $"{id}:output_tokens"] : [$"{id}:input_tokens"];
    }

    private static async Task<(int Status, JsonNode? Body)> SendAsync(HttpClient client, string path, string body, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode || (int)response.StatusCode == 409, $"{(int)response.StatusCode}: {text}");
        return ((int)response.StatusCode, JsonNode.Parse(text));
    }
}
