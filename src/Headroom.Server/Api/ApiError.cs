using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.Api;

/// <summary>The one error shape of the API, OpenAI's: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record ApiErrorBody(ApiError Error);

public sealed record ApiError(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>Builders for every error status the API returns, so types and codes stay consistent.</summary>
public static class Errors
{
    public static IResult BadRequest(string message, string? param = null, string code = "invalid_request") =>
        Make(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static IResult MissingBody { get; } = BadRequest("The request needs a JSON body.", null, "missing_body");

    public static IResult Unauthorized(string message = "Missing or invalid credentials. Send 'Authorization: Bearer <key>'.") =>
        Make(StatusCodes.Status401Unauthorized, message, "authentication_error", null, "invalid_api_key");

    public static IResult Forbidden(string message) =>
        Make(StatusCodes.Status403Forbidden, message, "permission_error", null, "forbidden");

    /// <summary>Also the answer for another org's object: it must be indistinguishable from a missing one.</summary>
    public static IResult NotFound(string what, string id) =>
        Make(StatusCodes.Status404NotFound, $"No {what} with id '{id}'.", "invalid_request_error", "id", "not_found");

    public static IResult Conflict(string message, string code = "conflict", string? param = null) =>
        Make(StatusCodes.Status409Conflict, message, "invalid_request_error", param, code);

    public static IResult Unprocessable(string message, string? param = null, string code = "unprocessable") =>
        Make(StatusCodes.Status422UnprocessableEntity, message, "invalid_request_error", param, code);

    /// <summary>429 as OpenAI sends it when spend is capped: type and code <c>insufficient_quota</c>, with <c>Retry-After</c>.</summary>
    public static IResult InsufficientQuota(string message, TimeSpan retryAfter) =>
        new WithRetryAfter(Make(StatusCodes.Status429TooManyRequests, message, "insufficient_quota", null, "insufficient_quota"), retryAfter);

    public static IResult Make(int status, string message, string type, string? param, string? code) =>
        Results.Json(new ApiErrorBody(new ApiError(message, type, param, code)), Json.Options, statusCode: status);
}

/// <summary>An error result with a <c>Retry-After</c> header in whole seconds (at least 1).</summary>
internal sealed class WithRetryAfter(IResult inner, TimeSpan retryAfter) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        httpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return inner.ExecuteAsync(httpContext);
    }
}
