namespace Headroom.Store.Batches;

/// <summary>
/// An uploaded file (OpenAI's file object), scoped to an org and project. Its bytes live in <see cref="FileContentRow"/>,
/// apart, so listing files never reads them; in the database, so that every replica serves every file.
/// </summary>
public sealed class FileRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }

    /// <summary><c>batch</c> (an input), <c>batch_output</c> (a batch's output or error file).</summary>
    public required string Purpose { get; set; }

    public required string Filename { get; set; }
    public long Bytes { get; set; }

    /// <summary>Lower-case hex SHA-256 of the content.</summary>
    public required string Sha256 { get; set; }

    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class FileContentRow
{
    public required string FileId { get; set; }
    public required byte[] Content { get; set; }
}

/// <summary>
/// A batch (OpenAI's batch object) and the spot job that runs it. <see cref="Status"/> moves only forward, each step
/// by a conditional update on the status read, so the API, the batch loop and the worker never undo each other.
/// </summary>
public sealed class BatchRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }
    public required string Endpoint { get; set; }
    public required string InputFileId { get; set; }
    public required string CompletionWindow { get; set; }

    /// <summary>validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled.</summary>
    public required string Status { get; set; }

    /// <summary>OpenAI's <c>errors.data</c> as JSON, for a batch that failed validation; null otherwise.</summary>
    public string? Errors { get; set; }

    /// <summary>The user's metadata (at most 16 string pairs) as JSON; null when none.</summary>
    public string? Metadata { get; set; }

    public string? OutputFileId { get; set; }
    public string? ErrorFileId { get; set; }

    /// <summary>The spot job running the batch's worker; null for a batch that failed validation.</summary>
    public string? JobId { get; set; }

    /// <summary>The API key minted for the batch's worker (revoked when the batch ends); its calls are batch calls.</summary>
    public string? ApiKeyId { get; set; }

    public int TotalRequests { get; set; }
    public int CompletedRequests { get; set; }
    public int FailedRequests { get; set; }

    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? InProgressAt { get; set; }
    public DateTimeOffset? FinalizingAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public DateTimeOffset? FailedAt { get; set; }
    public DateTimeOffset? ExpiredAt { get; set; }
    public DateTimeOffset? CancellingAt { get; set; }
    public DateTimeOffset? CancelledAt { get; set; }
}
