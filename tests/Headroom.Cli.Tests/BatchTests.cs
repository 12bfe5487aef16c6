using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// Files and batches through the real <c>headroom</c> executable: each batch runs as a spot job whose command is
/// <c>headroom batch-worker</c>, calling the server's own in-process embeddings model.
/// </summary>
public sealed class BatchTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(HeadroomProcess Server, HttpClient Admin, string Data)> StartAsync(int gpus, params string[] more)
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(gpus));
        var data = Path.Combine(_dir.Path, "data");
        var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet, .. more], new Dictionary<string, string>
        {
            ["HEADROOM_SPOT_MINIMUM_RUN_TIME_SECONDS"] = "0",
            ["HEADROOM_NOTICE_GRACE_SECONDS"] = "5",
        });
        var admin = await AdminApi.ClientAsync(server, data);
        await AdminApi.PostAsync(admin, "/v1/projects", """{"name":"batches"}""");
        return (server, admin, data);
    }

    private static string Lines(int count, Func<int, string>? customId = null) => string.Concat(Enumerable.Range(0, count).Select(i =>
        $$$"""{"custom_id":"{{{customId?.Invoke(i) ?? "req-" + i}}}","method":"POST","url":"/v1/embeddings","body":{"model":"all-minilm-l6-v2","input":"line {{{i}}} of the batch"}}""" + "\n"));

    private static async Task<JsonNode> UploadAsync(HttpClient client, string jsonl, string purpose = "batch")
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent(purpose), "purpose" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(jsonl)), "file", "input.jsonl" },
        };
        using var response = await client.PostAsync("/v1/files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }

    private static Task<JsonNode> CreateBatchAsync(HttpClient client, string fileId) =>
        AdminApi.PostAsync(client, "/v1/batches", $$$"""{"input_file_id":"{{{fileId}}}","endpoint":"/v1/embeddings","completion_window":"24h","metadata":{"run":"test"}}""");

    private static async Task<JsonNode> WaitForBatchAsync(HttpClient client, string id, string status, int seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var batch = JsonNode.Parse(await client.GetStringAsync($"/v1/batches/{id}"))!;
            if (batch["status"]!.GetValue<string>() == status)
                return batch;
            Assert.True(DateTime.UtcNow < deadline, $"batch {id} is {batch.ToJsonString()}, waiting for {status}");
            await Task.Delay(250);
        }
    }

    /// <summary>The custom ids of an output file, each with the embedding's length.</summary>
    private static async Task<List<(string CustomId, int Status, string? RequestId)>> OutputAsync(HttpClient client, string fileId) =>
        [.. (await client.GetStringAsync($"/v1/files/{fileId}/content")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)
            .Select(n => (n["custom_id"]!.GetValue<string>(), n["response"]!["status_code"]!.GetValue<int>(), n["response"]!["request_id"]?.GetValue<string>()))];

    /// <summary>The batch's input-token usage events, once the token meter has moved every line into the ledger.</summary>
    private static async Task<List<JsonNode>> BatchUsageAsync(HttpClient client, string batchId, int lines)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var events = new List<JsonNode>();
            string? after = null;
            while (true)
            {
                var page = JsonNode.Parse(await client.GetStringAsync("/v1/usage/events?limit=100" + (after is null ? "" : "&after=" + after)))!;
                events.AddRange(page["data"]!.AsArray().Select(e => e!).Where(e => e["id"]!.GetValue<string>().StartsWith($"emb-{batchId}-", StringComparison.Ordinal)));
                if (!page["has_more"]!.GetValue<bool>())
                    break;
                after = page["last_id"]!.GetValue<string>();
            }
            if (events.Count >= lines || DateTime.UtcNow > deadline)
                return events;
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task A_batch_runs_as_a_spot_job_and_answers_every_line_once_metered_as_batch_traffic()
    {
        var (server, admin, _) = await StartAsync(gpus: 1);
        await using var _s = server;
        using var _a = admin;

        var file = await UploadAsync(admin, Lines(20));
        Assert.Equal(("file", "batch", "processed"), (file["object"]!.GetValue<string>(), file["purpose"]!.GetValue<string>(), file["status"]!.GetValue<string>()));
        var batch = await CreateBatchAsync(admin, file["id"]!.GetValue<string>());
        var id = batch["id"]!.GetValue<string>();
        Assert.Equal(("batch", "validating", 20), (batch["object"]!.GetValue<string>(), batch["status"]!.GetValue<string>(), batch["request_counts"]!["total"]!.GetValue<int>()));
        var job = JsonNode.Parse(await admin.GetStringAsync($"/v1/jobs/{batch["job_id"]}"))!;
        Assert.Equal("spot", job["tier"]!.GetValue<string>());

        var done = await WaitForBatchAsync(admin, id, "completed");
        Assert.Equal((20, 0), (done["request_counts"]!["completed"]!.GetValue<int>(), done["request_counts"]!["failed"]!.GetValue<int>()));
        Assert.NotNull(done["in_progress_at"]);
        Assert.Null(done["error_file_id"]?.GetValue<string>());
        Assert.Equal("test", done["metadata"]!["run"]!.GetValue<string>());
        var output = await OutputAsync(admin, done["output_file_id"]!.GetValue<string>());
        Assert.Equal(Enumerable.Range(0, 20).Select(i => "req-" + i), output.Select(o => o.CustomId));
        Assert.All(output, o => Assert.Equal(200, o.Status));
        Assert.All(output, o => Assert.StartsWith($"emb-{id}-", o.RequestId, StringComparison.Ordinal));

        var usage = await BatchUsageAsync(admin, id, 20);
        Assert.Equal(20, usage.Count);
        Assert.All(usage, e => Assert.True(e["batch"]!.GetValue<bool>()));
        await AdminApi.WaitForStateAsync(admin, batch["job_id"]!.GetValue<string>(), "succeeded");
        // The batch's key is revoked once it ended.
        var key = JsonNode.Parse(await admin.GetStringAsync("/v1/keys?limit=100"))!["data"]!.AsArray().Single(k => k!["name"]!.GetValue<string>() == "batch " + id)!;
        Assert.NotNull(key["revoked_at"]);
    }

    [Fact]
    public async Task A_chat_batch_on_the_in_process_gguf_answers_every_line_with_a_completion()
    {
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        TinyGguf.Write(gguf);
        var (server, admin, _) = await StartAsync(1, "--model", $"tiny={gguf}");
        await using var _s = server;
        using var _a = admin;

        var lines = string.Concat(Enumerable.Range(0, 3).Select(i =>
            $$$"""{"custom_id":"chat-{{{i}}}","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny","max_tokens":3,"messages":[{"role":"user","content":"hi {{{i}}}"}]}}""" + "\n"));
        var file = await UploadAsync(admin, lines);
        var batch = await AdminApi.PostAsync(admin, "/v1/batches", $$$"""{"input_file_id":"{{{file["id"]}}}","endpoint":"/v1/chat/completions","completion_window":"24h"}""");
        var id = batch["id"]!.GetValue<string>();

        var done = await WaitForBatchAsync(admin, id, "completed", seconds: 120);
        var output = (await admin.GetStringAsync($"/v1/files/{done["output_file_id"]}/content")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["chat-0", "chat-1", "chat-2"], output.Select(o => o["custom_id"]!.GetValue<string>()));
        Assert.All(output, o =>
        {
            Assert.Equal("chat.completion", o["response"]!["body"]!["object"]!.GetValue<string>());
            Assert.StartsWith($"chatcmpl-{id}-", o["response"]!["body"]!["id"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.InRange(o["response"]!["body"]!["usage"]!["completion_tokens"]!.GetValue<int>(), 1, 3);
        });
    }

    [Fact]
    public async Task Bad_input_fails_the_batch_naming_lines_and_bad_requests_are_400s_and_another_org_sees_nothing()
    {
        var (server, admin, _) = await StartAsync(gpus: 1);
        await using var _s = server;
        using var _a = admin;

        var bad = await UploadAsync(admin, Lines(2) + """{"custom_id":"req-0","method":"POST","url":"/v1/embeddings","body":{"model":"m"}}""" + "\nnot json\n");
        var failed = await CreateBatchAsync(admin, bad["id"]!.GetValue<string>());
        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        Assert.Equal([(3, "duplicate_custom_id"), (4, "invalid_json_line")],
            failed["errors"]!["data"]!.AsArray().Select(e => (e!["line"]!.GetValue<int>(), e["code"]!.GetValue<string>())));
        Assert.Null(failed["job_id"]?.GetValue<string>());

        var good = await UploadAsync(admin, Lines(1));
        using (var response = await admin.PostAsJsonAsync("/v1/batches", new { input_file_id = good["id"]!.GetValue<string>(), endpoint = "/v1/images", completion_window = "24h" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("endpoint", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["param"]!.GetValue<string>());
        }
        using (var response = await admin.PostAsJsonAsync("/v1/batches", new { input_file_id = good["id"]!.GetValue<string>(), endpoint = "/v1/embeddings", completion_window = "1h" }))
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using (var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" }, { new ByteArrayContent([1]), "file", "x" } })
        using (var response = await admin.PostAsync("/v1/files", form))
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);

        // Another org: its own key sees neither the files nor the batches.
        var org = await AdminApi.PostAsync(admin, "/v1/orgs", """{"name":"other"}""");
        var key = await AdminApi.PostAsync(admin, "/v1/keys", $$"""{"name":"other","roles":["owner"],"org_id":"{{org["id"]}}"}""");
        using var other = new HttpClient { BaseAddress = admin.BaseAddress };
        other.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key["key"]!.GetValue<string>());
        foreach (var path in new[] { $"/v1/files/{good["id"]}", $"/v1/files/{good["id"]}/content", $"/v1/batches/{failed["id"]}" })
        {
            using var response = await other.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        using (var response = await other.PostAsync($"/v1/batches/{failed["id"]}/cancel", null))
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(JsonNode.Parse(await other.GetStringAsync("/v1/files"))!["data"]!.AsArray());
        Assert.Empty(JsonNode.Parse(await other.GetStringAsync("/v1/batches"))!["data"]!.AsArray());
        using (var response = await other.DeleteAsync($"/v1/files/{good["id"]}"))
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using (var response = await admin.DeleteAsync($"/v1/files/{good["id"]}"))
            Assert.True(response.IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_cancelled_batch_stops_its_job_and_ends_cancelled()
    {
        var (server, admin, _) = await StartAsync(gpus: 1);
        await using var _s = server;
        using var _a = admin;

        var file = await UploadAsync(admin, Lines(3000));
        var batch = await CreateBatchAsync(admin, file["id"]!.GetValue<string>());
        var id = batch["id"]!.GetValue<string>();
        var cancelling = await AdminApi.PostAsync(admin, $"/v1/batches/{id}/cancel", "");
        Assert.Equal("cancelling", cancelling["status"]!.GetValue<string>());
        var cancelled = await WaitForBatchAsync(admin, id, "cancelled");
        Assert.NotNull(cancelled["cancelled_at"]);
        var job = JsonNode.Parse(await admin.GetStringAsync($"/v1/jobs/{batch["job_id"]}"))!;
        Assert.Equal("cancelled", job["state"]!.GetValue<string>());
        using var again = await admin.PostAsync($"/v1/batches/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    /// <summary>
    /// The owner's internal job takes the only GPU while the batch runs: its spot job gets notice, stops after the line
    /// in hand, is requeued, and resumes from its checkpoint once the GPU is free. Every line is answered and metered once.
    /// </summary>
    [Fact]
    public async Task A_batch_preempted_mid_way_resumes_and_answers_and_meters_every_line_exactly_once()
    {
        const int lines = 1500;
        var (server, admin, data) = await StartAsync(gpus: 1);
        await using var _s = server;
        using var _a = admin;

        var file = await UploadAsync(admin, Lines(lines));
        var batch = await CreateBatchAsync(admin, file["id"]!.GetValue<string>());
        var id = batch["id"]!.GetValue<string>();
        var jobId = batch["job_id"]!.GetValue<string>();
        var results = Path.Combine(data, "jobs", "checkpoints", jobId, "results.jsonl");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(results) || File.ReadAllLines(results).Length < 20)
        {
            Assert.True(DateTime.UtcNow < deadline, "the batch's worker never answered 20 lines:\n" + server.Output);
            await Task.Delay(50);
        }

        var owner = await AdminApi.PostAsync(admin, "/v1/jobs",
            $$"""{"name":"owner-work","project_id":"{{batch["project_id"]}}","command":["sleep","3"],"tier":"internal","gpus_per_node":1}""");
        await AdminApi.WaitForStateAsync(admin, owner["id"]!.GetValue<string>(), "succeeded", seconds: 60);

        var done = await WaitForBatchAsync(admin, id, "completed", seconds: 180);
        var job = JsonNode.Parse(await admin.GetStringAsync($"/v1/jobs/{jobId}"))!;
        Assert.True(job["attempt"]!.GetValue<int>() >= 2, "the batch finished before it could be preempted: " + job.ToJsonString());
        var events = JsonNode.Parse(await admin.GetStringAsync($"/v1/jobs/{jobId}/events"))!["data"]!.AsArray();
        Assert.Contains(events, e => e!["to_state"]!.GetValue<string>() == "preempted");

        var output = await OutputAsync(admin, done["output_file_id"]!.GetValue<string>());
        Assert.Equal(Enumerable.Range(0, lines).Select(i => "req-" + i), output.Select(o => o.CustomId));
        Assert.Equal(lines, done["request_counts"]!["completed"]!.GetValue<int>());
        var usage = await BatchUsageAsync(admin, id, lines);
        Assert.Equal(lines, usage.Count);
        Assert.Equal(lines, usage.Select(e => e["id"]!.GetValue<string>()).Distinct().Count());
    }

    /// <summary>The official <c>openai</c> npm client (tests/Headroom.Gateway.Tests/npm, after <c>npm ci</c>): files and batches, unchanged.</summary>
    [Fact]
    public async Task The_official_npm_client_uploads_runs_and_reads_a_batch()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Headroom.slnx")))
            root = root.Parent!;
        var folder = Path.Combine(root.FullName, "tests", "Headroom.Gateway.Tests", "npm");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "openai")), $"run 'npm ci' in {folder} first (scripts/test.sh does)");
        var (server, admin, _) = await StartAsync(gpus: 1);
        await using var _s = server;
        using var _a = admin;

        var start = new ProcessStartInfo("node", ["batch-test.mjs", new Uri(admin.BaseAddress!, "/v1").ToString(), admin.DefaultRequestHeaders.Authorization!.Parameter!])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await node.WaitForExitAsync(timeout.Token);
        Assert.True(node.ExitCode == 0, await stderr + await stdout);
        var r = JsonNode.Parse(await stdout)!;

        Assert.Equal(("file", "batch", "input.jsonl"), (r["file"]!["object"]!.GetValue<string>(), r["file"]!["purpose"]!.GetValue<string>(), r["file"]!["filename"]!.GetValue<string>()));
        var fileId = r["file"]!["id"]!.GetValue<string>();
        Assert.Equal(fileId, r["retrievedFile"]!.GetValue<string>());
        Assert.Contains(fileId, r["listedFiles"]!.AsArray().Select(f => f!.GetValue<string>()));
        Assert.Equal(("batch", "validating", 3), (r["created"]!["object"]!.GetValue<string>(), r["created"]!["status"]!.GetValue<string>(), r["created"]!["total"]!.GetValue<int>()));
        Assert.Equal("completed", r["done"]!["status"]!.GetValue<string>());
        Assert.Equal(3, r["done"]!["counts"]!["completed"]!.GetValue<int>());
        Assert.Contains(r["created"]!["id"]!.GetValue<string>(), r["listedBatches"]!.AsArray().Select(b => b!.GetValue<string>()));
        Assert.Equal(["a", "b", "c"], r["output"]!.AsArray().Select(o => o!["custom_id"]!.GetValue<string>()));
        Assert.All(r["output"]!.AsArray(), o => Assert.Equal((200, 384), (o!["status"]!.GetValue<int>(), o["dims"]!.GetValue<int>())));
        Assert.Equal(("NotFoundError", 404), (r["missing"]!["error"]!.GetValue<string>(), r["missing"]!["status"]!.GetValue<int>()));
        Assert.True(r["deleted"]!["deleted"]!.GetValue<bool>());
    }
}
