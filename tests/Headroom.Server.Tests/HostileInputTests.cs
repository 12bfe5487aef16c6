using System.Text;
using System.Text.Json.Nodes;
using Headroom.Server.Tests.Infrastructure;

namespace Headroom.Server.Tests;

/// <summary>
/// Requests generated from the server's own /openapi/v1.json for every operation, with malformed,
/// oversized, wrongly typed, unicode-heavy, negative and boundary values in the path, the query and
/// the body: none may answer 5xx, and every error must come in the API's error shape. The OpenAI surface
/// (<c>/v1/models</c>, <c>/v1/chat/completions</c>, ...) is excluded from that document (OpenAI's own specification
/// describes it); <c>Models.ModelApiTests</c> fuzzes it the same way.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly string[] NastyStrings =
    [
        "", " ", "\u0000", "../../etc/passwd", "%2e%2e%2f", "'; DROP TABLE orgs; --", "\" OR 1=1 --", "<script>alert(1)</script>",
        "null", "-1", "0", "9223372036854775808", "1e309", "NaN", "\uD800", "𝕳𝖊𝖆𝖉𝖗𝖔𝖔𝖒🙂", "ｆｕｌｌｗｉｄｔｈ", "\u202Eevil",
        new string('a', 5000), "org_internal", "2026-13-45T99:99:99Z", "${jndi:ldap://x}",
    ];

    private static readonly JsonNode?[] NastyValues =
    [
        null, 0, -1, long.MaxValue, 1.5, true, false, "", new string('x', 3000), "𝕳🙂\u0000", new JsonArray(), new JsonArray(1, "a", null),
        new JsonObject(), new JsonObject { ["$ref"] = "#" }, JsonNode.Parse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ];

    private static readonly string[] RawBodies =
    [
        "{", "}", "[]", "null", "\"text\"", "{\"a\":", "{\"name\":\"x\",\"name\":\"y\"}", "\uFEFF{}", "{\"name\":\"\\ud800\"}",
        new string('[', 200) + new string(']', 200), "{\"name\": 1e999}", "not json at all",
    ];

    [Fact]
    public async Task No_generated_request_gets_a_5xx_or_an_error_outside_the_error_shape()
    {
        await using var server = await TestServer.StartAsync(fleetYaml: FleetTests.TwoRegionFleet);
        using var admin = server.Admin();
        var doc = await admin.GetJsonAsync("/openapi/v1.json");
        var random = new Random(20261126);
        var failures = new List<string>();
        var sent = 0;

        foreach (var (path, item) in doc["paths"]!.AsObject())
        {
            if (!path.StartsWith("/v1/", StringComparison.Ordinal))
                continue;
            foreach (var (method, operation) in item!.AsObject())
            {
                var properties = BodyProperties(doc, operation!);
                for (var i = 0; i < 40; i++)
                {
                    using var request = Generate(random, method.ToUpperInvariant(), path, operation!, properties);
                    var uri = request.RequestUri!.ToString();
                    var description = $"{request.Method} {(uri.Length > 160 ? uri[..160] + "…" : uri)}";
                    using var response = await admin.SendAsync(request);
                    sent++;
                    var status = (int)response.StatusCode;
                    var body = await response.Content.ReadAsStringAsync();
                    // Kestrel refuses some requests (a NUL in the path, a URI over its limit) before any
                    // Headroom code runs: those carry no request id and are the transport's, not the API's.
                    var fromKestrel = !response.Headers.Contains("X-Request-Id") && status is 400 or 414 or 431;
                    if (status >= 500)
                        failures.Add($"{description} -> {status}: {Truncate(body)}");
                    else if (status >= 400 && !fromKestrel && !IsErrorShape(body))
                        failures.Add($"{description} -> {status} without the error shape: {Truncate(body)}");
                }
            }
        }

        Assert.True(sent > 500, $"only {sent} requests were generated");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)));
        var health = await admin.GetJsonAsync("/readyz");
        Assert.Equal("ready", health["status"]!.GetValue<string>());
    }

    private static HttpRequestMessage Generate(Random random, string method, string path, JsonNode operation, IReadOnlyList<string> properties)
    {
        var url = new StringBuilder(path.Replace("{id}", Uri.EscapeDataString(Pick(random, NastyStrings)), StringComparison.Ordinal));
        var query = new List<string>();
        foreach (var name in new[] { "limit", "after", "order", "from", "to", "state", "region", "format", "org_id", "action", "result" })
        {
            if (random.Next(3) == 0)
                query.Add($"{name}={Uri.EscapeDataString(Pick(random, NastyStrings))}");
        }
        if (query.Count > 0)
            url.Append('?').AppendJoin('&', query);

        var request = new HttpRequestMessage(new HttpMethod(method), url.ToString());
        if (method is "POST" or "PATCH" or "PUT")
        {
            string body;
            if (random.Next(4) == 0)
            {
                body = Pick(random, RawBodies);
            }
            else
            {
                // Mostly the operation's own fields, with values of every wrong kind, and now and then a field it does not have.
                var obj = new JsonObject();
                foreach (var property in properties)
                {
                    if (random.Next(3) > 0)
                        obj[property] = Pick(random, NastyValues)?.DeepClone();
                }
                if (random.Next(4) == 0)
                    obj[Pick(random, ["org_id", "role", "state", "price", "id", "created_at", "secret_hash"])] = "injected";
                body = obj.ToJsonString();
            }
            request.Content = new StringContent(body, Encoding.UTF8, random.Next(8) == 0 ? "text/plain" : "application/json");
        }
        return request;
    }

    private static List<string> BodyProperties(JsonNode doc, JsonNode operation)
    {
        var schema = operation["requestBody"]?["content"]?["application/json"]?["schema"];
        if (schema?["$ref"]?.GetValue<string>() is { } reference)
            schema = doc["components"]!["schemas"]![reference.Split('/')[^1]];
        return schema?["properties"]?.AsObject().Select(p => p.Key).ToList() ?? [];
    }

    private static bool IsErrorShape(string body)
    {
        try
        {
            var error = JsonNode.Parse(body)?["error"];
            return error?["message"]?.GetValue<string>() is { Length: > 0 } && error["type"]?.GetValue<string>() is { Length: > 0 };
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static string Truncate(string text) => text.Length > 300 ? text[..300] + "…" : text;

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];
}
