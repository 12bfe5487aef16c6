namespace Headroom.Store.Models;

/// <summary>
/// One hosted-model call that used tokens, journaled before its response completed: the durable record the token
/// meter turns into <c>input_tokens</c> and <c>output_tokens</c> usage events. Inserted once (the request id is the
/// key, so a retried insert cannot count twice); <see cref="MeteredAt"/> is set once its events are in the ledger.
/// </summary>
public sealed class TokenJournalRow
{
    public required string RequestId { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }

    /// <summary>The API key that made the call; null for an OIDC caller (see <see cref="Actor"/>).</summary>
    public string? ApiKeyId { get; set; }

    public required string Actor { get; set; }
    public required string Model { get; set; }
    public string? Region { get; set; }
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }

    /// <summary>The counts were estimated with a tokenizer because the engine reported none (a cut stream, an upstream without usage).</summary>
    public bool Estimated { get; set; }

    /// <summary>The call came through the batch API (a batch's worker): its tokens are priced with the batch discount.</summary>
    public bool Batch { get; set; }

    /// <summary>
    /// Served by a dedicated deployment, whose GPU time is billed instead: the tier of its replicas. Its tokens are metered
    /// with that tier and listed at price 0. Null for calls billed per token.
    /// </summary>
    public string? DedicatedTier { get; set; }

    public DateTimeOffset ServedAt { get; set; }
    public DateTimeOffset? MeteredAt { get; set; }
}

/// <summary>
/// Requests and tokens counted for one rate-limit scope (<c>key:…</c>, <c>project:…</c>) in one fixed one-minute
/// window, shared by every replica on the database. Updated only by atomic conditional upserts.
/// </summary>
public sealed class RateWindowRow
{
    public required string Scope { get; set; }

    /// <summary>Unix seconds of the window's start (a multiple of 60).</summary>
    public long WindowStart { get; set; }

    public long Requests { get; set; }
    public long Tokens { get; set; }
}

/// <summary>
/// One request in flight, held against a scope's concurrency limit. Deleted when the request completes; a replica that
/// died holding one frees it at <see cref="ExpiresAt"/>.
/// </summary>
public sealed class RateLeaseRow
{
    public required string Scope { get; set; }
    public required string RequestId { get; set; }

    /// <summary>Unix seconds after which the lease no longer counts.</summary>
    public long ExpiresAt { get; set; }
}

/// <summary>
/// One model call of a project that keeps request logs (<see cref="Identity.ProjectRow.RetentionDays"/>): what was
/// asked and answered, with its metadata, readable by the project's admins and deleted by housekeeping after the
/// project's retention. Never written for a project without retention.
/// </summary>
public sealed class RequestLogRow
{
    /// <summary>A time-ordered id (<c>rlog_…</c>), the list's cursor.</summary>
    public required string Id { get; set; }

    /// <summary>The call id (<c>chatcmpl-…</c>), the one its usage events carry.</summary>
    public required string RequestId { get; set; }

    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }
    public required string Model { get; set; }

    /// <summary><c>chat.completions</c>, <c>completions</c> or <c>embeddings</c>.</summary>
    public required string Operation { get; set; }

    public string? ApiKeyId { get; set; }
    public required string Actor { get; set; }
    public string? Region { get; set; }
    public bool Stream { get; set; }
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }
    public bool Estimated { get; set; }
    public int Status { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset CompletedAt { get; set; }

    /// <summary>The request body as the caller sent it (JSON).</summary>
    public required string RequestBody { get; set; }

    /// <summary>The generated text (assembled from the chunks when streamed); null for embeddings and failed calls.</summary>
    public string? ResponseBody { get; set; }
}
