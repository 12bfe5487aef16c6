using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// One real <c>headroom up</c> with a 2-GPU local box, a published price sheet with a reserved rate, and a tiny
/// random-weight GGUF served as the model <c>tiny</c>: what the billing and model client commands run against.
/// </summary>
public sealed class BillingServerFixture : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private HeadroomProcess? _server;

    public string Endpoint { get; private set; } = "";

    public string AdminKey { get; private set; } = "";

    public string[] Auth => ["--endpoint", Endpoint, "--key", AdminKey];

    public async Task InitializeAsync()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(2));
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        TinyGguf.Write(gguf);
        var data = Path.Combine(_dir.Path, "data");
        _server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet, "--model", $"tiny={gguf}"]);
        var address = await _server.AddressAsync();
        Endpoint = address.ToString().TrimEnd('/');
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim();
        using var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        await PostAsync(http, "/v1/projects", """{"name":"cli"}""");
        var effective = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        await PostAsync(http, "/v1/prices", $$"""
            {"effective_from":"{{effective}}","currency":"USD",
             "gpu_rates":[{"gpu_model":"h100-80gb","tier":"reserved","region":"local","per_gpu_hour":"2.00"},
                          {"gpu_model":"h100-80gb","tier":"on-demand","region":"local","per_gpu_hour":"3.00"}],
             "token_rates":[]}
            """);
    }

    private static async Task PostAsync(HttpClient http, string path, string json)
    {
        using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, $"{path}: {await response.Content.ReadAsStringAsync()}");
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            _server.Terminate();
            await _server.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await _server.DisposeAsync();
        }
        _dir.Dispose();
    }
}

