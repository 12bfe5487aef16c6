using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

/// <summary>What every mode shares: the mock upstream, Kestrel hosts on loopback, and the closed-loop load generator.</summary>
internal static class Harness
{
    private const string Completion = """{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from mock."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}""";

    private static readonly string[] s_streamEvents =
    [
        """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""",
        .. new[] { "Hello", " from", " mock", "." }.Select(p => $$"""{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{"content":"{{p}}"},"finish_reason":null}]}"""),
        """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""",
        """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}""",
    ];

    /// <summary>A mock OpenAI-compatible upstream: a fixed answer, plain or streamed with a usage chunk.</summary>
    public static Task<Host> StartMockAsync() => StartAsync(app =>
    {
        app.MapGet("/v1/models", () => Results.Text("""{"object":"list","data":[{"id":"mock-model","object":"model","created":1700000000,"owned_by":"mock"}]}""", "application/json"));
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
            foreach (var e in s_streamEvents)
            {
                await http.Response.WriteAsync("data: " + e + "\n\n");
                await http.Response.Body.FlushAsync();
            }
            await http.Response.WriteAsync("data: [DONE]\n\n");
        });
    });

    public static async Task<Host> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return new Host(app, app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
    }

    public static void Print(string target, bool stream, int connections, Result r, string also = "") =>
        Console.WriteLine($"{target,-9} {(stream ? "stream" : "plain"),-7} {connections,5} {r.Rps,9:F0} {r.P50,8:F3} {r.P99,8:F3}{also}");

    public static string ChatBody(bool stream) => stream
        ? """{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"""
        : """{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>
    /// Closed loop: <paramref name="connections"/> callers each send the next call when the last one is answered, for
    /// <paramref name="seconds"/>, after a warm-up. Every answer is checked whole (a stream must end with [DONE]).
    /// </summary>
    public static async Task<Result> LoadAsync(string baseUrl, int connections, bool stream, double seconds, IReadOnlyDictionary<string, string>? headers = null)
    {
        using var http = Client(baseUrl, connections, headers);
        var body = ChatBody(stream);
        await WarmUpAsync(http, connections, body, stream);
        var (latencies, elapsed) = await TurnAsync(http, connections, body, stream, TimeSpan.FromSeconds(seconds));
        return Result.Of(latencies, elapsed);
    }

    /// <summary>
    /// <see cref="LoadAsync"/> on several targets in turns of about a second each, <paramref name="seconds"/> in all per
    /// target: the load on a shared machine drifts (other tenants, a runtime's background work), and runs one after the
    /// other gave each target a different share of it, moving a 1-connection p99 by a millisecond between runs. Each
    /// target keeps its connections across its turns.
    /// </summary>
    public static async Task<Result[]> LoadInTurnsAsync(IReadOnlyList<(string Url, IReadOnlyDictionary<string, string>? Headers)> targets, int connections, bool stream, double seconds)
    {
        var clients = targets.Select(t => Client(t.Url, connections, t.Headers)).ToArray();
        try
        {
            var body = ChatBody(stream);
            foreach (var http in clients)
                await WarmUpAsync(http, connections, body, stream);
            var turns = Math.Max(1, (int)Math.Round(seconds));
            var latencies = targets.Select(_ => new List<double>()).ToArray();
            var elapsed = new TimeSpan[targets.Count];
            for (var turn = 0; turn < turns; turn++)
            {
                for (var t = 0; t < targets.Count; t++)
                {
                    var (taken, clock) = await TurnAsync(clients[t], connections, body, stream, TimeSpan.FromSeconds(seconds / turns));
                    latencies[t].AddRange(taken);
                    elapsed[t] += clock;
                }
            }
            return [.. latencies.Select((l, t) => Result.Of(l, elapsed[t]))];
        }
        finally
        {
            foreach (var http in clients)
                http.Dispose();
        }
    }

    /// <summary>Calls before anything is timed: the JIT, and the client's connections opened.</summary>
    private static async Task WarmUpAsync(HttpClient http, int connections, string body, bool stream)
    {
        for (var i = 0; i < connections * 20; i++)
            await CallAsync(http, body, stream);
    }

    private static async Task<(IEnumerable<double> Latencies, TimeSpan Elapsed)> TurnAsync(HttpClient http, int connections, string body, bool stream, TimeSpan length)
    {
        var latencies = new List<double>[connections];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            latencies[c] = [];
            while (clock.Elapsed < length)
                latencies[c].Add(await CallAsync(http, body, stream));
        }));
        return (latencies.SelectMany(l => l), clock.Elapsed);
    }

    public static HttpClient Client(string baseUrl, int connections, IReadOnlyDictionary<string, string>? headers = null)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/v1/"),
        };
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            http.DefaultRequestHeaders.TryAddWithoutValidation(name, value);
        return http;
    }

    /// <summary>One chat call; its latency in milliseconds. Throws on anything but a whole, successful answer.</summary>
    public static async Task<double> CallAsync(HttpClient http, string body, bool stream)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync("chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{(int)response.StatusCode} from {http.BaseAddress}: {Encoding.UTF8.GetString(bytes)}");
        if (stream ? !bytes.AsSpan().EndsWith("data: [DONE]\n\n"u8) : bytes.Length < 100)
            throw new InvalidOperationException($"an incomplete answer from {http.BaseAddress}: {Encoding.UTF8.GetString(bytes)}");
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }
}

internal sealed record Result(double Rps, double P50, double P99, int Count)
{
    public static Result Of(IEnumerable<double> latencies, TimeSpan elapsed)
    {
        var all = latencies.Order().ToArray();
        return all.Length == 0
            ? new Result(0, double.NaN, double.NaN, 0)
            : new Result(all.Length / elapsed.TotalSeconds, all[all.Length / 2], all[Math.Min(all.Length - 1, (int)(all.Length * 0.99))], all.Length);
    }
}

internal sealed record Host(WebApplication App, string Url) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => App.DisposeAsync();
}
