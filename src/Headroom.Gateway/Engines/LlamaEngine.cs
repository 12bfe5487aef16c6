using System.Runtime.CompilerServices;
using Headroom.Gateway.OpenAi;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;
using LLama.Sampling;
using LLama.Transformers;
using Microsoft.Extensions.Logging;

namespace Headroom.Gateway.Engines;

/// <summary>Settings of an in-process llama.cpp model.</summary>
public sealed record LlamaEngineOptions(string ModelPath)
{
    /// <summary>Tokens of prompt and output together; a request that does not fit is refused with a 400.</summary>
    public int ContextSize { get; init; } = 4096;

    /// <summary>Output tokens when the request names no <c>max_tokens</c> (bounded by what is left of the context).</summary>
    public int DefaultMaxTokens { get; init; } = 512;

    /// <summary>Layers offloaded to a GPU; 0 runs on the CPU.</summary>
    public int GpuLayerCount { get; init; }

    /// <summary>CPU threads for generation; null lets llama.cpp choose.</summary>
    public int? Threads { get; init; }

    /// <summary>Receives llama.cpp's own log (process-wide: the last engine loaded sets it); null discards it.</summary>
    public ILogger? NativeLogger { get; init; }
}

/// <summary>
/// A GGUF model run in process by llama.cpp through LLamaSharp. One model, loaded once, one context; requests take
/// turns (a semaphore), each starting from an empty KV cache. Token counts are the engine's own: the prompt as
/// tokenized, and every sampled token including the one that hit a stop sequence.
/// </summary>
internal sealed class LlamaEngine : IInferenceEngine, IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LlamaEngineOptions _options;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly bool _hasTemplate;

    private LlamaEngine(LlamaEngineOptions options, LLamaWeights weights, LLamaContext context)
    {
        _options = options;
        _weights = weights;
        _context = context;
        _hasTemplate = weights.Metadata.ContainsKey("tokenizer.chat_template");
    }

    public static LlamaEngine Load(LlamaEngineOptions options)
    {
        if (options.NativeLogger is { } logger)
            NativeLogConfig.llama_log_set(logger);
        else
            NativeLogConfig.llama_log_set(static (_, _) => { });
        var parameters = new ModelParams(options.ModelPath)
        {
            ContextSize = (uint)options.ContextSize,
            GpuLayerCount = options.GpuLayerCount,
            Threads = options.Threads,
            BatchThreads = options.Threads,
        };
        var weights = LLamaWeights.LoadFromFile(parameters);
        try
        {
            return new LlamaEngine(options, weights, weights.CreateContext(parameters));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    public EngineCapabilities Capabilities { get; } = new(Chat: true, Completions: true, Embeddings: false, Tools: false, ResponseFormat: false);

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            var promptTokens = request.Messages is { } messages
                ? TokenizeChat(messages)
                : _context.Tokenize(request.Prompt ?? "", addBos: true, special: false);
            var contextSize = (int)_context.ContextSize;
            if (promptTokens.Length >= contextSize)
                throw new GatewayException(GatewayError.BadRequest(
                    $"This model's context is {contextSize} tokens; the prompt has {promptTokens.Length}.",
                    request.Messages is null ? "prompt" : "messages", "context_length_exceeded"));
            var maxTokens = Math.Min(request.MaxTokens ?? _options.DefaultMaxTokens, contextSize - promptTokens.Length);

            _context.NativeHandle.MemoryClear();
            var batch = new LLamaBatch();
            var (result, _, position) = await _context.DecodeAsync([.. promptTokens], LLamaSeqId.Zero, batch, 0);
            if (result != DecodeResult.Ok)
                throw new LLamaDecodeError(result);

            using var sampler = new DefaultSamplingPipeline
            {
                Temperature = request.Temperature ?? 1f,
                TopP = request.TopP ?? 1f,
                Seed = request.Seed is { } seed ? unchecked((uint)seed) : (uint)Random.Shared.Next(),
            };
            var decoder = new StreamingTokenDecoder(_context);
            var stops = new StopSequences(request.Stop);
            var generated = 0;
            var finishReason = "length";
            while (generated < maxTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var token = sampler.Sample(_context.NativeHandle, batch.TokenCount - 1);
                if (token.IsEndOfGeneration(_weights.Vocab))
                {
                    finishReason = "stop";
                    break;
                }
                generated++;
                decoder.Add(token);
                var (emit, stopped) = stops.Push(decoder.Read());
                if (emit.Length > 0)
                    yield return new GenerationChunk { Text = emit };
                if (stopped)
                {
                    finishReason = "stop";
                    break;
                }
                if (generated == maxTokens)
                    break;
                batch.Clear();
                batch.Add(token, position++, LLamaSeqId.Zero, true);
                result = await _context.DecodeAsync(batch, cancellationToken);
                if (result != DecodeResult.Ok)
                    throw new LLamaDecodeError(result);
            }
            var rest = finishReason == "stop" ? "" : stops.Flush();
            yield return new GenerationChunk
            {
                Text = rest.Length > 0 ? rest : null,
                FinishReason = finishReason,
                Usage = new TokenUsage(promptTokens.Length, generated),
            };
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>
    /// Tokenizes a chat with the model's own template when the GGUF has one, ChatML otherwise. The template is rendered
    /// with a marker in place of each message's content; the template's text is tokenized with control tokens parsed
    /// and each content as plain text, so a message cannot smuggle in control tokens (a fake end of turn or system
    /// header). A template that drops or reorders the markers falls back to tokenizing the rendered chat as a whole.
    /// </summary>
    private LLamaToken[] TokenizeChat(IReadOnlyList<ChatMessage> messages)
    {
        var markers = messages.Select((_, i) => $"\u001F{i}\u001F").ToArray();
        var rendered = Render(messages, markers);
        var tokens = new List<LLamaToken>();
        var at = 0;
        for (var i = 0; i < markers.Length; i++)
        {
            var found = rendered.IndexOf(markers[i], at, StringComparison.Ordinal);
            if (found < 0)
                return _context.Tokenize(Render(messages, null), addBos: true, special: true);
            tokens.AddRange(_context.Tokenize(rendered[at..found], addBos: i == 0, special: true));
            if (messages[i].Content.Length > 0)
                tokens.AddRange(_context.Tokenize(messages[i].Content, addBos: false, special: false));
            at = found + markers[i].Length;
        }
        tokens.AddRange(_context.Tokenize(rendered[at..], addBos: false, special: true));
        return [.. tokens];
    }

    private string Render(IReadOnlyList<ChatMessage> messages, string[]? contents)
    {
        var template = _hasTemplate ? new LLamaTemplate(_weights) : new LLamaTemplate("chatml");
        template.AddAssistant = true;
        for (var i = 0; i < messages.Count; i++)
            template.Add(messages[i].Role == "developer" ? "system" : messages[i].Role, contents?[i] ?? messages[i].Content);
        return PromptTemplateTransformer.ToModelPrompt(template);
    }

    public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This engine serves generation only.");

    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(!_context.NativeHandle.IsClosed);

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
        _turn.Dispose();
    }
}
