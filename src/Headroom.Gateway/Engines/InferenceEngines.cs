namespace Headroom.Gateway.Engines;

/// <summary>The engines that ship with the gateway, by their config names: <c>llama</c>, <c>minilm</c>, <c>openai-upstream</c>.</summary>
public static class InferenceEngines
{
    /// <summary>The name <c>headroom up</c> serves MiniLM embeddings under.</summary>
    public const string MiniLmModelName = "all-minilm-l6-v2";

    /// <summary>Loads a GGUF model in process (seconds for a real model; the caller owns and disposes the engine, or the registry does).</summary>
    public static IInferenceEngine Llama(LlamaEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(options.ModelPath))
            throw new FileNotFoundException($"The GGUF file '{options.ModelPath}' does not exist.", options.ModelPath);
        return LlamaEngine.Load(options);
    }

    /// <summary>all-MiniLM-L6-v2 embeddings: 384 dimensions, unit length.</summary>
    public static IInferenceEngine MiniLm() => new MiniLmEngine();

    /// <summary>
    /// An OpenAI-compatible server (vLLM, SGLang, llama.cpp server, TGI). <paramref name="baseUrl"/> is its <c>/v1</c>
    /// root; <paramref name="upstreamModel"/> the model name it knows. Declare <paramref name="tools"/> and
    /// <paramref name="responseFormat"/> only where the server honours them.
    /// </summary>
    public static IInferenceEngine OpenAiUpstream(HttpClient http, Uri baseUrl, string upstreamModel,
        bool embeddings = false, bool tools = true, bool responseFormat = true, string? apiKey = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(baseUrl);
        var capabilities = embeddings
            ? new EngineCapabilities(Chat: false, Completions: false, Embeddings: true, Tools: false, ResponseFormat: false)
            : new EngineCapabilities(Chat: true, Completions: true, Embeddings: false, Tools: tools, ResponseFormat: responseFormat);
        return new OpenAiUpstreamEngine(http, baseUrl, upstreamModel, capabilities, apiKey);
    }
}