/// <summary>reservations, capacity, invoices, budgets, models and chat, run as a user runs them against one real server.</summary>
public sealed class BillingAndModelClientTests(BillingServerFixture server) : IClassFixture<BillingServerFixture>, IDisposable
{
    private readonly HeadroomCli _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task A_projects_retention_and_regions_are_set_and_shown_and_a_bad_value_names_the_field()
    {
        var updated = await _cli.RunAsync(["projects", "update", "cli", .. server.Auth, "--retention", "30d", "--regions", "local", "--training", "never"]);
        Assert.True(updated.ExitCode == 0, updated.ToString());
        Assert.Contains("retention 30d, training never, regions local.", updated.Stdout, StringComparison.Ordinal);

        var shown = await _cli.RunAsync(["projects", "get", "cli", .. server.Auth, "--json"]);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        var project = JsonNode.Parse(shown.Stdout)!;
        Assert.Equal(("30d", "local"), (project["retention"]!.GetValue<string>(), project["regions"]![0]!.GetValue<string>()));

        var refused = await _cli.RunAsync(["projects", "update", "cli", .. server.Auth, "--retention", "forever"]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("retention", refused.Stderr, StringComparison.Ordinal);

        var reset = await _cli.RunAsync(["projects", "update", "cli", .. server.Auth, "--retention", "none", "--regions", "any"]);
        Assert.Contains("retention none, training never, regions any.", reset.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_block_is_quoted_bought_listed_read_and_cancelled_with_a_full_refund()
    {
        var start = DateTime.UtcNow.Date.AddDays(3).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        string[] quoteArgs = ["reservations", "quote", .. server.Auth, "--gpu-model", "h100-80gb", "--gpus", "1", "--region", "local", "--start", start, "--hours", "24"];

        var quote = await _cli.RunAsync(quoteArgs);
        var quoteJson = await _cli.RunAsync([.. quoteArgs, "--json"]);
        var quoteId = JsonNode.Parse(quoteJson.Stdout)!["id"]!.GetValue<string>();
        var buy = await _cli.RunAsync(["reservations", "buy", quoteId, "--project", "cli", .. server.Auth]);
        var again = await _cli.RunAsync(["reservations", "buy", quoteId, "--project", "cli", .. server.Auth]);
        var id = System.Text.RegularExpressions.Regex.Match(buy.Stdout, @"rsv_\w+").Value;
        var list = await _cli.RunAsync(["reservations", "list", .. server.Auth]);
        var get = await _cli.RunAsync(["reservations", "get", id, .. server.Auth]);
        var cancel = await _cli.RunAsync(["reservations", "cancel", id, .. server.Auth]);
        var afterCancel = await _cli.RunAsync(["reservations", "get", id, .. server.Auth, "--json"]);
        var missing = await _cli.RunAsync(["reservations", "get", "rsv_00000000000000000000000000", .. server.Auth]);

        Assert.True(quote.ExitCode == 0, quote.ToString());
        Assert.Matches(@"quote:\s+qte_\w+", quote.Stdout);
        Assert.Matches(@"price:\s+48(\.0+)? USD", quote.Stdout);
        Assert.Matches(@"available:\s+yes", quote.Stdout);
        Assert.Matches(@"expires:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", quote.Stdout);
        Assert.True(buy.ExitCode == 0, buy.ToString());
        Assert.Contains($"Bought {id}: 1x h100-80gb in local from {start} 00:00:00Z", buy.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("HTTP 409 quote_used", again.Stderr, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches($@"{id}\s+prj_\w+\s+1x h100-80gb\s+local\s+.*scheduled", list.Stdout);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Matches(@"state:\s+scheduled", get.Stdout);
        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.Matches($@"Cancelled {id}; refund 48(\.0+)? USD\.", cancel.Stdout);
        Assert.Equal("cancelled", JsonNode.Parse(afterCancel.Stdout)!["status"]!.GetValue<string>());
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("HTTP 404", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deployment_is_created_listed_shown_scaled_and_deleted()
    {
        var mock = Path.Combine(AppContext.BaseDirectory, "Fixtures", "mock_upstream.py");
        var create = await _cli.RunAsync(["deployments", "create", "cli-mock", "--project", "cli", "--gpu-milli", "100", "--min", "1", "--max", "2", .. server.Auth,
            "--", "python3", mock, "{port}", "{upstream_model}"]);
        var id = System.Text.RegularExpressions.Regex.Match(create.Stdout, @"dep_\w+").Value;
        JsonNode shown;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(300);
            shown = JsonNode.Parse((await _cli.RunAsync(["deployments", "get", id, "--json", .. server.Auth])).Stdout)!;
            Assert.True(DateTime.UtcNow < deadline, $"never ready: {shown}");
        }
        while (shown["ready_replicas"]!.GetValue<int>() < 1);
        var list = await _cli.RunAsync(["deployments", "list", .. server.Auth]);
        var get = await _cli.RunAsync(["deployments", "get", id, .. server.Auth]);
        var chat = await _cli.RunAsync(["chat", "--model", "cli-mock", "--message", "hello", .. server.Auth]);
        var scale = await _cli.RunAsync(["deployments", "scale", id, "--max", "3", .. server.Auth]);
        var badScale = await _cli.RunAsync(["deployments", "scale", id, "--min", "4", .. server.Auth]);
        var delete = await _cli.RunAsync(["deployments", "delete", id, .. server.Auth]);
        var noCommand = await _cli.RunAsync(["deployments", "create", "nothing", .. server.Auth]);

        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.Contains($"Created {id}: cli-mock, 1-2 replicas of 0.1 GPU.", create.Stdout, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches($@"{id}\s+cli-mock\s+openai-upstream\s+dedicated\s+1/1\s+1-2\s+active", list.Stdout);
        Assert.Matches(@"system:tiny\s+tiny\s+in-process", list.Stdout);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Matches(@"replicas:\s+1 ready of 1 wanted \(min 1, max 2\)", get.Stdout);
        Assert.Matches(@"job_\w+\s+http://127\.0\.0\.1:\d+/v1\s+yes\s+running", get.Stdout);
        Assert.True(chat.ExitCode == 0, chat.ToString());
        Assert.Contains("replica job_", chat.Stdout, StringComparison.Ordinal);
        Assert.True(scale.ExitCode == 0, scale.ToString());
        Assert.Contains($"Scaled {id} to 1-3 replicas", scale.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, badScale.ExitCode);
        Assert.Contains("HTTP 400", badScale.Stderr, StringComparison.Ordinal);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Contains($"Deleting {id} (cli-mock)", delete.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, noCommand.ExitCode);
    }

    [Fact]
    public async Task Capacity_shows_each_pool_as_a_table_and_an_unknown_region_is_refused()
    {
        var capacity = await _cli.RunAsync(["capacity", .. server.Auth]);
        var days = await _cli.RunAsync(["capacity", "--gpu-model", "h100-80gb", "--days", .. server.Auth]);
        var unknown = await _cli.RunAsync(["capacity", "--region", "atlantis", .. server.Auth]);

        Assert.True(capacity.ExitCode == 0, capacity.ToString());
        Assert.Matches(@"REGION\s+GPU MODEL\s+TOTAL\s+GUARANTEED\s+FREE\s+RESERVED\s+SELL RESERVED\s+SELL ON-DEMAND\s+SELL SPOT", capacity.Stdout);
        Assert.Matches(@"local\s+h100-80gb\s+2\s+\d+\s+\d+\s+\d+", capacity.Stdout);
        Assert.True(days.ExitCode == 0, days.ToString());
        Assert.Contains("local h100-80gb, by day (UTC):", days.Stdout, StringComparison.Ordinal);
        Assert.Contains(DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), days.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("HTTP 400", unknown.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoices_upcoming_prints_the_draft_and_list_and_get_answer()
    {
        var upcoming = await _cli.RunAsync(["invoices", "upcoming", .. server.Auth]);
        var json = await _cli.RunAsync(["invoices", "upcoming", "--json", .. server.Auth]);
        var list = await _cli.RunAsync(["invoices", "list", .. server.Auth]);
        var missing = await _cli.RunAsync(["invoices", "get", "inv_00000000000000000000000000", "--csv", .. server.Auth]);
        var both = await _cli.RunAsync(["invoices", "get", "inv_x", "--csv", "--html", "x.html", .. server.Auth]);

        Assert.True(upcoming.ExitCode == 0, upcoming.ToString());
        Assert.Matches(@"invoice:\s+\(upcoming\)", upcoming.Stdout);
        Assert.Matches(@"status:\s+draft", upcoming.Stdout);
        Assert.Matches(@"total:\s+\S+", upcoming.Stdout);
        Assert.Equal("draft", JsonNode.Parse(json.Stdout)!["status"]!.GetValue<string>());
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("HTTP 404", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, both.ExitCode);
    }

    [Fact]
    public async Task A_budget_is_created_listed_and_deleted()
    {
        var create = await _cli.RunAsync(["budgets", "create", "--limit", "500", "--name", "research", "--project", "cli", "--hard-limit", "--alert", "50,90", .. server.Auth]);
        var id = System.Text.RegularExpressions.Regex.Match(create.Stdout, @"bud_\w+").Value;
        var list = await _cli.RunAsync(["budgets", "list", .. server.Auth]);
        var delete = await _cli.RunAsync(["budgets", "delete", id, .. server.Auth]);
        var after = await _cli.RunAsync(["budgets", "list", "--json", .. server.Auth]);
        var bad = await _cli.RunAsync(["budgets", "create", "--limit", "lots", .. server.Auth]);

        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.Matches(@"Created bud_\w+ \(research\): 500(\.0+)? per month for project prj_\w+, a hard limit, alerts at 50%, 90%\.", create.Stdout);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches($@"{id}\s+research\s+prj_\w+\s+500(\.0+)?\s+\S+\s+\S+\s+yes\s+50%,90%", list.Stdout);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Contains($"Deleted {id}.", delete.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(id, after.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--limit 'lots'", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_lists_the_served_models()
    {
        var models = await _cli.RunAsync(["models", .. server.Auth]);

        Assert.True(models.ExitCode == 0, models.ToString());
        Assert.Matches(@"ID\s+OWNED BY\s+CREATED", models.Stdout);
        Assert.Contains("all-minilm-l6-v2", models.Stdout, StringComparison.Ordinal);
        Assert.Contains("tiny", models.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_streams_an_answer_keeps_the_history_and_names_an_unknown_model()
    {
        var one = await _cli.RunAsync(["chat", "--model", "tiny", "--project", "cli", "--system", "Be brief.", "--message", "hi", "--max-tokens", "8", .. server.Auth]);
        var json = await _cli.RunAsync(["chat", "--model", "tiny", "--message", "hi", "--max-tokens", "4", "--json", .. server.Auth]);
        var turns = await _cli.RunAsync(["chat", "--model", "tiny", "--max-tokens", "4", .. server.Auth], "hello\n\nand again\n");
        // With --json each turn's answer is one line of the API's JSON, whose usage shows the history sent along.
        var jsonTurns = await _cli.RunAsync(["chat", "--model", "tiny", "--max-tokens", "4", "--json", .. server.Auth], "hello\nand again\n");
        var unknown = await _cli.RunAsync(["chat", "--model", "nope", "--message", "hi", .. server.Auth]);

        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.True(one.Stdout.Trim().Length > 0, one.ToString());
        Assert.Equal("", one.Stderr);
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Equal("chat.completion", JsonNode.Parse(json.Stdout)!["object"]!.GetValue<string>());
        Assert.True(turns.ExitCode == 0, turns.ToString());
        Assert.True(turns.Stdout.Trim().Length > 0, turns.ToString());
        Assert.True(jsonTurns.ExitCode == 0, jsonTurns.ToString());
        var answers = jsonTurns.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, answers.Count);
        var firstPrompt = answers[0]["usage"]!["prompt_tokens"]!.GetValue<int>();
        var secondPrompt = answers[1]["usage"]!["prompt_tokens"]!.GetValue<int>();
        // The second call carries the first question and its answer too.
        Assert.True(secondPrompt > firstPrompt + answers[0]["usage"]!["completion_tokens"]!.GetValue<int>(), jsonTurns.Stdout);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Matches(@"headroom: .*nope.* \(HTTP 404 model_not_found, request req_\w+\)", unknown.Stderr);
    }
}
