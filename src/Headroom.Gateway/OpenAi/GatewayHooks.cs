using System.Text.Json.Nodes;
using Headroom.Gateway.Engines;

namespace Headroom.Gateway.OpenAi;

/// <summary>
/// Where the server plugs auth, limits, budgets and metering into the OpenAI endpoints. For every request that names
/// a known model and parses: <see cref="AdmitAsync"/> first (return an error to refuse: 401, 403, 429 ...), then, if
/// admitted, <see cref="CompleteAsync"/> exactly once with the final usage, before the response completes (before the
/// body of a non-streaming response, before <c>data: [DONE]</c> of a stream, and also for a cut or failed request).
/// If <see cref="CompleteAsync"/> throws, the request is not acknowledged: a 500 instead of the body, or a stream that
/// ends with an error event instead of <c>[DONE]</c>.
/// </summary>
public interface IGatewayHooks
{
    /// <summary>
    /// Whether the caller may know <paramref name="model"/> exists (another org's dedicated deployment is not listed and
    /// answers 404 <c>model_not_found</c>, like a missing one). Runs before the body is validated; all models by default.
    /// </summary>
    bool IsModelVisible(HttpContext http, string model) => true;

    ValueTask<GatewayError?> AdmitAsync(GatewayCall call, CancellationToken cancellationToken);

    /// <param name="usage">Counts from the engine, or estimated with a tokenizer (<see cref="TokenUsage.Estimated"/>) when it gave none.</param>
    /// <param name="error">Why the request failed, or null when it succeeded. A cut stream has both usage and an error.</param>
    ValueTask CompleteAsync(GatewayCall call, TokenUsage usage, GatewayError? error, CancellationToken cancellationToken);
}

/// <summary>Admits everything and meters nothing: the gateway on its own, in tests and on one machine.</summary>
public sealed class NoGatewayHooks : IGatewayHooks
{
    public static readonly NoGatewayHooks Instance = new();

    public ValueTask<GatewayError?> AdmitAsync(GatewayCall call, CancellationToken cancellationToken) => ValueTask.FromResult<GatewayError?>(null);

    public ValueTask CompleteAsync(GatewayCall call, TokenUsage usage, GatewayError? error, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

public enum GatewayOperation
{
    ChatCompletions,
    Completions,
    Embeddings,
}

/// <summary>One OpenAI request as the hooks see it.</summary>
public sealed class GatewayCall
{
    /// <summary>
    /// The response id (<c>chatcmpl-...</c>); unique per request, usable as the usage events' idempotency id.
    /// <see cref="IGatewayHooks.AdmitAsync"/> may replace it with a stable id (a batch line's), so that a retried
    /// request is metered once; it is fixed once admitted.
    /// </summary>
    public required string RequestId { get; set; }

    public required string Model { get; init; }
    public required GatewayOperation Operation { get; init; }
    public required HttpContext HttpContext { get; init; }
    public bool Stream { get; init; }

    /// <summary>The most output tokens the request may produce, for reserving budget before forwarding (null: the engine's limit).</summary>
    public int? MaxOutputTokens { get; init; }

    /// <summary>
    /// The request body as the caller sent it. For hooks that keep request logs; the gateway itself never writes it
    /// anywhere.
    /// </summary>
    public JsonObject Body { get; init; } = [];

    /// <summary>
    /// The generated text as answered (assembled from the chunks of a stream), set before
    /// <see cref="IGatewayHooks.CompleteAsync"/>; null for embeddings.
    /// </summary>
    public string? Output { get; internal set; }

    /// <summary>Input tokens counted with a tokenizer before forwarding (an estimate: the engine's count may differ).</summary>
    public int EstimatedInputTokens { get; init; }

    /// <summary>
    /// Regions whose replicas may serve this request; set it in <see cref="IGatewayHooks.AdmitAsync"/> for a project
    /// pinned to regions. When none of them has a healthy replica the answer is a 503 naming them, never a reroute.
    /// Null: any replica.
    /// </summary>
    public IReadOnlySet<string>? AllowedRegions { get; set; }

    /// <summary>Which replica served the request (set once one is picked; the last one tried).</summary>
    public string? Replica { get; internal set; }

    /// <summary>The region of that replica, when it was registered with one.</summary>
    public string? Region { get; internal set; }

    /// <summary>For the server's own state between <see cref="IGatewayHooks.AdmitAsync"/> and <see cref="IGatewayHooks.CompleteAsync"/>.</summary>
    public IDictionary<string, object?> Items { get; } = new Dictionary<string, object?>(StringComparer.Ordinal);
}

/// <summary>Options for <see cref="OpenAiEndpoints.MapOpenAi"/>.</summary>
public sealed class GatewayOptions
{
    public IGatewayHooks Hooks { get; init; } = NoGatewayHooks.Instance;
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Makes the unique part of response ids; by default a version 7 UUID, which starts with the time: the ids key the
    /// call's journal row and ledger entries, and keys in time order are appended to those indexes where random ones
    /// dirtied a page of each index per call (most of the token meter's disk writes).
    /// </summary>
    public Func<string>? NewId { get; init; }

    /// <summary>The <c>owned_by</c> of listed models.</summary>
    public string OwnedBy { get; init; } = "headroom";
}
