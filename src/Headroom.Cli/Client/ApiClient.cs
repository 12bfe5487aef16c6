using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>How an API call ended. Each maps to one documented exit code (docs/cli.md).</summary>
internal enum ApiOutcome
{
    /// <summary>2xx.</summary>
    Ok,

    /// <summary>The server refused the request (4xx): the caller's input, credentials or permissions.</summary>
    Refused,

    /// <summary>The server could not be reached, or failed itself (5xx): worth retrying later.</summary>
    Unavailable,
}

/// <summary>
/// One API call's answer as a value: the status, the raw body (printed as is by <c>--json</c>), the request id,
/// and for failures the API's error message and code.
/// </summary>
internal sealed record ApiResult(ApiOutcome Outcome, int Status, string Body, string? RequestId, string Message, string? Code)
{
    private JsonNode? _json;

    public bool Ok => Outcome == ApiOutcome.Ok;

    /// <summary>The body parsed (once); only for answers the API documents as JSON.</summary>
    public JsonNode Json => _json ??= JsonNode.Parse(Body) ?? new JsonObject();

    public int ExitCode => Outcome switch
    {
        ApiOutcome.Ok => ExitCodes.Ok,
        ApiOutcome.Refused => ExitCodes.Failed,
        _ => ExitCodes.Unavailable,
    };
}

