using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Server.Billing;
using Headroom.Server.Models;
using Headroom.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;

namespace Headroom.Server.Tests.Models;

/// <summary>
/// The OpenAI surface of a whole replica, through the official .NET SDK: what it serves, who may call it, in which
/// project a call is metered and limited, and that every acknowledged call reaches the usage ledger exactly once.
/// </summary>
public sealed class ModelApiTests(ModelApiTests.World world) : IClassFixture<ModelApiTests.World>
{
    public sealed class World : IAsyncLifetime
    {
        private readonly string _gguf = Path.Combine(Path.GetTempPath(), $"headroom-tiny-{Guid.NewGuid():N}.gguf");

        public TestServer Server { get; private set; } = null!;
        public string OrgId { get; private set; } = "";
        public string Owner { get; private set; } = "";
        public string Viewer { get; private set; } = "";
        public string ProjectA { get; private set; } = "";
        public string ProjectB { get; private set; } = "";

        public async Task InitializeAsync()
        {
            TinyGguf.Write(_gguf);
            Server = await TestServer.StartAsync(configure: s => s with
            {
                Models = new ModelSettings { Gguf = new Dictionary<string, string> { ["tiny"] = _gguf } },
            });
            (OrgId, Owner) = await Server.CreateTenantAsync("models-co");
            using var owner = Server.Client(Owner);
            ProjectA = (await owner.PostJsonAsync("/v1/projects", new { name = "first" }))["id"]!.GetValue<string>();
            ProjectB = (await owner.PostJsonAsync("/v1/projects", new { name = "second" }))["id"]!.GetValue<string>();
            Viewer = await TestServer.CreateKeyAsync(owner, null, ["viewer"]);
        }

        public async Task DisposeAsync()
        {
            await Server.DisposeAsync();
            File.Delete(_gguf);
        }

        /// <summary>The official SDK against this replica's /v1, without retries so error tests see the first answer.</summary>
        public OpenAIClient Sdk(string key, string? project = null) => new(new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(Server.Address, "/v1/"),
            ProjectId = project,
            RetryPolicy = new ClientRetryPolicy(0),
        });

        /// <summary>
        /// The call's journal row, once what completed calls left in the spool is in the store; before that, checks the
        /// call was durable when its answer completed: in the spool (the drain may not have run) or in the store already.
        /// </summary>
        public async Task<Headroom.Store.Models.TokenJournalRow> JournaledAsync(string requestId)
        {
            var spool = Path.Combine(Server.Settings.DataDir, "spool");
            var spooled = Directory.Exists(spool) && Directory.EnumerateFiles(spool).Any(f => File.ReadAllText(f).Contains(requestId, StringComparison.Ordinal));
            await using (var db = Server.Database.Open())
                Assert.True(spooled || await db.TokenJournal.AnyAsync(r => r.RequestId == requestId), $"{requestId} is neither spooled nor journaled");
            await Server.Services.GetRequiredService<CallJournal>().DrainAsync(CancellationToken.None);
            await using (var db = Server.Database.Open())
                return await db.TokenJournal.AsNoTracking().SingleAsync(r => r.RequestId == requestId);
        }

