using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Models;

/// <summary>
/// Model calls against a hard-limit budget on PostgreSQL: each call reserves its most expensive outcome before any
/// engine work, so 64 calls at once spend no more than the limit plus one call, and the rest are refused with
/// OpenAI's 429 <c>insufficient_quota</c>, which the SDKs map to their quota error.
/// </summary>
public sealed class ModelBudgetTests
{
    [Fact]
    public async Task Sixty_four_concurrent_calls_never_spend_past_a_hard_limit_by_more_than_one_call()
    {
        await using var server = await TestServer.StartAsync(StoreProvider.Postgres);
        using var admin = server.Admin();
        var (_, ownerKey) = await server.CreateTenantAsync("budgeted");
        using var owner = server.Client(ownerKey);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "capped" }))["id"]!.GetValue<string>();

        // 1 per thousand input tokens; embeddings have no output. A call of "budget" is a handful of tokens.
        await admin.PublishTokenRatesAsync("all-minilm-l6-v2", "1000", "0");
        const decimal limit = 0.02m;
        await owner.PostJsonAsync("/v1/budgets", new { name = "cap", project_id = project, limit = limit.ToString(CultureInfo.InvariantCulture), hard_limit = true });

        var statuses = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings")
            {
                Content = JsonContent.Create(new { model = "all-minilm-l6-v2", input = $"budget {i}" }),
            };
            request.Headers.Add("OpenAI-Project", project);
            using var response = await owner.SendAsync(request);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            return (response.StatusCode, Code: response.StatusCode == HttpStatusCode.OK ? null : body["error"]?["code"]?.GetValue<string>());
        }));

        await server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None);
        var spent = 0m;
        var calls = new List<decimal>();
        var page = await owner.GetJsonAsync("/v1/usage/events?limit=100");
        foreach (var e in page["data"]!.AsArray())
        {
            var cost = e!["quantity"]!.GetValue<long>() * 1000m / 1_000_000m;
            calls.Add(cost);
            spent += cost;
        }

        var served = statuses.Count(s => s.StatusCode == HttpStatusCode.OK);
        Assert.True(served > 0, "no call was served");
        Assert.Equal(served, calls.Count);
        Assert.All(statuses.Where(s => s.StatusCode != HttpStatusCode.OK), s =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, s.StatusCode);
            Assert.Equal("insufficient_quota", s.Code);
        });
        Assert.True(statuses.Any(s => s.Code == "insufficient_quota"), "the limit never refused a call");
        Assert.True(spent <= limit + calls.Max(), $"spent {spent} against a limit of {limit} ({served} calls)");
    }
}