/// <summary>
/// The /v1 API over HTTP with one key. Never throws for what a server or network can do: every call returns an
/// <see cref="ApiResult"/>. Reads, and creates sent with an <c>Idempotency-Key</c>, are retried on 429, 502, 503 and
/// 504 and on a lost connection (the key makes a repeated create harmless: the server replays the first answer, or says
/// <c>idempotency_key_applied</c>); other writes are sent once.
/// </summary>
internal sealed class ApiClient : IDisposable
{
    public const string UserAgent = "headroom-cli";
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);
    private const int Attempts = 3;

    private readonly HttpClient _http;

    public ApiClient(Uri endpoint, string key)
    {
        Endpoint = endpoint;
        // Streams (logs --follow, audit export) run as long as they run; ordinary calls get RequestTimeout each.
        _http = new HttpClient { BaseAddress = endpoint, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue(UserAgent, Headroom.Server.Hosting.HeadroomVersion.Text));
    }

    public Uri Endpoint { get; }

    public Task<ApiResult> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Get, path), retry: true, cancellationToken);

    /// <summary>POST with a JSON body; <paramref name="idempotencyKey"/> (for creates) makes retries safe.</summary>
    public Task<ApiResult> PostAsync(string path, JsonNode? body, CancellationToken cancellationToken, string? idempotencyKey = null) =>
        SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent(body ?? new JsonObject()) };
            if (idempotencyKey is not null)
                request.Headers.Add("Idempotency-Key", idempotencyKey);
            return request;
        }, retry: idempotencyKey is not null, cancellationToken);

    public Task<ApiResult> PatchAsync(string path, JsonNode body, CancellationToken cancellationToken) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Patch, path) { Content = JsonContent(body) }, retry: false, cancellationToken);

    public Task<ApiResult> DeleteAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, path), retry: false, cancellationToken);

    /// <summary>
    /// GET whose body is copied to <paramref name="output"/> as it arrives (job logs, audit export). On success the
    /// result's body is empty: the text went to the output.
    /// </summary>
    public async Task<ApiResult> StreamAsync(string path, Stream output, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
                return await ReadAsync(response, cancellationToken);
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[16 * 1024];
            int read;
            var ok = new ApiResult(ApiOutcome.Ok, (int)response.StatusCode, "", RequestId(response), "", null);
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                try
                {
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    await output.FlushAsync(cancellationToken);
                }
                catch (IOException)
                {
                    // The reader went away (`| head`): nothing more is wanted, and that is no failure of the server.
                    return ok;
                }
            }
            return ok;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            return Unreachable(ex);
        }
    }

    /// <summary>
    /// POST whose answer is a server-sent event stream (a streamed model call): each <c>data:</c> line's payload is
    /// handed to <paramref name="onData"/> as it arrives, up to and without <c>[DONE]</c>. Sent once. On success the
    /// result's body is empty; a stream that ends without <c>[DONE]</c> is <see cref="ApiOutcome.Unavailable"/>.
    /// </summary>
    public async Task<ApiResult> PostEventsAsync(string path, JsonNode body, IReadOnlyDictionary<string, string> headers, Action<string> onData, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent(body) };
            foreach (var (name, value) in headers)
                request.Headers.Add(name, value);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
                return await ReadAsync(response, cancellationToken);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal))
                    continue;
                var data = line[5..].Trim();
                if (data == "[DONE]")
                    return new ApiResult(ApiOutcome.Ok, (int)response.StatusCode, "", RequestId(response), "", null);
                onData(data);
            }
            return new ApiResult(ApiOutcome.Unavailable, (int)response.StatusCode, "", RequestId(response), "the answer's stream ended before [DONE]", null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            return Unreachable(ex);
        }
    }

    /// <summary>POST with extra headers, sent once (a model call: not idempotent, never retried).</summary>
    public Task<ApiResult> PostOnceAsync(string path, JsonNode body, IReadOnlyDictionary<string, string> headers, CancellationToken cancellationToken) =>
        SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent(body) };
            foreach (var (name, value) in headers)
                request.Headers.Add(name, value);
            return request;
        }, retry: false, cancellationToken);

    private async Task<ApiResult> SendAsync(Func<HttpRequestMessage> build, bool retry, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            ApiResult result;
            TimeSpan? retryAfter = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(RequestTimeout);
                using var request = build();
                using var response = await _http.SendAsync(request, timeout.Token);
                result = await ReadAsync(response, timeout.Token);
                retryAfter = response.Headers.RetryAfter?.Delta;
                // A repeat of a create whose first try is still being handled (ours, timed out) is answered in_use: ask again.
                var stillRunning = attempt > 1 && result.Code == "idempotency_key_in_use";
                if (!retry || attempt == Attempts || !(stillRunning || response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway
                    or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout))
                    return result;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                result = Unreachable(ex);
                // Nothing listens there: asking again will not help, and the user should hear at once.
                if (!retry || attempt == Attempts || ex is HttpRequestException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionRefused } })
                    return result;
            }
            var wait = retryAfter is { } after && after <= TimeSpan.FromSeconds(10) ? after : TimeSpan.FromMilliseconds(500 * attempt);
            await Task.Delay(wait, cancellationToken);
        }
    }

    private static async Task<ApiResult> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var status = (int)response.StatusCode;
        var requestId = RequestId(response);
        if (response.IsSuccessStatusCode)
            return new ApiResult(ApiOutcome.Ok, status, body, requestId, "", null);

        // The API's one error shape; anything else (a proxy's page) is summarized by its status line.
        string message = $"HTTP {status} {response.ReasonPhrase}";
        string? code = null;
        try
        {
            if (JsonNode.Parse(body)?["error"] is JsonObject error)
            {
                message = error["message"]?.GetValue<string>() ?? message;
                code = error["code"]?.GetValue<string>();
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return new ApiResult(status >= 500 ? ApiOutcome.Unavailable : ApiOutcome.Refused, status, body, requestId, message, code);
    }

    private ApiResult Unreachable(Exception ex)
    {
        var reason = ex is OperationCanceledException ? $"no answer within {RequestTimeout.TotalSeconds:0} s" : (ex.InnerException ?? ex).Message;
        return new ApiResult(ApiOutcome.Unavailable, 0, "", null, $"cannot reach {Endpoint.ToString().TrimEnd('/')}: {reason}", null);
    }

    private static string? RequestId(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Request-Id", out var values) ? values.FirstOrDefault() : null;

    private static StringContent JsonContent(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    public void Dispose() => _http.Dispose();
}
