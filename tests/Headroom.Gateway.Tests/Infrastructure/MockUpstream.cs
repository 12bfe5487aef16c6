using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headroom.Gateway.Tests.Infrastructure;

/// <summary>
/// A small OpenAI-compatible server on loopback, standing in for vLLM or a llama.cpp server: models, chat (plain and
/// SSE, with usage when asked), completions, embeddings. <see cref="FailWith"/> makes every request fail with that status.
/// </summary>
internal sealed class MockUpstream : IAsyncDisposable
{
    public const string Reply = "Hello from mock.";
    private static readonly string[] Pieces = ["Hello", " from", " mock", "."];
    private readonly WebApplication _app;

    private MockUpstream(WebApplication app, int? failWith, bool reportUsage)
    {
        _app = app;
        FailWith = failWith;
        ReportUsage = reportUsage;
    }

    public int? FailWith { get; }
    public bool ReportUsage { get; }
    public Uri BaseUrl { get; private set; } = null!;
    public ConcurrentQueue<JsonObject> Requests { get; } = new();

    public static async Task<MockUpstream> StartAsync(int? failWith = null, bool reportUsage = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var mock = new MockUpstream(app, failWith, reportUsage);
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = "mock-model", @object = "model", created = 1700000000, owned_by = "mock" } } }));
        app.MapPost("/v1/chat/completions", mock.ChatAsync);
        app.MapPost("/v1/completions", mock.CompletionAsync);
        app.MapPost("/v1/embeddings", mock.EmbeddingsAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        mock.BaseUrl = new Uri(address + "/v1/");
        return mock;
    }

    private async Task<JsonObject?> ReadAsync(HttpContext http)
    {
        var body = (JsonObject)(await JsonNode.ParseAsync(http.Request.Body))!;
        Requests.Enqueue(body);
        if (FailWith is { } status)
        {
            http.Response.StatusCode = status;
            await http.Response.WriteAsJsonAsync(new { error = new { message = "mock failure", type = "server_error", param = (string?)null, code = (string?)null } });
            return null;
        }
        return body;
    }

    private async Task ChatAsync(HttpContext http)
    {
        if (await ReadAsync(http) is not { } body)
            return;
        var model = body["model"]!.GetValue<string>();
        object? usage = ReportUsage ? new { prompt_tokens = 5, completion_tokens = 4, total_tokens = 9 } : null;
        if (body["tools"] is JsonArray { Count: > 0 })
        {
            await ToolCallAsync(http, body, model);
            return;
        }
        if (body["stream"]?.GetValue<bool>() == true)
        {
            http.Response.ContentType = "text/event-stream";
            var includeUsage = body["stream_options"]?["include_usage"]?.GetValue<bool>() == true && ReportUsage;
            async Task Send(object chunk)
            {
                // Each event in two writes cut inside its JSON, so a reader must join a line split between reads; the
                // mock without usage ends its lines with CRLF, as some servers do.
                var line = "data: " + JsonSerializer.Serialize(chunk) + (ReportUsage ? "\n\n" : "\r\n\r\n");
                await http.Response.WriteAsync(line[..(line.Length / 2)]);
                await http.Response.Body.FlushAsync();
                await http.Response.WriteAsync(line[(line.Length / 2)..]);
                await http.Response.Body.FlushAsync();
            }
            await Send(new { id = "chatcmpl-mock", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = new { role = "assistant", content = "" }, finish_reason = (string?)null } } });
            foreach (var piece in Pieces)
                await Send(new { id = "chatcmpl-mock", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = new { content = piece }, finish_reason = (string?)null } } });
            await Send(new { id = "chatcmpl-mock", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = new { }, finish_reason = "stop" } } });
            if (includeUsage)
                await Send(new { id = "chatcmpl-mock", @object = "chat.completion.chunk", model, choices = Array.Empty<object>(), usage });
            await http.Response.WriteAsync("data: [DONE]\n\n");
            return;
        }
        await http.Response.WriteAsJsonAsync(new
        {
            id = "chatcmpl-mock",
            @object = "chat.completion",
            model,
            choices = new[] { new { index = 0, message = new { role = "assistant", content = Reply }, finish_reason = "stop" } },
            usage,
        });
    }

    /// <summary>Answers any request with tools by calling the first one, as a tool-capable engine would.</summary>
    private static async Task ToolCallAsync(HttpContext http, JsonObject body, string model)
    {
        var name = body["tools"]![0]!["function"]!["name"]!.GetValue<string>();
        var usage = new { prompt_tokens = 20, completion_tokens = 10, total_tokens = 30 };
        if (body["stream"]?.GetValue<bool>() == true)
        {
            http.Response.ContentType = "text/event-stream";
            object[] chunks =
            [
                new { id = "c", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = (object)new { role = "assistant", tool_calls = new[] { new { index = 0, id = "call_1", type = "function", function = new { name, arguments = "" } } } }, finish_reason = (string?)null } } },
                new { id = "c", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = (object)new { tool_calls = new[] { new { index = 0, function = new { arguments = "{\"q\":" } } } }, finish_reason = (string?)null } } },
                new { id = "c", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = (object)new { tool_calls = new[] { new { index = 0, function = new { arguments = "\"x\"}" } } } }, finish_reason = (string?)null } } },
                new { id = "c", @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = (object)new { }, finish_reason = (string?)"tool_calls" } } },
                new { id = "c", @object = "chat.completion.chunk", model, choices = Array.Empty<object>(), usage },
            ];
            foreach (var chunk in chunks)
                await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n");
            await http.Response.WriteAsync("data: [DONE]\n\n");
            return;
        }
        await http.Response.WriteAsJsonAsync(new
        {
            id = "chatcmpl-mock",
            @object = "chat.completion",
            model,
            choices = new[]
            {
                new
                {
                    index = 0,
                    message = new { role = "assistant", content = (string?)null, tool_calls = new[] { new { id = "call_1", type = "function", function = new { name, arguments = "{\"q\":\"x\"}" } } } },
                    finish_reason = "tool_calls",
                },
            },
            usage,
        });
    }

    private async Task CompletionAsync(HttpContext http)
    {
        if (await ReadAsync(http) is not { } body)
            return;
        await http.Response.WriteAsJsonAsync(new
        {
            id = "cmpl-mock",
            @object = "text_completion",
            model = body["model"]!.GetValue<string>(),
            choices = new[] { new { index = 0, text = " mock", finish_reason = "length" } },
            usage = new { prompt_tokens = 2, completion_tokens = 1, total_tokens = 3 },
        });
    }

    private async Task EmbeddingsAsync(HttpContext http)
    {
        if (await ReadAsync(http) is not { } body)
            return;
        var inputs = body["input"] is JsonArray array ? array.Count : 1;
        await http.Response.WriteAsJsonAsync(new
        {
            @object = "list",
            model = body["model"]!.GetValue<string>(),
            data = Enumerable.Range(0, inputs).Select(i => new { @object = "embedding", index = i, embedding = new[] { 0.1f * (i + 1), 0.2f, 0.3f, 0.4f } }),
            usage = new { prompt_tokens = inputs, total_tokens = inputs },
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
