using System.Globalization;

namespace Headroom.Gateway.OpenAi;

/// <summary>
/// An error as the OpenAI clients expect it: an HTTP status they map to an error class, and the body
/// <c>{"error":{"message","type","param","code"}}</c>. Expected failures are these values; only our own faults are 5xx.
/// </summary>
public sealed record GatewayError(int Status, string Message, string Type, string? Param = null, string? Code = null)
{
    /// <summary>Seconds the client should wait before retrying; sent as <c>Retry-After</c> (429 and 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static GatewayError BadRequest(string message, string? param = null, string? code = null) =>
        new(400, message, "invalid_request_error", param, code);

    public static GatewayError Unauthorized(string message = "Missing or invalid API key.") =>
        new(401, message, "authentication_error", null, "invalid_api_key");

    public static GatewayError Forbidden(string message) => new(403, message, "permission_error");

    public static GatewayError ModelNotFound(string model) =>
        new(404, $"The model '{model}' does not exist or you do not have access to it.", "invalid_request_error", "model", "model_not_found");

    public static GatewayError Conflict(string message) => new(409, message, "conflict_error");

    public static GatewayError Unprocessable(string message, string? param = null) =>
        new(422, message, "invalid_request_error", param);

    public static GatewayError RateLimited(string message, int retryAfterSeconds, string code = "rate_limit_exceeded") =>
        new(429, message, "rate_limit_error", null, code) { RetryAfterSeconds = Math.Max(1, retryAfterSeconds) };

    public static GatewayError InsufficientQuota(string message) =>
        new(429, message, "insufficient_quota", null, "insufficient_quota");

    public static GatewayError Unavailable(string message, int retryAfterSeconds = 1) =>
        new(503, message, "server_error", null, "service_unavailable") { RetryAfterSeconds = Math.Max(1, retryAfterSeconds) };

    public static GatewayError Internal(string message = "The server had an error while processing your request.") =>
        new(500, message, "server_error");

    internal string RetryAfterHeader => (RetryAfterSeconds ?? 1).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Carries a <see cref="GatewayError"/> out of an engine or the request parser to the one place that writes it.
/// </summary>
public sealed class GatewayException(GatewayError error, bool retryable = false, Exception? inner = null)
    : Exception(error.Message, inner)
{
    public GatewayError Error { get; } = error;

    /// <summary>True where another replica may succeed (connection refused, an upstream 5xx); never for the caller's own mistakes.</summary>
    public bool Retryable { get; } = retryable;
}
