using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Routing;
using Microsoft.Extensions.Logging;

namespace Headroom.Gateway.OpenAi;

/// <summary>
/// The request pipeline, in this order: read and validate the body (400), find the model (404), check the engine
/// supports what was asked (400, naming the field), admit through the hooks (their error), pick a replica and start
/// (a failure before the first output retries once on another replica), write the response, and report usage to the
/// hooks exactly once before the response completes. Errors are values until here and written in one place.
/// </summary>
internal sealed class OpenAiHandler(ModelRegistry models, GatewayOptions options, ILogger logger)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private long Now => options.TimeProvider.GetUtcNow().ToUnixTimeSeconds();

    private string NewId() => options.NewId?.Invoke() ?? Guid.CreateVersion7(options.TimeProvider.GetUtcNow()).ToString("N");

    /// <summary>The model's replicas, or null for a model that is missing or that the caller may not know of (both 404).</summary>
    private ModelReplicas? Find(HttpContext http, string model) =>
        options.Hooks.IsModelVisible(http, model) && models.TryGet(model, out var replicas) ? replicas : null;

    public async Task ListModelsAsync(HttpContext http)
    {
        var created = Now;
        var list = new ModelList([.. models.Models.Where(m => options.Hooks.IsModelVisible(http, m)).Select(m => new ModelObject(m, created, options.OwnedBy))]);
        await WriteJsonAsync(http, 200, list);
    }

    public async Task GetModelAsync(HttpContext http)
    {
        var model = http.Request.RouteValues["model"] as string ?? "";
        if (Find(http, model) is not null)
            await WriteJsonAsync(http, 200, new ModelObject(model, Now, options.OwnedBy));
        else
            await WriteErrorAsync(http, GatewayError.ModelNotFound(model));
    }

    public Task ChatCompletionsAsync(HttpContext http) => GenerateAsync(http, GatewayOperation.ChatCompletions);

    public Task CompletionsAsync(HttpContext http) => GenerateAsync(http, GatewayOperation.Completions);

    private async Task GenerateAsync(HttpContext http, GatewayOperation operation)
    {
        var aborted = http.RequestAborted;
        ModelReplicas replicas;
        GenerationRequest request;
        bool includeUsage;
        GatewayCall call;
        try
        {
            var body = await RequestReader.ReadBodyAsync(http.Request, aborted);
            var model = RequestReader.ReadModel(body);
            replicas = Find(http, model) ?? throw new GatewayException(GatewayError.ModelNotFound(model));
            var chat = operation == GatewayOperation.ChatCompletions;
            if (chat ? !replicas.Capabilities.Chat : !replicas.Capabilities.Completions)
                throw new GatewayException(GatewayError.BadRequest(
                    $"The model '{model}' does not support {(chat ? "chat completions" : "completions")}.", "model", "unsupported_model"));
            request = chat
                ? RequestReader.ReadChat(body, replicas.Capabilities, out includeUsage)
                : RequestReader.ReadCompletion(body, out includeUsage);
            call = new GatewayCall
            {
                RequestId = (chat ? "chatcmpl-" : "cmpl-") + NewId(),
                Model = model,
                Operation = operation,
                HttpContext = http,
                Stream = request.Stream,
                Body = body,
                MaxOutputTokens = request.MaxTokens,
                EstimatedInputTokens = TokenEstimator.CountInput(request),
            };
        }
        catch (GatewayException e)
        {
            await WriteErrorAsync(http, e.Error);
            return;
        }

        if (await options.Hooks.AdmitAsync(call, aborted) is { } refused)
        {
            await WriteErrorAsync(http, refused);
            return;
        }

        if (request.Stream)
            await StreamAsync(http, replicas, request, call, includeUsage);
        else
            await RespondAsync(http, replicas, request, call);
    }

    private async Task RespondAsync(HttpContext http, ModelReplicas replicas, GenerationRequest request, GatewayCall call)
    {
        var aborted = http.RequestAborted;
        var text = new StringBuilder();
        JsonArray? toolCalls = null;
        string? finishReason = null;
        TokenUsage? usage = null;
        GatewayError? error = null;
        try
        {
            var started = await StartAsync(replicas, request, call, aborted);
            await using (started)
            {
                for (var has = started.HasFirst; has; has = await started.MoveNextAsync())
                {
                    var chunk = started.Current;
                    text.Append(chunk.Text);
                    toolCalls = chunk.ToolCalls ?? toolCalls;
                    finishReason = chunk.FinishReason ?? finishReason;
                    usage = chunk.Usage ?? usage;
                }
            }
        }
        catch (Exception e)
        {
            error = ToError(e, call, aborted);
        }

        usage ??= Estimate(call, text);
        call.Output = text.ToString();
        error = await ReportAsync(call, usage, error);
        if (error is not null)
        {
            if (!aborted.IsCancellationRequested)
                await WriteErrorAsync(http, error);
            return;
        }

        finishReason ??= "stop";
        object response = call.Operation == GatewayOperation.ChatCompletions
            ? new ChatCompletionWire(call.RequestId, Now, call.Model,
                [new ChatChoiceWire(0, new ChatMessageWire("assistant", toolCalls is null || text.Length > 0 ? text.ToString() : null, ToElement(toolCalls)), finishReason)],
                Wire.ToWire(usage))
            : new CompletionWire(call.RequestId, Now, call.Model, [new CompletionChoiceWire(0, text.ToString(), finishReason)], Wire.ToWire(usage));
        await WriteJsonAsync(http, 200, response);
    }

    private async Task StreamAsync(HttpContext http, ModelReplicas replicas, GenerationRequest request, GatewayCall call, bool includeUsage)
    {
        var aborted = http.RequestAborted;
        var chat = call.Operation == GatewayOperation.ChatCompletions;
        var created = Now;
        var text = new StringBuilder();
        TokenUsage? usage = null;
        GatewayError? error = null;
        var headersSent = false;
        try
        {
            var started = await StartAsync(replicas, request, call, aborted);
            await using (started)
            {
                http.Response.StatusCode = 200;
                http.Response.ContentType = "text/event-stream";
                http.Response.Headers.CacheControl = "no-cache";
                http.Response.Headers["X-Accel-Buffering"] = "no";
                headersSent = true;
                if (chat)
                    WriteEvent(http, new ChatChunkWire(call.RequestId, created, call.Model, [new ChatChunkChoiceWire(0, new ChatDeltaWire("assistant", "", null), null)], null));
                for (var has = started.HasFirst; has;)
                {
                    var chunk = started.Current;
                    usage = chunk.Usage ?? usage;
                    var hasContent = !string.IsNullOrEmpty(chunk.Text) || chunk.ToolCalls is not null;
                    if (hasContent || chunk.FinishReason is not null)
                    {
                        text.Append(chunk.Text);
                        WriteEvent(http, chat
                            ? new ChatChunkWire(call.RequestId, created, call.Model,
                                [new ChatChunkChoiceWire(0, new ChatDeltaWire(null, chunk.Text, ToElement(chunk.ToolCalls)), chunk.FinishReason)], null)
                            : new CompletionWire(call.RequestId, created, call.Model, [new CompletionChoiceWire(0, chunk.Text ?? "", chunk.FinishReason)], null));
                    }
                    // Events go out when the engine has no next one ready: each as soon as it must wait, and the ones
                    // that came together from the engine (one read of an upstream's stream) in one write.
                    var next = started.MoveNextAsync();
                    if (!next.IsCompleted)
                        await http.Response.BodyWriter.FlushAsync(aborted);
                    has = await next;
                }
            }
        }
        catch (Exception e)
        {
            error = ToError(e, call, aborted);
            if (headersSent && !aborted.IsCancellationRequested)
                GatewayLog.StreamCut(logger, call.Model, call.Replica, call.RequestId, e);
        }

        usage ??= Estimate(call, text);
        call.Output = text.ToString();
        error = await ReportAsync(call, usage, error);
        if (aborted.IsCancellationRequested)
            return;
        if (error is not null)
        {
            if (!headersSent)
                await WriteErrorAsync(http, error);
            else
            {
                WriteEvent(http, Wire.ToWire(error)); // the SDKs raise an API error on an error event
                await http.Response.BodyWriter.FlushAsync(aborted);
            }
            return;
        }
        if (includeUsage)
        {
            WriteEvent(http, chat
                ? new ChatChunkWire(call.RequestId, created, call.Model, [], Wire.ToWire(usage))
                : new CompletionWire(call.RequestId, created, call.Model, [], Wire.ToWire(usage)));
        }
        http.Response.BodyWriter.Write(Done);
        await http.Response.BodyWriter.FlushAsync(aborted);
    }

    public async Task EmbeddingsAsync(HttpContext http)
    {
        var aborted = http.RequestAborted;
        ModelReplicas replicas;
        EmbeddingRequest request;
        bool base64;
        GatewayCall call;
        try
        {
            var body = await RequestReader.ReadBodyAsync(http.Request, aborted);
            var model = RequestReader.ReadModel(body);
            replicas = Find(http, model) ?? throw new GatewayException(GatewayError.ModelNotFound(model));
            if (!replicas.Capabilities.Embeddings)
                throw new GatewayException(GatewayError.BadRequest($"The model '{model}' does not support embeddings.", "model", "unsupported_model"));
            request = RequestReader.ReadEmbeddings(body, out base64);
            call = new GatewayCall
            {
                RequestId = "emb-" + NewId(),
                Model = model,
                Operation = GatewayOperation.Embeddings,
                HttpContext = http,
                Body = body,
                MaxOutputTokens = 0,
                EstimatedInputTokens = request.Inputs.Sum(TokenEstimator.Count),
            };
        }
        catch (GatewayException e)
        {
            await WriteErrorAsync(http, e.Error);
            return;
        }

        if (await options.Hooks.AdmitAsync(call, aborted) is { } refused)
        {
            await WriteErrorAsync(http, refused);
            return;
        }

        EmbeddingResult? result = null;
        GatewayError? error = null;
        try
        {
            result = await EmbedWithRetryAsync(replicas, request, call, aborted);
        }
        catch (Exception e)
        {
            error = ToError(e, call, aborted);
        }

        error = await ReportAsync(call, result?.Usage ?? new TokenUsage(0, 0, Estimated: true), error);
        if (result is null || error is not null)
        {
            if (!aborted.IsCancellationRequested)
                await WriteErrorAsync(http, error ?? GatewayError.Internal());
            return;
        }
        var data = result.Vectors.Select((vector, i) => new EmbeddingWire(i, base64 ? ToBase64(vector) : vector)).ToList();
        await WriteJsonAsync(http, 200, new EmbeddingListWire(data, call.Model, new EmbeddingUsageWire(result.Usage.InputTokens, result.Usage.InputTokens)));
    }

    /// <summary>
    /// Hands the final usage to the hooks. If they fail (the usage journal is down), the request is not acknowledged:
    /// the returned error replaces success, so the caller gets a 500 or a stream without <c>[DONE]</c>.
    /// </summary>
    private async Task<GatewayError?> ReportAsync(GatewayCall call, TokenUsage usage, GatewayError? error)
    {
        try
        {
            await options.Hooks.CompleteAsync(call, usage, error, CancellationToken.None);
            return error;
        }
        catch (Exception e)
        {
            GatewayLog.ReportFailed(logger, call.Model, call.RequestId, e);
            return error ?? GatewayError.Internal();
        }
    }

    /// <summary>
    /// Picks a replica and waits for the first chunk. A failure before it (nothing has reached the client) is retried
    /// once on another healthy replica; the failed replica's count toward removal goes up.
    /// </summary>
    private async Task<StartedGeneration> StartAsync(ModelReplicas replicas, GenerationRequest request, GatewayCall call, CancellationToken cancellationToken)
    {
        int[] excluded = [];
        Exception? last = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var lease = replicas.Acquire(excluded, call.AllowedRegions);
            if (lease is null)
                break;
            call.Replica = lease.Replica.Name;
            call.Region = lease.Replica.Region;
            var enumerator = lease.Replica.Engine.GenerateAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                var hasFirst = await enumerator.MoveNextAsync();
                return new StartedGeneration(lease, enumerator, hasFirst);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                await enumerator.DisposeAsync();
                var retryable = e is not GatewayException g || g.Retryable;
                lease.MarkOutcome(failed: retryable);
                lease.Dispose();
                if (!retryable)
                    throw;
                if (attempt == 0)
                    GatewayLog.RetryingOnAnotherReplica(logger, call.Model, lease.Replica.Name, call.RequestId, e);
                last = e;
                excluded = [.. excluded, lease.Index];
            }
        }
        if (last is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(last);
        throw new GatewayException(NoReplica(call));
    }

    private async Task<EmbeddingResult> EmbedWithRetryAsync(ModelReplicas replicas, EmbeddingRequest request, GatewayCall call, CancellationToken cancellationToken)
    {
        int[] excluded = [];
        Exception? last = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var lease = replicas.Acquire(excluded, call.AllowedRegions);
            if (lease is null)
                break;
            call.Replica = lease.Replica.Name;
            call.Region = lease.Replica.Region;
            try
            {
                var result = await lease.Replica.Engine.EmbedAsync(request, cancellationToken);
                lease.MarkOutcome(failed: false);
                return result;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (e is not GatewayException g || g.Retryable))
            {
                lease.MarkOutcome(failed: true);
                if (attempt == 0)
                    GatewayLog.RetryingOnAnotherReplica(logger, call.Model, lease.Replica.Name, call.RequestId, e);
                last = e;
                excluded = [.. excluded, lease.Index];
            }
        }
        if (last is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(last);
        throw new GatewayException(NoReplica(call));
    }

    /// <summary>The one place exceptions become error values: ours are 5xx and logged, the caller's pass through.</summary>
    private GatewayError ToError(Exception e, GatewayCall call, CancellationToken aborted)
    {
        switch (e)
        {
            case GatewayException g:
                return g.Error;
            case Exception when aborted.IsCancellationRequested: // a write to a closed connection throws more than OperationCanceledException
                return new GatewayError(499, "The client closed the request.", "client_closed_request");
            default:
                GatewayLog.Unexpected(logger, call.Model, call.RequestId, e);
                return GatewayError.Internal();
        }
    }

    private static GatewayError NoReplica(GatewayCall call) => call.AllowedRegions is { } regions
        ? GatewayError.Unavailable($"No healthy replica of '{call.Model}' in the regions this project allows ({string.Join(", ", regions.Order(StringComparer.Ordinal))}); requests are not sent to other regions.")
        : GatewayError.Unavailable($"No healthy replica of '{call.Model}' is available; try again shortly.");

    private static TokenUsage Estimate(GatewayCall call, StringBuilder output) =>
        new(call.EstimatedInputTokens, TokenEstimator.Count(output.ToString()), Estimated: true);

    private static JsonElement? ToElement(JsonArray? array) => array is null ? null : JsonSerializer.SerializeToElement(array);

    /// <summary>Base64 of the vector as little-endian float32, as the OpenAI clients decode it.</summary>
    internal static string ToBase64(float[] vector)
    {
        if (BitConverter.IsLittleEndian)
            return Convert.ToBase64String(MemoryMarshal.AsBytes(vector.AsSpan()));
        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        return Convert.ToBase64String(bytes);
    }

    /// <summary>A JSON body with its length: one write, no chunked framing.</summary>
    private static Task WriteJsonAsync(HttpContext http, int status, object value)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), Wire.Json);
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = bytes.Length;
        return http.Response.Body.WriteAsync(bytes, http.RequestAborted).AsTask();
    }

    internal static Task WriteErrorAsync(HttpContext http, GatewayError error)
    {
        if (error.RetryAfterSeconds is not null || error.Status == 429)
            http.Response.Headers.RetryAfter = error.RetryAfterHeader;
        return WriteJsonAsync(http, error.Status, Wire.ToWire(error));
    }

    /// <summary>One server-sent event, <c>data: {json}</c>, written into the response's pipe; it goes out at the next flush.</summary>
    private static void WriteEvent(HttpContext http, object value)
    {
        var pipe = http.Response.BodyWriter;
        pipe.Write(DataPrefix);
        using (var json = new Utf8JsonWriter(pipe))
            JsonSerializer.Serialize(json, value, value.GetType(), Wire.Json);
        pipe.Write(EventEnd);
    }

    /// <summary>A generation whose first chunk (if any) is in <see cref="Current"/>; holds the replica until disposed.</summary>
    private sealed class StartedGeneration(ReplicaLease lease, IAsyncEnumerator<GenerationChunk> enumerator, bool hasFirst) : IAsyncDisposable
    {
        private bool _failed;

        public bool HasFirst { get; } = hasFirst;
        public GenerationChunk Current => enumerator.Current;

        public async ValueTask<bool> MoveNextAsync()
        {
            try
            {
                return await enumerator.MoveNextAsync();
            }
            catch (GatewayException e) when (e.Retryable)
            {
                _failed = true;
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await enumerator.DisposeAsync();
            lease.MarkOutcome(_failed);
            lease.Dispose();
        }
    }
}
