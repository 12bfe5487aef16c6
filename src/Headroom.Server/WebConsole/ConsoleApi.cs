using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headroom.Server.Api;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Headroom.Server.WebConsole;

/// <summary>What the API answered when it did not answer with the value: its error, and the request id to quote.</summary>
public sealed record ApiProblem(int Status, string Message, string? Code, string? Param, string? RequestId);

/// <summary>An API answer: the value, or the problem. Expected failures are values, never exceptions.</summary>
public sealed record ApiResult<T>(T? Value, ApiProblem? Problem)
{
    public bool Ok => Problem is null;
}

/// <summary>
/// The console's one way to the data: the public /v1 API of this same server, over loopback HTTP, with the signed-in
/// browser's key. Going through HTTP rather than calling the stores keeps the console honest: it sees exactly what
/// the key may see, every write is authorized, audited and idempotent as any client's, and a page cannot show what
/// the API does not offer.
/// </summary>
internal sealed class ConsoleApi(IServer server) : IDisposable
{
    /// <summary>Reads the API's views as a client does: snake_case, and fields it does not know are skipped (the API grows additively).</summary>
    public static readonly JsonSerializerOptions Reading = new(Json.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip };

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
    private Uri? _base;

    public Task<ApiResult<T>> GetAsync<T>(Caller caller, string path, CancellationToken cancellationToken) =>
        SendAsync<T>(caller, HttpMethod.Get, path, null, null, cancellationToken);

    public async Task<ApiResult<T>> SendAsync<T>(Caller caller, HttpMethod method, string path, object? body, string? idempotencyKey, CancellationToken cancellationToken)
    {
        using var request = Request(caller, method, path);
        if (body is not null)
            request.Content = JsonContent.Create(body, body.GetType(), options: Json.Options);
        if (idempotencyKey is not null)
            request.Headers.Add(Idempotency.Header, idempotencyKey);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token);
            if (response.IsSuccessStatusCode)
                return new ApiResult<T>(await response.Content.ReadFromJsonAsync<T>(Reading, timeout.Token), null);
            return new ApiResult<T>(default, await ProblemOfAsync(response, timeout.Token));
        }
        catch (JsonException ex)
        {
            return new ApiResult<T>(default, new ApiProblem(502, $"The console could not read the API's answer: {ex.Message}", "api_unreadable", null, caller.RequestId));
        }
        catch (HttpRequestException ex)
        {
            return new ApiResult<T>(default, new ApiProblem(502, $"The console could not reach the API: {ex.Message}", "api_unreachable", null, caller.RequestId));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ApiResult<T>(default, new ApiProblem(504, "The API did not answer within 30 seconds.", "api_timeout", null, caller.RequestId));
        }
    }

    /// <summary>Opens a response to copy through as it arrives (followed logs, audit export); the caller disposes it.</summary>
    public Task<HttpResponseMessage> StreamAsync(Caller caller, string path, CancellationToken cancellationToken) =>
        _http.SendAsync(Request(caller, HttpMethod.Get, path), HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    /// <summary>Sends a JSON body and opens the response to copy through as it arrives (a streamed completion); the caller disposes it.</summary>
    public Task<HttpResponseMessage> StreamPostAsync(Caller caller, string path, object body, CancellationToken cancellationToken)
    {
        var request = Request(caller, HttpMethod.Post, path);
        request.Content = JsonContent.Create(body, body.GetType(), options: Json.Options);
        return _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    public static async Task<ApiProblem> ProblemOfAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var requestId = response.Headers.TryGetValues(RequestIds.Header, out var ids) ? ids.FirstOrDefault() : null;
        try
        {
            var body = await response.Content.ReadFromJsonAsync<ApiErrorBody>(Reading, cancellationToken);
            if (body?.Error is { } error)
                return new ApiProblem((int)response.StatusCode, error.Message, error.Code, error.Param, requestId);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
        }
        return new ApiProblem((int)response.StatusCode, $"The API answered {(int)response.StatusCode} {response.ReasonPhrase}.", null, null, requestId);
    }

    private HttpRequestMessage Request(Caller caller, HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(Base(), path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", caller.ApiKey);
        // The page's own request id goes along, so the audit record of a console action carries the id the page shows.
        request.Headers.Add(RequestIds.Header, caller.RequestId);
        return request;
    }

    /// <summary>This server's own address, from what Kestrel bound; a wildcard listen address is reached over loopback.</summary>
    private Uri Base()
    {
        if (_base is not null)
            return _base;
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The server has no address yet.");
        var uri = new UriBuilder(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
            uri.Host = ip.Equals(IPAddress.Any) ? "127.0.0.1" : "[::1]";
        uri.Path = "/";
        return _base = uri.Uri;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Who a console request acts for: the signed-in key, and the request id of the page that acts.</summary>
public sealed record Caller(string ApiKey, string RequestId);
