using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Net;
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
using OpenAI;

namespace Headroom.Gateway.Tests.Infrastructure;

/// <summary>
/// The mapped endpoints on a real Kestrel on 127.0.0.1, as the server will host them under <c>/v1</c>, with one model
/// per engine and routing case:
/// <list type="bullet">
/// <item><c>tiny-llama</c>: the in-process engine over a random-weight GGUF;</item>
/// <item><c>all-minilm-l6-v2</c>: MiniLM embeddings;</item>
/// <item><c>upstream-chat</c>, <c>upstream-embed</c>: the mock upstream; <c>upstream-no-usage</c>: one that reports no usage;</item>
/// <item><c>flaky</c>: a failing replica first, a good one second; <c>dead</c>: a replica nobody listens on;</item>
/// <item><c>gated</c>: an engine that gives its first piece, then waits until the test opens its gate;</item>
/// <item><c>cut</c>: replicas whose streams break after some output; <c>pinned</c>: one replica in us-east, one in eu-west.</item>
/// </list>
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private WebApplication? _app;
    private string _modelPath = "";
    private readonly HttpClient _upstreamHttp = new();

    internal MockUpstream Good { get; private set; } = null!;
    internal MockUpstream NoUsage { get; private set; } = null!;
    internal MockUpstream Broken { get; private set; } = null!;
    internal ModelRegistry Registry { get; } = new();
    internal RecordingHooks Hooks { get; } = new();
    internal GatedEngine Gated { get; } = new();
    public Uri BaseUrl { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _modelPath = Path.Combine(Path.GetTempPath(), $"headroom-tiny-{Guid.NewGuid():N}.gguf");
        TinyGguf.Write(_modelPath);
        Good = await MockUpstream.StartAsync();
        NoUsage = await MockUpstream.StartAsync(reportUsage: false);
        Broken = await MockUpstream.StartAsync(failWith: 500);

        Registry
            .Add("tiny-llama", InferenceEngines.Llama(new LlamaEngineOptions(_modelPath) { ContextSize = 256, DefaultMaxTokens = 16, Threads = 2 }))
            .Add(InferenceEngines.MiniLmModelName, InferenceEngines.MiniLm())
            .Add("upstream-chat", InferenceEngines.OpenAiUpstream(_upstreamHttp, Good.BaseUrl, "mock-model"))
            .Add("upstream-no-usage", InferenceEngines.OpenAiUpstream(_upstreamHttp, NoUsage.BaseUrl, "mock-model"))
            .Add("upstream-embed", InferenceEngines.OpenAiUpstream(_upstreamHttp, Good.BaseUrl, "mock-embed", embeddings: true))
            .Add("flaky", InferenceEngines.OpenAiUpstream(_upstreamHttp, Broken.BaseUrl, "mock-model"), "flaky-broken")
            .Add("flaky", InferenceEngines.OpenAiUpstream(_upstreamHttp, Good.BaseUrl, "mock-model"), "flaky-good")
            .Add("dead", InferenceEngines.OpenAiUpstream(_upstreamHttp, new Uri("http://127.0.0.1:9/v1/"), "mock-model"))
            .Add("pinned", InferenceEngines.OpenAiUpstream(_upstreamHttp, Good.BaseUrl, "mock-model"), "pinned-us", region: "us-east")
            .Add("pinned", InferenceEngines.OpenAiUpstream(_upstreamHttp, Good.BaseUrl, "mock-model"), "pinned-eu", region: "eu-west")
            .Add("gated", Gated)
            .Add("cut", new CuttingEngine(), "cut-a")
            .Add("cut", new CuttingEngine(), "cut-b");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.MapGroup("/v1").MapOpenAi(Registry, new GatewayOptions { Hooks = Hooks });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        BaseUrl = new Uri(address + "/v1/");
    }

    /// <summary>The official SDK against the gateway, without retries so error tests see the first answer.</summary>
    public OpenAIClient Client(string apiKey = "sk-test") =>
        new(new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = BaseUrl, RetryPolicy = new ClientRetryPolicy(0) });

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Registry.Dispose();
        await Good.DisposeAsync();
        await NoUsage.DisposeAsync();
        await Broken.DisposeAsync();
        _upstreamHttp.Dispose();
        File.Delete(_modelPath);
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}

