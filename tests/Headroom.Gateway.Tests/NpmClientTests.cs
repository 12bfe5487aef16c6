using System.Diagnostics;
using System.Text.Json;
using Headroom.Gateway.Tests.Infrastructure;

namespace Headroom.Gateway.Tests;

/// <summary>
/// The official <c>openai</c> npm client (pinned in npm/package.json) against the gateway. Needs node and
/// <c>npm ci</c> run in tests/Headroom.Gateway.Tests/npm (scripts/test.sh does it).
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class NpmClientTests(GatewayFixture gateway)
{
    [Fact]
    public async Task The_official_npm_client_works_unchanged()
    {
        var folder = NpmFolder();
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "openai")),
            $"run 'npm ci' in {folder} first (scripts/test.sh does)");
        var start = new ProcessStartInfo("node", ["client-test.mjs", gateway.BaseUrl.ToString()])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await node.WaitForExitAsync(timeout.Token);
        Assert.True(node.ExitCode == 0, await stderr);
        using var json = JsonDocument.Parse(await stdout);
        var r = json.RootElement;

        Assert.Contains("tiny-llama", r.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("Hello from mock.", r.GetProperty("chat").GetProperty("content").GetString());
        Assert.Equal(9, r.GetProperty("chat").GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.InRange(r.GetProperty("llama").GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 4);
        var stream = r.GetProperty("stream");
        Assert.InRange(stream.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 5);
        Assert.True(stream.GetProperty("chunks").GetInt32() >= 3, "role chunk, content, usage");

        var vectors = r.GetProperty("embeddings").GetProperty("vectors").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        Assert.All(vectors, v => Assert.Equal(384, v.Length));
        Assert.True(SdkCompatibilityTests.Cosine(vectors[0], vectors[1]) > SdkCompatibilityTests.Cosine(vectors[0], vectors[2]) + 0.2);
        var asFloat = r.GetProperty("embeddingsFloat").GetProperty("vector").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(vectors[0], asFloat); // the client's base64 decoding gives exactly the float answer

        Assert.Equal(" mock", r.GetProperty("completions").GetString());
        AssertError(r, "notFound", "NotFoundError", 404);
        Assert.Equal("model_not_found", r.GetProperty("notFound").GetProperty("code").GetString());
        AssertError(r, "badRequest", "BadRequestError", 400);
        Assert.Equal("n", r.GetProperty("badRequest").GetProperty("param").GetString());
        AssertError(r, "toolsRefused", "BadRequestError", 400);
        Assert.Equal("tools", r.GetProperty("toolsRefused").GetProperty("param").GetString());
        AssertError(r, "refused401", "AuthenticationError", 401);
        AssertError(r, "refused403", "PermissionDeniedError", 403);
        AssertError(r, "refused409", "ConflictError", 409);
        AssertError(r, "refused422", "UnprocessableEntityError", 422);
        AssertError(r, "refused429", "RateLimitError", 429);
        AssertError(r, "unavailable", "InternalServerError", 502);
    }

    private static void AssertError(JsonElement result, string name, string errorClass, int status)
    {
        var error = result.GetProperty(name);
        Assert.Equal(errorClass, error.GetProperty("error").GetString());
        Assert.Equal(status, error.GetProperty("status").GetInt32());
    }

    private static string NpmFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Headroom.Gateway.Tests", "npm");
            if (Directory.Exists(candidate))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/Headroom.Gateway.Tests/npm not found above the test binaries");
    }
}
