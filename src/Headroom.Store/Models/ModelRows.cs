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
