using System.Text.Json.Nodes;

namespace Headroom.Gateway.Engines;

/// <summary>
/// What serves a model: one replica of it. Engines plug in here (in-process llama, MiniLM embeddings, an
/// OpenAI-compatible upstream). An engine reports what it supports; the gateway refuses the rest with a 400
/// before the engine sees it, so an engine never silently drops a parameter.
/// </summary>
public interface IInferenceEngine
{
    EngineCapabilities Capabilities { get; }

    /// <summary>
    /// Generates text. Yields deltas in order; the last item carries <see cref="GenerationChunk.Usage"/> and a finish
    /// reason. A failure before the first item may be retried on another replica (throw a retryable
    /// <see cref="OpenAi.GatewayException"/>); after it, the stream is cut.
    /// </summary>
    IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken);

    ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken);

    /// <summary>Whether the replica can take traffic now; routing removes a replica that says no and brings it back when it says yes.</summary>
    ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken);
}

/// <param name="Chat">Serves <c>/chat/completions</c>.</param>
/// <param name="Completions">Serves <c>/completions</c>.</param>
/// <param name="Embeddings">Serves <c>/embeddings</c>.</param>
/// <param name="Tools">Accepts <c>tools</c> and <c>tool_choice</c>.</param>
/// <param name="ResponseFormat">Accepts a <c>response_format</c> other than <c>text</c>.</param>
public sealed record EngineCapabilities(bool Chat, bool Completions, bool Embeddings, bool Tools, bool ResponseFormat);

/// <summary>Token counts of one request; <paramref name="Estimated"/> when the engine gave none and we counted with a tokenizer.</summary>
public sealed record TokenUsage(int InputTokens, int OutputTokens, bool Estimated = false)
{
    public int TotalTokens => InputTokens + OutputTokens;
}

public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// One generation request after validation. Either <see cref="Messages"/> (chat) or <see cref="Prompt"/> (completions).
/// <see cref="Body"/> is the caller's JSON as sent, for engines that forward it (fields this type does not model).
/// </summary>
public sealed record GenerationRequest
{
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    public string? Prompt { get; init; }
    public int? MaxTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    public JsonObject Body { get; init; } = [];
}

/// <summary>
/// A piece of generated output. <see cref="ToolCalls"/> is the OpenAI <c>tool_calls</c> array as the engine produced it
/// (deltas when streaming, whole calls otherwise).
/// </summary>
public sealed record GenerationChunk
{
    public string? Text { get; init; }
    public JsonArray? ToolCalls { get; init; }
    public string? FinishReason { get; init; }
    public TokenUsage? Usage { get; init; }
}

public sealed record EmbeddingRequest(IReadOnlyList<string> Inputs, JsonObject Body);

/// <summary>One vector per input, in input order.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Vectors, TokenUsage Usage);
