using System.Text.Json;
using Headroom.Core.Batches;
using Headroom.Server.Api;
using Headroom.Store.Batches;

namespace Headroom.Server.Batches;

/// <summary>OpenAI's file object. Times are Unix seconds, as the OpenAI SDKs expect on this surface.</summary>
public sealed record FileView(string Id, long Bytes, long CreatedAt, string Filename, string Purpose, string ProjectId)
{
    public string Object => "file";

    /// <summary>Always <c>processed</c>: a file is usable once its upload is acknowledged.</summary>
    public string Status => "processed";

    internal static FileView Of(FileRow r) => new(r.Id, r.Bytes, r.CreatedAt.ToUnixTimeSeconds(), r.Filename, r.Purpose, r.ProjectId);
}

public sealed record DeletedFileView(string Id, bool Deleted)
{
    public string Object => "file";
}

public sealed record BatchRequestCounts(int Total, int Completed, int Failed);

public sealed record BatchErrorView(string Code, string Message, string? Param, int? Line);

public sealed record BatchErrorsView(IReadOnlyList<BatchErrorView> Data)
{
    public string Object => "list";
}

/// <summary>OpenAI's batch object, plus Headroom's <c>project_id</c> and <c>job_id</c> (the spot job that runs it).</summary>
public sealed record BatchView(
    string Id,
    string Endpoint,
    BatchErrorsView? Errors,
    string InputFileId,
    string CompletionWindow,
    string Status,
    string? OutputFileId,
    string? ErrorFileId,
    long CreatedAt,
    long? InProgressAt,
    long ExpiresAt,
    long? FinalizingAt,
    long? CompletedAt,
    long? FailedAt,
    long? ExpiredAt,
    long? CancellingAt,
    long? CancelledAt,
    BatchRequestCounts RequestCounts,
    IReadOnlyDictionary<string, string>? Metadata,
    string ProjectId,
    string? JobId)
{
    public string Object => "batch";

    internal static BatchView Of(BatchRow r) => new(
        r.Id, r.Endpoint,
        r.Errors is null ? null : new BatchErrorsView(JsonSerializer.Deserialize<List<BatchErrorView>>(r.Errors, Json.Options)!),
        r.InputFileId, r.CompletionWindow, r.Status, r.OutputFileId, r.ErrorFileId,
        r.CreatedAt.ToUnixTimeSeconds(), Unix(r.InProgressAt), r.ExpiresAt.ToUnixTimeSeconds(), Unix(r.FinalizingAt), Unix(r.CompletedAt),
        Unix(r.FailedAt), Unix(r.ExpiredAt), Unix(r.CancellingAt), Unix(r.CancelledAt),
        new BatchRequestCounts(r.TotalRequests, r.CompletedRequests, r.FailedRequests),
        r.Metadata is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(r.Metadata, Json.Options),
        r.ProjectId, r.JobId);

    internal static string WriteErrors(IEnumerable<BatchInputError> errors) =>
        JsonSerializer.Serialize(errors.Select(e => new BatchErrorView(e.Code, e.Message, e.Param, e.Line)).ToList(), Json.Options);

    private static long? Unix(DateTimeOffset? time) => time?.ToUnixTimeSeconds();
}

/// <summary>What <c>POST /v1/batches</c> takes, as the OpenAI SDKs send it.</summary>
public sealed record CreateBatchRequest(string? InputFileId, string? Endpoint, string? CompletionWindow, IReadOnlyDictionary<string, string>? Metadata);

/// <summary>The batch statuses, as OpenAI names them.</summary>
internal static class BatchStatus
{
    public const string Validating = "validating";
    public const string Failed = "failed";
    public const string InProgress = "in_progress";
    public const string Finalizing = "finalizing";
    public const string Completed = "completed";
    public const string Expired = "expired";
    public const string Cancelling = "cancelling";
    public const string Cancelled = "cancelled";

    /// <summary>Statuses the batch loop still watches.</summary>
    public static readonly string[] Open = [Validating, InProgress, Finalizing, Cancelling];
}