/// <summary>
/// Hooks as the server will implement them, reduced to what tests observe: API keys named <c>sk-refuse-STATUS</c> are
/// refused with that status, <c>sk-region-REGION</c> pins the request to that region; every completed call is recorded
/// with its usage and error.
/// </summary>
internal sealed class RecordingHooks : IGatewayHooks
{
    public ConcurrentQueue<(GatewayCall Call, TokenUsage Usage, GatewayError? Error)> Completed { get; } = new();

    /// <summary>The key <c>sk-limited</c> sees only <c>tiny-llama</c>, as a key whose org has no other deployments.</summary>
    public bool IsModelVisible(HttpContext http, string model) =>
        http.Request.Headers.Authorization.ToString() != "Bearer sk-limited" || model == "tiny-llama";

    public ValueTask<GatewayError?> AdmitAsync(GatewayCall call, CancellationToken cancellationToken)
    {
        var key = call.HttpContext.Request.Headers.Authorization.ToString().Replace("Bearer ", "", StringComparison.Ordinal);
        GatewayError? refusal = key switch
        {
            "sk-refuse-401" => GatewayError.Unauthorized(),
            "sk-refuse-403" => GatewayError.Forbidden("This key may not use this model."),
            "sk-refuse-409" => GatewayError.Conflict("Idempotency key reused with another body."),
            "sk-refuse-422" => GatewayError.Unprocessable("Cannot process this request."),
            "sk-refuse-429" => GatewayError.RateLimited("Tokens per minute exceeded.", 7),
            "sk-refuse-quota" => GatewayError.InsufficientQuota("The project's budget is spent."),
            _ => null,
        };
        if (key.StartsWith("sk-region-", StringComparison.Ordinal))
            call.AllowedRegions = new HashSet<string>([key["sk-region-".Length..]], StringComparer.Ordinal);
        return ValueTask.FromResult(refusal);
    }

    public ValueTask CompleteAsync(GatewayCall call, TokenUsage usage, GatewayError? error, CancellationToken cancellationToken)
    {
        if (call.HttpContext.Request.Headers.Authorization.ToString() == "Bearer sk-journal-down")
            throw new IOException("the usage journal is not writable");
        Completed.Enqueue((call, usage, error));
        return ValueTask.CompletedTask;
    }

    public (GatewayCall Call, TokenUsage Usage, GatewayError? Error) For(string requestId) =>
        Completed.Single(c => c.Call.RequestId == requestId);
}

/// <summary>An engine whose stream breaks after two pieces, as a replica that dies mid-answer.</summary>
internal sealed class CuttingEngine : IInferenceEngine
{
    public EngineCapabilities Capabilities { get; } = new(Chat: true, Completions: true, Embeddings: false, Tools: false, ResponseFormat: false);

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return new GenerationChunk { Text = "partial" };
        await Task.Yield();
        yield return new GenerationChunk { Text = " answer" };
        throw new GatewayException(new GatewayError(502, "The model replica failed (500).", "server_error", null, "upstream_error"), retryable: true);
    }

    public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);
}

/// <summary>An engine that yields a first piece and then waits for <see cref="Open"/>, as a model between two tokens.</summary>
internal sealed class GatedEngine : IInferenceEngine
{
    private readonly SemaphoreSlim _gate = new(0);

    public EngineCapabilities Capabilities { get; } = new(Chat: true, Completions: true, Embeddings: false, Tools: false, ResponseFormat: false);

    /// <summary>Lets one waiting generation go on to its end.</summary>
    public void Open() => _gate.Release();

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return new GenerationChunk { Text = "first" };
        await _gate.WaitAsync(cancellationToken);
        yield return new GenerationChunk { Text = " second", FinishReason = "stop" };
        yield return new GenerationChunk { Usage = new TokenUsage(3, 2) };
    }

    public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);
}
