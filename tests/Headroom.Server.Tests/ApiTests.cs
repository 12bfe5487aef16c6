using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Server.Tests.Infrastructure;

namespace Headroom.Server.Tests;

/// <summary>The API's common ground: health, metrics, OpenAPI, request ids, the error shape and limits.</summary>
public sealed class ApiTests(ApiTests.Fixture fixture) : IClassFixture<ApiTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public TestServer Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await TestServer.StartAsync(configure: s => s with { MaxRequestBodyBytes = 4096 });

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }

    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Health_readiness_and_metrics_answer_without_credentials()
    {
        using var client = Server.Client();

        var health = await client.GetJsonAsync("/healthz");
        var ready = await client.GetJsonAsync("/readyz");
        var metrics = await client.GetStringAsync("/metrics");

        Assert.Equal("ok", health["status"]!.GetValue<string>());
        Assert.Equal(Server.Settings.ReplicaId, health["replica"]!.GetValue<string>());
        Assert.Equal("ready", ready["status"]!.GetValue<string>());
        Assert.Contains("http_requests_received_total", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_openapi_document_describes_every_v1_route()
    {
        using var client = Server.Client();

        var doc = await client.GetJsonAsync("/openapi/v1.json");
        var paths = doc["paths"]!.AsObject();

        foreach (var route in Route.All(Server).Where(r => r.Described))
        {
            Assert.True(paths.ContainsKey(route.Pattern), $"{route.Pattern} is missing from /openapi/v1.json");
            Assert.NotNull(paths[route.Pattern]![route.Method.ToLowerInvariant()]);
        }
        // Only the OpenAI surface is left out: OpenAI's specification describes it, and Models.ModelApiTests fuzzes it.
        Assert.Equal(["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/models/{**model}"],
            Route.All(Server).Where(r => !r.Described).Select(r => r.Pattern).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_response_carries_a_request_id_and_keeps_the_callers_own()
    {
        using var client = Server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        request.Headers.Add("X-Request-Id", "trace-abc-123");

        using var mine = await client.SendAsync(request);
        using var generated = await client.GetAsync("/healthz");

        Assert.Equal("trace-abc-123", mine.Headers.GetValues("X-Request-Id").Single());
        Assert.StartsWith("req_", generated.Headers.GetValues("X-Request-Id").Single(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"name\":", 400, "invalid_json")]
    [InlineData("{\"name\": 42}", 400, "invalid_json")]
    [InlineData("{\"name\":\"ok-name\",\"org_id\":\"org_internal\"}", 400, "invalid_json")]
    [InlineData("", 400, "missing_body")]
    [InlineData("{\"name\":\"Not A Slug\"}", 400, "invalid_request")]
    public async Task Bad_bodies_get_a_400_in_the_error_shape_and_create_nothing(string body, int status, string code)
    {
        using var admin = Server.Admin();
        var before = (await admin.GetJsonAsync("/v1/projects"))["data"]!.AsArray().Count;

        using var response = await admin.PostAsync("/v1/projects", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(code, (await HttpJson.ErrorAsync(response, status))["code"]!.GetValue<string>());
        Assert.Equal(before, (await admin.GetJsonAsync("/v1/projects"))["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task Oversized_bodies_are_refused_with_413()
    {
        using var admin = Server.Admin();
        var body = "{\"name\":\"x\",\"description\":\"" + new string('a', 10_000) + "\"}";

        using var response = await admin.PostAsync("/v1/projects", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal("request_too_large", (await HttpJson.ErrorAsync(response, 413))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_routes_answer_404_in_the_error_shape()
    {
        using var admin = Server.Admin();

        using var response = await admin.GetAsync("/v1/nothing-here");

        Assert.Equal("unknown_route", (await HttpJson.ErrorAsync(response, 404))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Times_are_rfc3339_utc()
    {
        using var admin = Server.Admin();

        var org = await admin.GetJsonAsync("/v1/orgs/org_internal");

        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", org["created_at"]!.GetValue<string>());
    }
}
