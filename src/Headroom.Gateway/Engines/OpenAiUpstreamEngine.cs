using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Gateway.OpenAi;

namespace Headroom.Gateway.Engines;

/// <summary>
/// A replica reached over HTTP: vLLM, SGLang, llama.cpp server, TGI, anything OpenAI-compatible. The caller's body is
/// forwarded as sent (so engine-specific fields survive) with the model renamed to the upstream's and, when streaming,
/// <c>stream_options.include_usage</c> forced on so the counts come from the engine. Where the upstream reports no
/// usage, tokens are counted with <see cref="TokenEstimator"/> and flagged as estimated.
/// </summary>
/// <remarks>
/// Failures: a connection failure, a timeout before the response or an upstream 5xx/429 are retryable (another replica
/// may succeed); an upstream 4xx is the caller's mistake and is passed through with the upstream's message.
/// </remarks>
internal sealed class OpenAiUpstreamEngine(HttpClient http, Uri baseUrl, string upstreamModel, EngineCapabilities capabilities, string? apiKey = null)
    : IInferenceEngine
{
    private readonly Uri _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");

    public EngineCapabilities Capabilities { get; } = capabilities;

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var chat = request.Messages is not null;
        var body = (JsonObject)request.Body.DeepClone();
        body["model"] = upstreamModel;
        if (request.Stream)
        {
            body["stream"] = true;
            var streamOptions = body["stream_options"] as JsonObject ?? [];
            streamOptions["include_usage"] = true;
            body["stream_options"] = streamOptions;
        }
        else
        {
            body.Remove("stream");
            body.Remove("stream_options");
        }

        using var response = await SendAsync(chat ? "chat/completions" : "completions", body, request.Stream, cancellationToken);
        // Some servers answer a streaming request with one JSON body (no streaming for that endpoint): take it whole.
        if (!request.Stream || response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            yield return await ReadCompleteAsync(response, request, chat, cancellationToken);
            yield break;
        }

        // SSE: "data: {json}" lines, events separated by blank lines, ended by "data: [DONE]".
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var output = new StringBuilder();
        TokenUsage? usage = null;
        string? finishReason = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
                continue;
            var data = line.AsSpan(5).Trim();
            if (data.SequenceEqual("[DONE]"))
                break;
            var chunk = ParseJson(data.ToString());
            if (chunk["error"] is JsonObject error)
                throw UpstreamError(HttpStatusCode.BadGateway, error, retryable: false);
            usage = ReadUsage(chunk["usage"]) ?? usage;
            if (chunk["choices"] is not JsonArray { Count: > 0 } choices || choices[0] is not JsonObject choice)
                continue;
            string? text;
            JsonArray? toolCalls = null;
            if (chat)
            {
                var delta = choice["delta"] as JsonObject;
                text = Text(delta?["content"]);
                toolCalls = delta?["tool_calls"] is JsonArray calls ? (JsonArray)calls.DeepClone() : null;
            }
            else
            {
                text = Text(choice["text"]);
            }
            var finish = Text(choice["finish_reason"]);
            finishReason = finish ?? finishReason;
            output.Append(text);
            if (!string.IsNullOrEmpty(text) || toolCalls is not null || finish is not null)
                yield return new GenerationChunk { Text = text, ToolCalls = toolCalls, FinishReason = finish };
        }
        yield return new GenerationChunk
        {
            Usage = usage ?? new TokenUsage(TokenEstimator.CountInput(request), TokenEstimator.Count(output.ToString()), Estimated: true),
        };
    }

    public async ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        var body = (JsonObject)request.Body.DeepClone();
        body["model"] = upstreamModel;
        body["encoding_format"] = "float"; // we re-encode for the caller; some engines do not speak base64
        using var response = await SendAsync("embeddings", body, stream: false, cancellationToken);
        var json = ParseJson(await response.Content.ReadAsStringAsync(cancellationToken));
        if (json["data"] is not JsonArray data || data.Count != request.Inputs.Count)
            throw Malformed("an embeddings response without one vector per input");
        var vectors = new float[data.Count][];
        foreach (var item in data)
        {
            var index = item?["index"]?.GetValue<int>() ?? -1;
            if (index < 0 || index >= vectors.Length || item?["embedding"] is not JsonArray embedding)
                throw Malformed("an embedding without a valid index or float vector");
            vectors[index] = [.. embedding.Select(v => v!.GetValue<float>())];
        }
        var usage = ReadUsage(json["usage"]) ?? new TokenUsage(request.Inputs.Sum(TokenEstimator.Count), 0, Estimated: true);
        return new EmbeddingResult(vectors, usage with { OutputTokens = 0 });
    }

    public async ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_baseUrl, "models"));
            if (apiKey is not null)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private async Task<HttpResponseMessage> SendAsync(string path, JsonObject body, bool stream, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_baseUrl, path))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (apiKey is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        if (stream)
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(new GatewayError(502, "The model replica could not be reached.", "server_error", null, "upstream_unreachable"), retryable: true, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new GatewayException(new GatewayError(504, "The model replica did not answer in time.", "server_error", null, "upstream_timeout"), retryable: true, e);
        }
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var error = TryParse(text)?["error"] as JsonObject;
            var status = (int)response.StatusCode;
            var retryable = status >= 500 || status == 429;
            throw UpstreamError(response.StatusCode, error, retryable);
        }
    }

    private static async Task<GenerationChunk> ReadCompleteAsync(HttpResponseMessage response, GenerationRequest request, bool chat, CancellationToken cancellationToken)
    {
        var json = ParseJson(await response.Content.ReadAsStringAsync(cancellationToken));
        if (json["choices"] is not JsonArray { Count: > 0 } choices || choices[0] is not JsonObject choice)
            throw Malformed("a response without choices");
        string? text;
        JsonArray? toolCalls = null;
        if (chat)
        {
            var message = choice["message"] as JsonObject;
            text = Text(message?["content"]);
            toolCalls = message?["tool_calls"] is JsonArray { Count: > 0 } calls ? (JsonArray)calls.DeepClone() : null;
        }
        else
        {
            text = Text(choice["text"]);
        }
        var usage = ReadUsage(json["usage"])
            ?? new TokenUsage(TokenEstimator.CountInput(request), TokenEstimator.Count(text), Estimated: true);
        return new GenerationChunk { Text = text, ToolCalls = toolCalls, FinishReason = Text(choice["finish_reason"]) ?? "stop", Usage = usage };
    }

    /// <summary>The upstream's usage object, or null when it sent none (then the caller estimates).</summary>
    private static TokenUsage? ReadUsage(JsonNode? usage) =>
        usage is JsonObject u && u["prompt_tokens"] is JsonValue prompt && prompt.TryGetValue(out int input)
            ? new TokenUsage(input, u["completion_tokens"] is JsonValue c && c.TryGetValue(out int output) ? output : 0)
            : null;

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue(out string? s) ? s : null;

    private static JsonObject ParseJson(string text) => TryParse(text) ?? throw Malformed("a body that is not a JSON object");

    private static JsonObject? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// An upstream error: a 4xx keeps its status and message (the caller's mistake, e.g. context too long); anything
    /// else is our fault and becomes a 502 without the upstream's internals.
    /// </summary>
    private static GatewayException UpstreamError(HttpStatusCode status, JsonObject? error, bool retryable)
    {
        var code = (int)status;
        var message = Text(error?["message"]);
        if (code is >= 400 and < 500 and not 401 and not 403 and not 404 and not 429)
            return new GatewayException(new GatewayError(code, message ?? $"The model replica refused the request ({code}).",
                Text(error?["type"]) ?? "invalid_request_error", Text(error?["param"]), Text(error?["code"])), retryable);
        return new GatewayException(new GatewayError(502, $"The model replica failed ({code}).", "server_error", null, "upstream_error"), retryable);
    }

    private static GatewayException Malformed(string what) =>
        new(new GatewayError(502, $"The model replica sent {what}.", "server_error", null, "upstream_malformed"), retryable: true);
}