        public async Task<IReadOnlyList<JsonObject>> LedgerAsync()
        {
            await Server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None);
            using var owner = Server.Client(Owner);
            var events = new List<JsonObject>();
            for (var after = ""; ;)
            {
                var page = await owner.GetJsonAsync($"/v1/usage/events?limit=100{after}");
                events.AddRange(page["data"]!.AsArray().Select(e => e!.AsObject()));
                if (page["has_more"]?.GetValue<bool>() != true)
                    return events;
                after = "&after=" + events[^1]["seq"]!.GetValue<long>();
            }
        }
    }

    [Fact]
    public async Task The_models_list_has_the_built_in_embeddings_and_the_gguf_given_at_start()
    {
        var models = (await world.Sdk(world.Owner).GetOpenAIModelClient().GetModelsAsync()).Value;

        Assert.Equal(["all-minilm-l6-v2", "tiny"], models.Select(m => m.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Embeddings_in_base64_and_float_are_the_same_384_dimension_vectors()
    {
        var client = world.Sdk(world.Owner).GetEmbeddingClient("all-minilm-l6-v2");
        string[] sentences = ["GPUs for rent.", "Spare capacity, sold by the minute."];

        // The SDK asks for base64 by default; the protocol method asks for float.
        var vectors = (await client.GenerateEmbeddingsAsync(sentences)).Value.OrderBy(e => e.Index).Select(e => e.ToFloats().ToArray()).ToArray();
        var raw = await client.GenerateEmbeddingsAsync(BinaryContent.Create(BinaryData.FromObjectAsJson(
            new { model = "all-minilm-l6-v2", input = sentences, encoding_format = "float" })));
        using var json = JsonDocument.Parse(raw.GetRawResponse().Content);
        var floats = json.RootElement.GetProperty("data").EnumerateArray()
            .Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();

        Assert.All(vectors, v => Assert.Equal(384, v.Length));
        Assert.Equal(vectors[0], floats[0]);
        Assert.Equal(vectors[1], floats[1]);
    }

    [Fact]
    public async Task A_chat_with_the_gguf_is_answered_and_metered_once_under_its_request_id_before_the_response_completes()
    {
        var chat = world.Sdk(world.Owner, world.ProjectB).GetChatClient("tiny");

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("Say hello.")], new ChatCompletionOptions { MaxOutputTokenCount = 4 })).Value;

        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 4);
        // Journaled before the answer was written: no meter pass has run, and the call is already durable.
        var row = await world.JournaledAsync(completion.Id);
        Assert.Equal((world.OrgId, world.ProjectB, "tiny", (long)completion.Usage.InputTokenCount, (long)completion.Usage.OutputTokenCount, false),
            (row.OrgId, row.ProjectId, row.Model, row.InputTokens, row.OutputTokens, row.Estimated));

        await world.Server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None); // a second pass adds nothing
        var events = (await world.LedgerAsync()).Where(e => e["id"]!.GetValue<string>().StartsWith(completion.Id + ":", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            [($"{completion.Id}:input_tokens", "input_tokens", (long)completion.Usage.InputTokenCount), ($"{completion.Id}:output_tokens", "output_tokens", (long)completion.Usage.OutputTokenCount)],
            events.Select(e => (e["id"]!.GetValue<string>(), e["meter"]!.GetValue<string>(), e["quantity"]!.GetValue<long>())).Order());
        Assert.All(events, e => Assert.Equal((world.ProjectB, "tiny"), (e["project_id"]!.GetValue<string>(), e["model"]!.GetValue<string>())));
        Assert.All(events, e => Assert.StartsWith("key_", e["api_key_id"]!.GetValue<string>(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_streamed_chat_is_journaled_and_metered_once()
    {
        var chat = world.Sdk(world.Owner).GetChatClient("tiny");
        string? id = null;
        ChatTokenUsage? usage = null;

        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream, please.")], new ChatCompletionOptions { MaxOutputTokenCount = 3 }))
        {
            id ??= update.CompletionId;
            usage = update.Usage ?? usage;
        }

        Assert.NotNull(usage);
        Assert.Equal(usage.OutputTokenCount, (await world.JournaledAsync(id!)).OutputTokens);
        var ledger = await world.LedgerAsync();
        Assert.Equal(2, ledger.Count(e => e["id"]!.GetValue<string>().StartsWith(id + ":", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Usage_reports_token_usage_by_meter_and_model_priced_from_the_sheet()
    {
        using var admin = world.Server.Admin();
        using var owner = world.Server.Client(world.Owner);
        await PublishTokenPricesAsync(admin);
        var embedded = (await world.Sdk(world.Owner, world.ProjectA).GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("priced tokens")).Value;
        Assert.Equal(384, embedded.ToFloats().Length);
        await world.LedgerAsync();

        var report = await owner.GetJsonAsync($"/v1/usage?group_by=project,meter,model");

        var row = report["data"]!.AsArray().Select(r => r!.AsObject())
            .Single(r => r["project_id"]!.GetValue<string>() == world.ProjectA && r["model"]?.GetValue<string>() == "all-minilm-l6-v2");
        Assert.Equal("input_tokens", row["meter"]!.GetValue<string>());
        var tokens = row["quantity"]!.GetValue<long>();
        Assert.True(tokens > 0);
        // 0.10 per million input tokens.
        Assert.Equal(tokens * 0.10m / 1_000_000m, decimal.Parse(row["amount"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Without_credentials_the_answer_is_401_and_with_a_role_that_cannot_call_models_403()
    {
        using var anonymous = world.Server.Client();
        using var response = await anonymous.PostAsJsonAsync("/v1/embeddings", new { model = "all-minilm-l6-v2", input = "x" });
        var error = await HttpJson.ErrorAsync(response, 401);
        Assert.Equal("authentication_error", error["type"]!.GetValue<string>());
        var models = await Assert.ThrowsAsync<ClientResultException>(() => world.Sdk("hr_" + new string('x', 53)).GetOpenAIModelClient().GetModelsAsync());
        Assert.Equal(401, models.Status);

        var viewer = await Assert.ThrowsAsync<ClientResultException>(() => world.Sdk(world.Viewer).GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("x"));
        Assert.Equal(403, viewer.Status);
        Assert.Contains("permission_error", viewer.GetRawResponse()!.Content.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_project_is_chosen_by_header_then_by_the_keys_scope_then_as_the_orgs_first()
    {
        using var owner = world.Server.Client(world.Owner);
        var scopedKey = await TestServer.CreateKeyAsync(owner, null, ["member"], world.ProjectB);

        var byDefault = await EmbedAsync(world.Sdk(world.Owner));
        var byHeader = await EmbedAsync(world.Sdk(world.Owner, world.ProjectB));
        var byScope = await EmbedAsync(world.Sdk(scopedKey));
        var ledger = await world.LedgerAsync();

        string ProjectOf(string requestId) => ledger.Single(e => e["id"]!.GetValue<string>() == requestId + ":input_tokens")["project_id"]!.GetValue<string>();
        Assert.Equal([world.ProjectA, world.ProjectB, world.ProjectB], [ProjectOf(byDefault), ProjectOf(byHeader), ProjectOf(byScope)]);

        var foreign = await Assert.ThrowsAsync<ClientResultException>(() => EmbedAsync(world.Sdk(scopedKey, world.ProjectA)));
        Assert.Equal(403, foreign.Status);
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => EmbedAsync(world.Sdk(world.Owner, "prj_nope")));
        Assert.Equal(400, unknown.Status);
        // Calls are metered, not audited.
        var actions = (await owner.GetJsonAsync("/v1/audit?limit=100"))["data"]!.AsArray().Select(r => r!["action"]!.GetValue<string>()).ToList();
        Assert.Contains("keys.create", actions);
        Assert.DoesNotContain(actions, a => a.StartsWith("models.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_projects_own_request_limit_refuses_the_next_call_with_429_rate_limit_exceeded_and_Retry_After()
    {
        using var owner = world.Server.Client(world.Owner);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "limited" }))["id"]!.GetValue<string>();
        using var patch = await owner.PatchAsJsonAsync($"/v1/projects/{project}", new { model_limits = new { requests_per_minute = 2 } });
        var view = await HttpJson.ReadAsync(patch, HttpStatusCode.OK);
        Assert.Equal(2, view["model_limits"]!["requests_per_minute"]!.GetValue<int>());

        // Windows are whole minutes of the wall clock: a run that straddles a minute boundary is repeated once.
        for (var attempt = 0; ; attempt++)
        {
            var minute = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
            var statuses = new List<int>();
            HttpResponseMessage? refused = null;
            for (var i = 0; i < 3; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent.Create(new { model = "all-minilm-l6-v2", input = "x" }) };
                request.Headers.Add(ModelHooks.ProjectHeader, project);
                var response = await owner.SendAsync(request);
                statuses.Add((int)response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                    refused = response;
                else
                    response.Dispose();
            }
            if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 != minute && attempt == 0)
                continue;
            Assert.Equal([200, 200, 429], statuses);
            var error = await HttpJson.ErrorAsync(refused!, 429);
            Assert.Equal(("rate_limit_error", "rate_limit_exceeded"), (error["type"]!.GetValue<string>(), error["code"]!.GetValue<string>()));
            Assert.InRange(int.Parse(refused!.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
            refused.Dispose();
            break;
        }
    }

    private static readonly JsonNode?[] NastyValues =
    [
        null, 0, -1, long.MaxValue, 1.5, true, "", new string('x', 3000), "𝕳🙂\u0000", new JsonArray(), new JsonArray(1, "a", null),
        new JsonObject(), new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonArray(1) }),
        JsonNode.Parse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ];

    [Fact]
    public async Task No_hostile_body_on_the_model_routes_gets_a_5xx_or_an_error_outside_the_error_shape()
    {
        using var owner = world.Server.Client(world.Owner);
        var random = new Random(20261126);
        string[] fields = ["model", "messages", "prompt", "input", "max_tokens", "temperature", "top_p", "n", "stop", "stream", "encoding_format", "dimensions", "tools", "response_format"];
        string[] raw = ["{", "[]", "null", "\"text\"", "{\"model\":", "\uFEFF{}", "{\"model\":\"\\ud800\"}", "not json"];
        var failures = new List<string>();

        foreach (var path in new[] { "/v1/chat/completions", "/v1/completions", "/v1/embeddings" })
        {
            for (var i = 0; i < 40; i++)
            {
                string body;
                if (random.Next(5) == 0)
                {
                    body = raw[random.Next(raw.Length)];
                }
                else
                {
                    var obj = new JsonObject { ["model"] = random.Next(3) == 0 ? NastyValues[random.Next(NastyValues.Length)]?.DeepClone() : path.EndsWith("embeddings", StringComparison.Ordinal) ? "all-minilm-l6-v2" : "tiny" };
                    foreach (var field in fields.Skip(1).Where(_ => random.Next(3) == 0))
                        obj[field] = NastyValues[random.Next(NastyValues.Length)]?.DeepClone();
                    obj["max_tokens"] ??= 2;
                    body = obj.ToJsonString();
                }
                using var response = await owner.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                var isStream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
                if (status >= 500 || (status >= 400 && JsonNode.Parse(text)?["error"]?["message"] is null) || (status == 200 && !isStream && JsonNode.Parse(text) is null))
                    failures.Add($"POST {path} {body[..Math.Min(body.Length, 200)]} -> {status}: {text[..Math.Min(text.Length, 300)]}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Embeds through the SDK's protocol method; returns the call id the usage events carry.</summary>
    private static async Task<string> EmbedAsync(OpenAIClient sdk)
    {
        var result = await sdk.GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingsAsync(BinaryContent.Create(BinaryData.FromObjectAsJson(
            new { model = "all-minilm-l6-v2", input = "which project?" })));
        Assert.True(result.GetRawResponse().Headers.TryGetValue(ModelHooks.CallIdHeader, out var id));
        return id!;
    }

    /// <summary>
    /// Publishes 0.10 per million tokens of all-minilm-l6-v2, effective in a second (a price sheet is never back-dated),
    /// and waits for it to be in force.
    /// </summary>
    private static Task PublishTokenPricesAsync(HttpClient admin) => admin.PublishTokenRatesAsync("all-minilm-l6-v2", "0.10", "0.10");
}
