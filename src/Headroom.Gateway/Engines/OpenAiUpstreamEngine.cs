using System.Buffers;
using System.IO.Pipelines;
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
    private readonly Uri _chat = Endpoint(baseUrl, "chat/completions");
    private readonly Uri _completions = Endpoint(baseUrl, "completions");
    private readonly Uri _embeddings = Endpoint(baseUrl, "embeddings");
    private readonly Uri _models = Endpoint(baseUrl, "models");

    public EngineCapabilities Capabilities { get; } = capabilities;

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var chat = request.Messages is not null;
        using var response = await SendAsync(chat ? _chat : _completions, Forward(request.Body, request.Stream), request.Stream, cancellationToken);
        // Some servers answer a streaming request with one JSON body (no streaming for that endpoint): take it whole.
        if (!request.Stream || response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            yield return await ReadCompleteAsync(response, request, chat, cancellationToken);
            yield break;
        }

        // SSE: "data: {json}" lines, events separated by blank lines, ended by "data: [DONE]". Lines are read as bytes
        // and each event parsed where it lies: read as strings, every event was decoded from UTF-8 and encoded back for
        // the parser (4 % of a streamed call's request-thread samples).
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var output = new StringBuilder();
        TokenUsage? usage = null;
        string? finishReason = null;
        try
        {
            var done = false;
            while (!done)
            {
                var read = await reader.ReadAsync(cancellationToken);
                var buffer = read.Buffer;
                while (!done && TryReadLine(ref buffer, read.IsCompleted, out var line))
                {
                    var bytes = line.IsSingleSegment ? line.First : line.ToArray();
                    if (!bytes.Span.StartsWith("data:"u8))
                        continue;
                    var json = bytes[5..];
                    json = json[Ascii.Trim(json.Span)];
                    if (json.Span.SequenceEqual("[DONE]"u8))
                    {
                        done = true;
                        break;
                    }
                    // The document points into the pipe's buffer, which stays ours until AdvanceTo below.
                    using var document = ParseJson(json);
                    var chunk = document.RootElement;
                    if (chunk.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                        throw UpstreamError(HttpStatusCode.BadGateway, error, retryable: false);
                    usage = ReadUsage(chunk) ?? usage;
                    if (!FirstChoice(chunk, out var choice))
                        continue;
                    var (text, toolCalls) = Content(choice, chat ? "delta" : null);
                    var finish = Text(choice, "finish_reason");
                    finishReason = finish ?? finishReason;
                    output.Append(text);
                    if (!string.IsNullOrEmpty(text) || toolCalls is not null || finish is not null)
                        yield return new GenerationChunk { Text = text, ToolCalls = toolCalls, FinishReason = finish };
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                    break;
            }
        }
        finally
        {
            await reader.CompleteAsync();
        }
        yield return new GenerationChunk
        {
            Usage = usage ?? new TokenUsage(TokenEstimator.CountInput(request), TokenEstimator.Count(output.ToString()), Estimated: true),
        };
    }

    /// <summary>
    /// The caller's body as sent, but for the upstream's model name and, when streaming, <c>stream_options.include_usage</c>
    /// on (the counts then come from the engine); written straight to UTF-8, with no copy of the caller's tree.
    /// </summary>
    private byte[] Forward(JsonObject body, bool stream, string? encodingFormat = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            CopyProperties(writer, body, "model", "stream", "stream_options", encodingFormat is null ? null : "encoding_format");
            writer.WriteString("model", upstreamModel);
            if (encodingFormat is not null)
                writer.WriteString("encoding_format", encodingFormat);
            if (stream)
            {
                writer.WriteBoolean("stream", true);
                writer.WriteStartObject("stream_options");
                if (body["stream_options"] is JsonObject options)
                    CopyProperties(writer, options, "include_usage");
                writer.WriteBoolean("include_usage", true);
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void CopyProperties(Utf8JsonWriter writer, JsonObject from, params ReadOnlySpan<string?> except)
    {
        foreach (var (name, value) in from)
        {
            if (except.Contains(name))
                continue;
            writer.WritePropertyName(name);
            if (value is null)
                writer.WriteNullValue();
            else
                value.WriteTo(writer);
        }
    }

    public async ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        // Floats asked for whatever the caller wants: we re-encode for the caller, and some engines do not speak base64.
        using var response = await SendAsync(_embeddings, Forward(request.Body, stream: false, encodingFormat: "float"), stream: false, cancellationToken);
        using var document = await ReadJsonAsync(response, cancellationToken);
        var json = document.RootElement;
        if (!json.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array || data.GetArrayLength() != request.Inputs.Count)
            throw Malformed("an embeddings response without one vector per input");
        var vectors = new float[data.GetArrayLength()][];
        foreach (var item in data.EnumerateArray())
        {
            var index = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("index", out var i) && i.TryGetInt32(out var n) ? n : -1;
            if (index < 0 || index >= vectors.Length || !item.TryGetProperty("embedding", out var embedding) || embedding.ValueKind != JsonValueKind.Array)
                throw Malformed("an embedding without a valid index or float vector");
            vectors[index] = [.. embedding.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetSingle() : throw Malformed("an embedding with a value that is not a number"))];
        }
        if (vectors.Any(v => v is null))
            throw Malformed("an embeddings response without one vector per input");
        var usage = ReadUsage(json) ?? new TokenUsage(request.Inputs.Sum(TokenEstimator.Count), 0, Estimated: true);
        return new EmbeddingResult(vectors, usage with { OutputTokens = 0 });
    }

    public async ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, _models);
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

    private async Task<HttpResponseMessage> SendAsync(Uri uri, byte[] body, bool stream, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
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
            var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var status = (int)response.StatusCode;
            var retryable = status >= 500 || status == 429;
            using var document = TryParse(answer);
            throw UpstreamError(response.StatusCode,
                document is not null && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object ? error : null,
                retryable);
        }
    }

    private static async Task<GenerationChunk> ReadCompleteAsync(HttpResponseMessage response, GenerationRequest request, bool chat, CancellationToken cancellationToken)
    {
        using var document = await ReadJsonAsync(response, cancellationToken);
        var json = document.RootElement;
        if (!FirstChoice(json, out var choice))
            throw Malformed("a response without choices");
        var (text, toolCalls) = Content(choice, chat ? "message" : null);
        var usage = ReadUsage(json)
            ?? new TokenUsage(TokenEstimator.CountInput(request), TokenEstimator.Count(text), Estimated: true);
        return new GenerationChunk { Text = text, ToolCalls = toolCalls, FinishReason = Text(choice, "finish_reason") ?? "stop", Usage = usage };
    }

    /// <summary>A JSON object body, read from the stream into pooled memory (no string of it is made).</summary>
    private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        }
        catch (JsonException)
        {
            throw Malformed("a body that is not a JSON object");
        }
        if (document.RootElement.ValueKind == JsonValueKind.Object)
            return document;
        document.Dispose();
        throw Malformed("a body that is not a JSON object");
    }

    /// <summary>The upstream's usage object, or null when it sent none (then the caller estimates).</summary>
    private static TokenUsage? ReadUsage(JsonElement body) =>
        Property(body, "usage") is { } usage && Property(usage, "prompt_tokens") is { } prompt && prompt.TryGetInt32(out var input)
            ? new TokenUsage(input, Property(usage, "completion_tokens") is { } c && c.TryGetInt32(out var output) ? output : 0)
            : null;

    private static bool FirstChoice(JsonElement body, out JsonElement choice)
    {
        choice = default;
        if (Property(body, "choices") is not { ValueKind: JsonValueKind.Array } choices || choices.GetArrayLength() == 0)
            return false;
        choice = choices[0];
        return choice.ValueKind == JsonValueKind.Object;
    }

    /// <summary>
    /// A choice's text and tool calls: a chat choice's are in its <paramref name="message"/> object (<c>message</c>, or
    /// <c>delta</c> in a stream), a completion choice's text is its own (<paramref name="message"/> null).
    /// </summary>
    private static (string? Text, JsonArray? ToolCalls) Content(JsonElement choice, string? message)
    {
        if (message is null)
            return (Text(choice, "text"), null);
        var part = Property(choice, message);
        return (Text(part, "content"), ToolCalls(part));
    }

    /// <summary>A tool_calls array, as the node the gateway passes on; null when there is none (or it is empty).</summary>
    private static JsonArray? ToolCalls(JsonElement? parent) =>
        Property(parent, "tool_calls") is { ValueKind: JsonValueKind.Array } calls && calls.GetArrayLength() > 0 ? JsonArray.Create(calls.Clone()) : null;

    /// <summary>The named property of an object; null for a missing one, a JSON null, or a parent that is not an object.</summary>
    private static JsonElement? Property(JsonElement? parent, string name) =>
        parent is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string? Text(JsonElement? parent, string name) =>
        Property(parent, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    /// <summary>
    /// The next line of <paramref name="buffer"/> without its line break (LF, CRLF or CR, as SSE allows), and the buffer
    /// moved past it; once the stream has ended, what is left. False when no whole line is buffered yet.
    /// </summary>
    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, bool completed, out ReadOnlySequence<byte> line)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (reader.TryReadToAny(out line, "\r\n"u8, advancePastDelimiter: false))
        {
            reader.TryRead(out var delimiter);
            if (delimiter == (byte)'\r')
                reader.IsNext((byte)'\n', advancePast: true); // a CRLF split between reads leaves a blank line: ignored
            buffer = buffer.Slice(reader.Position);
            return true;
        }
        if (completed && !buffer.IsEmpty)
        {
            line = buffer;
            buffer = buffer.Slice(buffer.End);
            return true;
        }
        line = default;
        return false;
    }

    private static JsonDocument ParseJson(ReadOnlyMemory<byte> utf8)
    {
        var document = TryParse(utf8);
        if (document?.RootElement.ValueKind == JsonValueKind.Object)
            return document;
        document?.Dispose();
        throw Malformed("a body that is not a JSON object");
    }

    private static JsonDocument? TryParse(ReadOnlyMemory<byte> utf8)
    {
        try
        {
            return JsonDocument.Parse(utf8);
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
    private static GatewayException UpstreamError(HttpStatusCode status, JsonElement? error, bool retryable)
    {
        var code = (int)status;
        var message = Text(error, "message");
        if (code is >= 400 and < 500 and not 401 and not 403 and not 404 and not 429)
            return new GatewayException(new GatewayError(code, message ?? $"The model replica refused the request ({code}).",
                Text(error, "type") ?? "invalid_request_error", Text(error, "param"), Text(error, "code")), retryable);
        return new GatewayException(new GatewayError(502, $"The model replica failed ({code}).", "server_error", null, "upstream_error"), retryable);
    }

    private static Uri Endpoint(Uri baseUrl, string path) =>
        new(baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/"), path);

    private static GatewayException Malformed(string what) =>
        new(new GatewayError(502, $"The model replica sent {what}.", "server_error", null, "upstream_malformed"), retryable: true);
}
