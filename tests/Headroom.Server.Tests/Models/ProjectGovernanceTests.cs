using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Routing;
using Headroom.Server.Billing;
using Headroom.Server.Coordination;
using Headroom.Server.Models;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Store.Models;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using OpenAI.Chat;

namespace Headroom.Server.Tests.Models;

/// <summary>
/// A project's data governance for hosted models: retention (none writes no prompt or completion byte anywhere; N days
/// keeps request logs its admins read, deleted after N days), the recorded <c>training: never</c>, region pinning
/// (never a silent reroute), estimated token counts in the ledger, and pruning of the metered token journal.
/// </summary>
public sealed class ProjectGovernanceTests
{
    private static readonly DateTimeOffset Start = new(2026, 10, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task With_retention_none_no_prompt_or_completion_byte_reaches_the_database_the_data_directory_or_the_logs(StoreProvider provider)
    {
        var logs = new CapturedLogs();
        await using var server = await TestServer.StartAsync(provider, logging: l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        var echo = Echo(server);
        var (_, owner) = await server.CreateTenantAsync("quiet-co");
        using var http = server.Client(owner);
        var project = (await http.PostJsonAsync("/v1/projects", new { name = "quiet" }))["id"]!.GetValue<string>();
        Assert.Equal("none", (await http.GetJsonAsync($"/v1/projects/{project}"))["retention"]!.GetValue<string>());
        var canary = "canary-" + Guid.NewGuid().ToString("N");

        var answers = await CallWithCanaryAsync(server, owner, project, canary, echo);

        Assert.All(answers, a => Assert.Contains(canary, a, StringComparison.Ordinal)); // the canary went through the engine and back
        await server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None);
        await server.Services.GetRequiredService<Housekeeping>().PassAsync(CancellationToken.None);
        Assert.Equal(0, await CountInStoreAsync(server, canary));
        Assert.Empty(FilesHolding(server.Settings.DataDir, canary));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(canary, StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("Model call chatcmpl-", StringComparison.Ordinal)); // the calls were logged, as metadata

        // The same scan finds what a project that keeps logs stores: it can fail.
        await http.PatchJsonAsync($"/v1/projects/{project}", new { retention = "7d" });
        await CallWithCanaryAsync(server, owner, project, canary, echo);
        await server.Services.GetRequiredService<CallJournal>().DrainAsync(CancellationToken.None);
        Assert.True(await CountInStoreAsync(server, canary) > 0);
        if (provider == StoreProvider.Sqlite)
            Assert.NotEmpty(FilesHolding(server.Settings.DataDir, canary));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(canary, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task With_retention_in_days_the_projects_admins_read_its_request_logs_until_housekeeping_deletes_them(StoreProvider provider)
    {
        var clock = new ManualClock(Start);
        await using var server = await TestServer.StartAsync(provider, time: clock);
        var echo = Echo(server);
        var (_, owner) = await server.CreateTenantAsync("logged-co");
        using var http = server.Client(owner);
        var project = (await http.PostJsonAsync("/v1/projects", new { name = "logged" }))["id"]!.GetValue<string>();
        var other = (await http.PostJsonAsync("/v1/projects", new { name = "unlogged" }))["id"]!.GetValue<string>();
        var updated = await http.PatchJsonAsync($"/v1/projects/{project}", new { retention = "30d" });
        Assert.Equal("30d", updated["retention"]!.GetValue<string>());

        var answers = await CallWithCanaryAsync(server, owner, project, "hello there", echo);
        await CallWithCanaryAsync(server, owner, other, "not kept", echo);

        var page = await http.GetJsonAsync($"/v1/projects/{project}/request-logs?limit=100");
        var logs = page["data"]!.AsArray().Select(l => l!.AsObject()).ToList();
        Assert.Equal(3, logs.Count);
        var chat = logs.Single(l => l["operation"]!.GetValue<string>() == "chat.completions" && !l["stream"]!.GetValue<bool>());
        Assert.Equal("echo", chat["model"]!.GetValue<string>());
        Assert.Equal("hello there", chat["request"]!["messages"]![0]!["content"]!.GetValue<string>());
        Assert.Equal(answers[0], chat["response"]!.GetValue<string>());
        Assert.Equal(200, chat["status"]!.GetValue<int>());
        Assert.True(chat["input_tokens"]!.GetValue<long>() > 0 && chat["output_tokens"]!.GetValue<long>() > 0);
        Assert.StartsWith("chatcmpl-", chat["request_id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("key_", chat["api_key_id"]!.GetValue<string>(), StringComparison.Ordinal);
        var streamed = logs.Single(l => l["stream"]!.GetValue<bool>());
        Assert.Equal(answers[1], streamed["response"]!.GetValue<string>()); // the assembled stream
        Assert.Empty((await http.GetJsonAsync($"/v1/projects/{other}/request-logs"))["data"]!.AsArray());

        // Paged like every list.
        var first = await http.GetJsonAsync($"/v1/projects/{project}/request-logs?limit=2");
        Assert.True(first["has_more"]!.GetValue<bool>());
        var rest = await http.GetJsonAsync($"/v1/projects/{project}/request-logs?limit=2&after={first["last_id"]}");
        Assert.Single(rest["data"]!.AsArray());

        // The project's admins only; another org's owner sees no such project.
        using (var member = server.Client(await TestServer.CreateKeyAsync(http, null, ["member"])))
            await HttpJson.ErrorAsync(await member.GetAsync($"/v1/projects/{project}/request-logs"), 403);
        var (_, foreignKey) = await server.CreateTenantAsync("nosy-co");
        using (var foreign = server.Client(foreignKey))
            await HttpJson.ErrorAsync(await foreign.GetAsync($"/v1/projects/{project}/request-logs"), 404);

        // Kept 30 days, then deleted by housekeeping.
        var housekeeping = server.Services.GetRequiredService<Housekeeping>();
        clock.Now = Start.AddDays(29);
        await housekeeping.PassAsync(CancellationToken.None);
        Assert.Equal(3, (await http.GetJsonAsync($"/v1/projects/{project}/request-logs"))["data"]!.AsArray().Count);
        clock.Now = Start.AddDays(30).AddMinutes(1);
        await housekeeping.PassAsync(CancellationToken.None);
        Assert.Empty((await http.GetJsonAsync($"/v1/projects/{project}/request-logs"))["data"]!.AsArray());

        // Turning retention off deletes what was kept at the next pass.
        await CallWithCanaryAsync(server, owner, project, "again", echo);
        await http.PatchJsonAsync($"/v1/projects/{project}", new { retention = "none" });
        await housekeeping.PassAsync(CancellationToken.None);
        await using var db = server.Database.Open();
        Assert.False(await db.RequestLogs.AnyAsync());
    }

    [Fact]
    public async Task Settings_are_validated_naming_the_field_audited_and_shown_on_the_project()
    {
        await using var server = await TestServer.StartAsync(fleetYaml: FleetTests.TwoRegionFleet);
        var (_, owner) = await server.CreateTenantAsync("careful-co");
        using var http = server.Client(owner);
        var project = (await http.PostJsonAsync("/v1/projects", new { name = "careful" }))["id"]!.GetValue<string>();
        var before = await http.GetJsonAsync($"/v1/projects/{project}");
        Assert.Equal(("none", "never", 0), (before["retention"]!.GetValue<string>(), before["training"]!.GetValue<string>(), before["regions"]!.AsArray().Count));

        foreach (var (body, field) in new (object, string)[]
        {
            (new { retention = "forever" }, "retention"),
            (new { retention = "0d" }, "retention"),
            (new { retention = "3651d" }, "retention"),
            (new { retention = "30" }, "retention"),
            (new { training = "sometimes" }, "training"),
            (new { regions = new[] { "mars-north" } }, "regions"),
            (new { regions = new[] { "us-east", "us-east" } }, "regions"),
            (new { retention = "5d", regions = new[] { "nowhere" } }, "regions"),
        })
        {
            using var response = await http.PatchAsJsonAsync($"/v1/projects/{project}", body);
            var error = await HttpJson.ErrorAsync(response, 400);
            Assert.Equal(field, error["param"]!.GetValue<string>());
        }
        Assert.Equal(before.ToJsonString(), (await http.GetJsonAsync($"/v1/projects/{project}")).ToJsonString());

        var updated = await http.PatchJsonAsync($"/v1/projects/{project}", new { retention = "14d", training = "never", regions = new[] { "eu-west", "us-east" } });
        Assert.Equal("14d", updated["retention"]!.GetValue<string>());
        Assert.Equal(["eu-west", "us-east"], updated["regions"]!.AsArray().Select(r => r!.GetValue<string>()));
        Assert.Equal(updated.ToJsonString(), (await http.GetJsonAsync($"/v1/projects/{project}")).ToJsonString());
        var unpinned = await http.PatchJsonAsync($"/v1/projects/{project}", new { regions = Array.Empty<string>() });
        Assert.Empty(unpinned["regions"]!.AsArray());

        var audit = (await http.GetJsonAsync("/v1/audit?limit=100"))["data"]!.AsArray().Select(a => a!.AsObject())
            .Where(a => a["action"]!.GetValue<string>() == "projects.update" && a["status_code"]!.GetValue<int>() == 200).ToList();
        Assert.Contains(audit, a => a["detail"]!.GetValue<string>() == "retention=14d training=never regions=eu-west,us-east");
        Assert.Contains(audit, a => a["detail"]!.GetValue<string>() == "regions=any");
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_project_pinned_to_regions_reaches_only_replicas_there_and_gets_a_503_naming_them_when_none_is_healthy(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider, fleetYaml: FleetTests.TwoRegionFleet,
            configure: s => s with { Models = new ModelSettings { Region = "us-east" } });
        var us = new EchoEngine();
        var eu = new EchoEngine();
        var registry = server.Services.GetRequiredService<ModelRegistry>();
        registry.Add("echo", us, "echo-us", region: "us-east").Add("echo", eu, "echo-eu", region: "eu-west");
        var (_, owner) = await server.CreateTenantAsync("pinned-co");
        using var http = server.Client(owner);
        var project = (await http.PostJsonAsync("/v1/projects", new { name = "eu-only" }))["id"]!.GetValue<string>();
        await http.PatchJsonAsync($"/v1/projects/{project}", new { regions = new[] { "eu-west" } });
        var sdk = Sdk(server, owner, project);

        for (var i = 0; i < 4; i++)
            await sdk.GetChatClient("echo").CompleteChatAsync([new UserChatMessage("where am I?")]);

        Assert.Equal((0, 4), (us.Calls, eu.Calls));
        await using (var db = server.Database.Open())
            Assert.All(await db.TokenJournal.AsNoTracking().ToListAsync(), r => Assert.Equal("eu-west", r.Region));

        // The only eu-west replica goes down: a 503 naming the region, never the idle us-east replica.
        eu.Healthy = false;
        await registry.RefreshHealthAsync(CancellationToken.None);
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => sdk.GetChatClient("echo").CompleteChatAsync([new UserChatMessage("still?")]));
        Assert.Equal(503, refused.Status);
        var error = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Contains("eu-west", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("service_unavailable", error["code"]!.GetValue<string>());
        Assert.Equal(0, us.Calls);

        // In-process models run in this replica's region (us-east): out of the project's reach too.
        var embeddings = await Assert.ThrowsAsync<ClientResultException>(() => sdk.GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("hi"));
        Assert.Equal(503, embeddings.Status);

        // Pinned to both regions, the healthy us-east replica serves; unpinned likewise.
        await http.PatchJsonAsync($"/v1/projects/{project}", new { regions = new[] { "eu-west", "us-east" } });
        await sdk.GetChatClient("echo").CompleteChatAsync([new UserChatMessage("now?")]);
        Assert.Equal(1, us.Calls);
        await sdk.GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("hi");
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Estimated_token_counts_are_flagged_in_the_ledger_and_the_usage_api_and_the_chain_still_verifies(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var silent = new EchoEngine { ReportsUsage = false };
        server.Services.GetRequiredService<ModelRegistry>().Add("echo", new EchoEngine(), "echo-0").Add("silent", silent, "silent-0");
        var (orgId, owner) = await server.CreateTenantAsync("estimate-co");
        using var http = server.Client(owner);
        var project = (await http.PostJsonAsync("/v1/projects", new { name = "estimates" }))["id"]!.GetValue<string>();
        var sdk = Sdk(server, owner, project);

        var counted = (await sdk.GetChatClient("echo").CompleteChatAsync([new UserChatMessage("counted by the engine")])).Value;
        var estimated = (await sdk.GetChatClient("silent").CompleteChatAsync([new UserChatMessage("counted by us")])).Value;
        await server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None);

        var events = (await http.GetJsonAsync("/v1/usage/events?limit=100"))["data"]!.AsArray().Select(e => e!.AsObject()).ToList();
        Assert.Equal(4, events.Count);
        Assert.All(events, e => Assert.Equal(e["id"]!.GetValue<string>().StartsWith(estimated.Id, StringComparison.Ordinal), e["estimated"]!.GetValue<bool>()));
        Assert.Contains(events, e => e["id"]!.GetValue<string>() == counted.Id + ":input_tokens");
        var report = await http.GetJsonAsync("/v1/usage?group_by=meter");
        Assert.Equal(estimated.Usage.TotalTokenCount, report["estimated_tokens"]!.GetValue<long>());
        await using var db = server.Database.Open();
        var rows = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId).OrderBy(u => u.Seq).ToListAsync();
        Assert.Equal(2, rows.Count(r => r.Estimated));
        Assert.Empty(Verify(orgId, rows.Select(UsageRows.ToEntry)));

        // Flipping the flag in the database breaks the chain: the flag is covered by the hash.
        Assert.NotEmpty(Verify(orgId, rows.Select(UsageRows.ToEntry).Select(e => e.Event.Estimated ? e with { Event = e.Event with { Estimated = false } } : e)));
    }

    private static List<LedgerFinding> Verify(string orgId, IEnumerable<LedgerEntry> entries)
    {
        var verifier = new UsageLedgerVerifier(orgId);
        var findings = entries.SelectMany(verifier.Append).ToList();
        findings.AddRange(verifier.Complete());
        return findings;
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Housekeeping_prunes_metered_token_journal_rows_past_retention_and_never_an_unmetered_one(StoreProvider provider)
    {
        var clock = new ManualClock(Start);
        await using var server = await TestServer.StartAsync(provider, time: clock);
        await using (var db = server.Database.Open())
        {
            TokenJournalRow Row(string id, DateTimeOffset? metered) => new()
            {
                RequestId = id, OrgId = "org_x", ProjectId = "prj_x", Actor = "key_x", Model = "m", InputTokens = 1,
                ServedAt = Start.AddDays(-30), MeteredAt = metered,
            };
            db.TokenJournal.AddRange(Row("old-metered", Start.AddDays(-9)), Row("recent-metered", Start.AddDays(-1)), Row("old-unmetered", null));
            await db.SaveChangesAsync();
        }

        await server.Services.GetRequiredService<Housekeeping>().PassAsync(CancellationToken.None);

        await using (var db = server.Database.Open())
        {
            var left = await db.TokenJournal.AsNoTracking().Select(r => r.RequestId).OrderBy(r => r).ToListAsync();
            Assert.Equal(["old-unmetered", "recent-metered"], left);
        }
    }

    /// <summary>A chat, a streamed chat and a completion carrying <paramref name="text"/>; returns the three answers.</summary>
    private static async Task<List<string>> CallWithCanaryAsync(TestServer server, string key, string project, string text, EchoEngine echo)
    {
        var chat = Sdk(server, key, project).GetChatClient("echo");
        var answers = new List<string> { (await chat.CompleteChatAsync([new UserChatMessage(text)])).Value.Content[0].Text };
        var streamed = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(text)]))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
        }
        answers.Add(streamed.ToString());
        using var http = server.Client(key);
        http.DefaultRequestHeaders.Add(ModelHooks.ProjectHeader, project);
        var completion = await http.PostJsonAsync("/v1/completions", new { model = "echo", prompt = text }, HttpStatusCode.OK);
        answers.Add(completion["choices"]![0]!["text"]!.GetValue<string>());
        Assert.True(echo.Calls >= 3);
        return answers;
    }

    private static EchoEngine Echo(TestServer server)
    {
        var echo = new EchoEngine();
        server.Services.GetRequiredService<ModelRegistry>().Add("echo", echo, "echo-0", region: "local");
        return echo;
    }

    private static OpenAIClient Sdk(TestServer server, string key, string project) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(server.Address, "/v1/"),
        ProjectId = project,
        RetryPolicy = new ClientRetryPolicy(0),
    });

    /// <summary>Rows of every table whose text holds <paramref name="needle"/>: PostgreSQL casts each row to text; on SQLite every text column is searched.</summary>
    private static async Task<long> CountInStoreAsync(TestServer server, string needle)
    {
        await using var db = server.Database.Open();
        var tables = db.Model.GetEntityTypes().Select(e => e.GetTableName()!).Distinct().ToList();
        long hits = 0;
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        foreach (var table in tables)
        {
            await using var command = connection.CreateCommand();
            if (db.Provider == StoreProvider.Postgres)
            {
                command.CommandText = $"SELECT count(*) FROM \"{table}\" t WHERE strpos(t::text, @needle) > 0";
            }
            else
            {
                var columns = db.Model.GetEntityTypes().Where(e => e.GetTableName() == table).SelectMany(e => e.GetProperties())
                    .Select(p => $"instr(CAST(\"{p.GetColumnName()}\" AS TEXT), @needle) > 0").Distinct();
                command.CommandText = $"SELECT count(*) FROM \"{table}\" WHERE {string.Join(" OR ", columns)}";
            }
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@needle";
            parameter.Value = needle;
            command.Parameters.Add(parameter);
            hits += Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
        return hits;
    }

    /// <summary>Files under <paramref name="directory"/> whose bytes hold <paramref name="needle"/> (read while the server runs, WAL included).</summary>
    private static List<string> FilesHolding(string directory, string needle)
    {
        var bytes = Encoding.UTF8.GetBytes(needle);
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            if (copy.GetBuffer().AsSpan(0, (int)copy.Length).IndexOf(bytes) >= 0)
                found.Add(file);
        }
        return found;
    }
}

/// <summary>Answers with the last message (or prompt) it was given: whatever went in comes back out.</summary>
internal sealed class EchoEngine : IInferenceEngine
{
    private int _calls;

    public int Calls => _calls;
    public bool Healthy { get; set; } = true;

    /// <summary>False: like a cut stream or an upstream that sends none, the engine reports no usage.</summary>
    public bool ReportsUsage { get; init; } = true;

    public EngineCapabilities Capabilities { get; } = new(Chat: true, Completions: true, Embeddings: false, Tools: false, ResponseFormat: false);

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        var text = request.Messages?[^1].Content ?? request.Prompt ?? "";
        var words = text.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            await Task.Yield();
            yield return new GenerationChunk { Text = i == 0 ? words[i] : " " + words[i] };
        }
        yield return new GenerationChunk { FinishReason = "stop", Usage = ReportsUsage ? new TokenUsage(words.Length + 3, words.Length) : null };
    }

    public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Healthy);
}

/// <summary>Every log line of every category, message and exception as formatted, and every structured value.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            owner._lines.Enqueue($"{category} scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner._lines.Enqueue($"{category} [{eventId.Id}] {formatter(state, exception)} {values} {exception}");
        }
    }
}
