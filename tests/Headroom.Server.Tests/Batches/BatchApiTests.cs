using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Server.Batches;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Batches;

/// <summary>
/// Files and batches on both stores, with a stand-in worker (a shell that sleeps) so the tests drive the batch
/// themselves: the 24 h window, a line sent twice metered once, and who may post a batch's results.
/// </summary>
public sealed class BatchApiTests
{
    private const string Line = """{"custom_id":"CID","method":"POST","url":"/v1/embeddings","body":{"model":"all-minilm-l6-v2","input":"spare GPUs"}}""";

    private static async Task<(TestServer Server, HttpClient Owner, JsonObject Batch)> StartWithBatchAsync(StoreProvider provider, TimeProvider? time = null)
    {
        var server = await TestServer.StartAsync(provider, s => s with { BatchWorkerCommand = ["/bin/sh", "-c", "sleep 600", "sh"] }, TestFleets.LocalBox(1), time);
        var (_, key) = await server.CreateTenantAsync("batch-co");
        var owner = server.Client(key);
        await owner.PostJsonAsync("/v1/projects", new { name = "work" });
        var content = string.Join('\n', new[] { "a", "b" }.Select(id => Line.Replace("CID", id, StringComparison.Ordinal)));
        using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { new StringContent(content), "file", "in.jsonl" } };
        using var uploaded = await owner.PostAsync("/v1/files", form);
        var file = await HttpJson.ReadAsync(uploaded, HttpStatusCode.OK);
        Assert.Equal(content.Length, file["bytes"]!.GetValue<long>());
        using var created = await owner.PostAsync("/v1/batches", JsonContent(new { input_file_id = file["id"]!.GetValue<string>(), endpoint = "/v1/embeddings", completion_window = "24h" }));
        return (server, owner, await HttpJson.ReadAsync(created, HttpStatusCode.OK));
    }

    private static StringContent JsonContent(object body) => new(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static async Task<string> BatchKeyAsync(TestServer server, JsonObject batch)
    {
        var jobId = batch["job_id"]!.GetValue<string>();
        return (await File.ReadAllTextAsync(Path.Combine(server.Settings.JobsDir, "checkpoints", jobId, BatchEndpoints.KeyFileName))).Trim();
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_batch_not_done_within_its_window_expires_and_its_job_and_key_are_stopped(StoreProvider provider)
    {
        var time = new ShiftedTime();
        var (server, owner, batch) = await StartWithBatchAsync(provider, time);
        await using var _ = server;
        using var __ = owner;
        var id = batch["id"]!.GetValue<string>();
        await owner.WaitForJobAsync(batch["job_id"]!.GetValue<string>(), j => j["state"]!.GetValue<string>() == "running");
        var loop = server.Services.GetRequiredService<BatchLoop>();
        await loop.PassAsync(CancellationToken.None);
        Assert.Equal("in_progress", (await owner.GetJsonAsync($"/v1/batches/{id}"))["status"]!.GetValue<string>());

        time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        await loop.PassAsync(CancellationToken.None);

        var expired = await owner.GetJsonAsync($"/v1/batches/{id}");
        Assert.Equal("expired", expired["status"]!.GetValue<string>());
        Assert.NotNull(expired["expired_at"]);
        await owner.WaitForJobAsync(batch["job_id"]!.GetValue<string>(), j => j["state"]!.GetValue<string>() == "cancelled");
        using var withBatchKey = server.Client(await BatchKeyAsync(server, batch));
        using var refused = await withBatchKey.GetAsync($"/v1/batches/{id}");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_line_sent_twice_by_the_batch_is_one_batch_call_in_the_ledger_and_only_the_batch_may_post_results(StoreProvider provider)
    {
        var (server, owner, batch) = await StartWithBatchAsync(provider);
        await using var _ = server;
        using var __ = owner;
        var id = batch["id"]!.GetValue<string>();
        using var worker = server.Client(await BatchKeyAsync(server, batch));
        var line = Convert.ToHexStringLower(SHA256.HashData("a"u8));
        // Batch traffic at half price.
        using (var admin = server.Admin())
            await admin.PublishTokenRatesAsync("all-minilm-l6-v2", "1000", "0", batchDiscount: "0.5");

        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent(new { model = "all-minilm-l6-v2", input = "spare GPUs" }) };
            request.Headers.Add("Headroom-Batch-Line", line);
            using var response = await worker.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            ids.Add(response.Headers.GetValues("X-Model-Call-Id").Single());
        }
        Assert.Equal($"emb-{id}-{line[..32]}", Assert.Single(ids.Distinct()));
        // The header means nothing from another credential: that call gets an id of its own and is not batch traffic.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent(new { model = "all-minilm-l6-v2", input = "x" }) })
        {
            request.Headers.Add("Headroom-Batch-Line", line);
            using var response = await owner.SendAsync(request);
            Assert.DoesNotContain(id, response.Headers.GetValues("X-Model-Call-Id").Single(), StringComparison.Ordinal);
        }

        await server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None);
        var events = (await owner.GetJsonAsync("/v1/usage/events?limit=100"))["data"]!.AsArray().Select(e => e!).ToList();
        var batchEvent = Assert.Single(events, e => e["id"]!.GetValue<string>().Contains(id, StringComparison.Ordinal));
        Assert.Equal($"{ids[0]}:input_tokens", batchEvent["id"]!.GetValue<string>());
        Assert.True(batchEvent["batch"]!.GetValue<bool>());
        Assert.False(Assert.Single(events, e => !e["id"]!.GetValue<string>().Contains(id, StringComparison.Ordinal))["batch"]!.GetValue<bool>());
        var lines = (await owner.GetJsonAsync("/v1/invoices/upcoming"))["lines"]!.AsArray().Where(l => l!["meter"]!.GetValue<string>() == "input_tokens").ToList();
        Assert.Equal([("1000", false), ("500", true)], lines.Select(l => (decimal.Parse(l!["unit_price"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture), l!["batch"]!.GetValue<bool>())).OrderBy(l => l.Item2));

        // Results: the owner's key may not post them (404, like a missing batch); the batch's key may, once.
        MultipartFormDataContent Results() => new()
        {
            { new StringContent("2"), "completed" }, { new StringContent("0"), "failed" },
            { new StringContent("{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n"), "output", "output.jsonl" },
        };
        using (var results = Results())
        using (var response = await owner.PostAsync($"/v1/batches/{id}/output", results))
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using (var results = Results())
        using (var response = await worker.PostAsync($"/v1/batches/{id}/output", results))
        {
            var done = await HttpJson.ReadAsync(response, HttpStatusCode.OK);
            Assert.Equal(("completed", 2), (done["status"]!.GetValue<string>(), done["request_counts"]!["completed"]!.GetValue<int>()));
            var output = await owner.GetStringAsync($"/v1/files/{done["output_file_id"]}/content");
            Assert.Equal("{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n", output);
        }
        // The batch's key was revoked with its end.
        using (var results = Results())
        using (var response = await worker.PostAsync($"/v1/batches/{id}/output", results))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await using var db = server.Database.Open();
        Assert.True(await db.TokenJournal.AnyAsync(r => r.RequestId == ids[0] && r.Batch));
    }
}
