// Added latency and throughput of the gateway layer (MapOpenAi + the openai-upstream engine) over a mock
// OpenAI-compatible upstream on loopback: the same load straight to the mock, then through the gateway, at 1, 16 and
// 64 connections, plain and streaming. No auth, limits or metering: those are the server's and are measured with it.
//   dotnet run -c Release --project bench/Headroom.Gateway.Bench -- [seconds per run, default 5]
// and tokens per second of the in-process llama engine against LLamaSharp called directly (TokensBench.cs):
//   dotnet run -c Release --project bench/Headroom.Gateway.Bench -- tokens [rounds, default 5] [model.gguf]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Headroom.Gateway.Engines;
using Headroom.Gateway.OpenAi;
using Headroom.Gateway.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

if (args.Length > 0 && args[0] == "tokens")
{
    await TokensBench.RunAsync(args.Length > 2 ? args[2] : null, args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5);
    return;
}
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 5;

const string Completion = """{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from mock."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}""";
string[] streamEvents =
[
    """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""",
    .. new[] { "Hello", " from", " mock", "." }.Select(p => $$"""{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{"content":"{{p}}"},"finish_reason":null}]}"""),
    """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""",
    """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}""",
];

await using var mock = await StartAsync(app =>
{
    app.MapGet("/v1/models", () => Results.Text("""{"object":"list","data":[]}""", "application/json"));
    app.MapPost("/v1/chat/completions", async (HttpContext http) =>
    {
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        if (!body.Contains("\"stream\":true", StringComparison.Ordinal))
        {
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(Completion);
            return;
        }
        http.Response.ContentType = "text/event-stream";
        foreach (var e in streamEvents)
        {
            await http.Response.WriteAsync("data: " + e + "\n\n");
            await http.Response.Body.FlushAsync();
        }
        await http.Response.WriteAsync("data: [DONE]\n\n");
    });
});

using var upstreamHttp = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 });
using var models = new ModelRegistry().Add("mock-model", InferenceEngines.OpenAiUpstream(upstreamHttp, new Uri(mock.Url + "/v1/"), "mock-model"));
await using var gateway = await StartAsync(app => app.MapGroup("/v1").MapOpenAi(models));

Console.WriteLine($"{"target",-9} {"mode",-7} {"conns",5} {"req/s",9} {"p50 ms",8} {"p99 ms",8}");
foreach (var stream in new[] { false, true })
{
    foreach (var connections in new[] { 1, 16, 64 })
    {
        var direct = await LoadAsync(mock.Url, connections, stream, seconds);
        var through = await LoadAsync(gateway.Url, connections, stream, seconds);
        Print("direct", stream, connections, direct);
        Print("gateway", stream, connections, through);
        Console.WriteLine($"{"",-9} {"",-7} {"",5} added p50 {through.P50 - direct.P50:F3} ms, p99 {through.P99 - direct.P99:F3} ms, throughput ratio {through.Rps / direct.Rps:F2}");
    }
}

static void Print(string target, bool stream, int connections, Result r) =>
    Console.WriteLine($"{target,-9} {(stream ? "stream" : "plain"),-7} {connections,5} {r.Rps,9:F0} {r.P50,8:F3} {r.P99,8:F3}");

static async Task<Result> LoadAsync(string baseUrl, int connections, bool stream, double seconds)
{
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections }) { BaseAddress = new Uri(baseUrl + "/v1/") };
    var body = stream
        ? """{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"""
        : """{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}""";
    async Task<double> OneAsync()
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync("chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (stream ? !bytes.AsSpan().EndsWith("data: [DONE]\n\n"u8) : bytes.Length < 100)
            throw new InvalidOperationException($"an incomplete answer from {baseUrl}: {Encoding.UTF8.GetString(bytes)}");
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }
    for (var i = 0; i < connections * 20; i++)
        await OneAsync(); // warm up: JIT, connections
    var latencies = new List<double>[connections];
    var clock = Stopwatch.StartNew();
    var until = TimeSpan.FromSeconds(seconds);
    await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
    {
        latencies[c] = [];
        while (clock.Elapsed < until)
            latencies[c].Add(await OneAsync());
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return new Result(all.Length / clock.Elapsed.TotalSeconds, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
}

static async Task<Host> StartAsync(Action<WebApplication> map)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
    var app = builder.Build();
    map(app);
    await app.StartAsync();
    return new Host(app, app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
}

internal sealed record Result(double Rps, double P50, double P99);

internal sealed record Host(WebApplication App, string Url) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => App.DisposeAsync();
}
