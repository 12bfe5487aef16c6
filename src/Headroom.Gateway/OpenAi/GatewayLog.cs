using Microsoft.Extensions.Logging;

namespace Headroom.Gateway.OpenAi;

/// <summary>Gateway log messages; event ids are stable (5000-5099). No prompt or completion text is ever logged.</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(5001, LogLevel.Warning, "Replica {Replica} of {Model} failed request {RequestId}; retrying on another replica")]
    public static partial void RetryingOnAnotherReplica(ILogger logger, string model, string replica, string requestId, Exception exception);

    [LoggerMessage(5002, LogLevel.Warning, "Request {RequestId} for {Model} failed after the stream started on replica {Replica}")]
    public static partial void StreamCut(ILogger logger, string model, string? replica, string requestId, Exception exception);

    [LoggerMessage(5003, LogLevel.Error, "Request {RequestId} for {Model} failed with an unexpected error")]
    public static partial void Unexpected(ILogger logger, string model, string requestId, Exception exception);

    [LoggerMessage(5004, LogLevel.Error, "Usage of request {RequestId} for {Model} could not be reported; the request is not acknowledged")]
    public static partial void ReportFailed(ILogger logger, string model, string requestId, Exception exception);
}
