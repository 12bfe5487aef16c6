namespace Headroom.Store.Api;

/// <summary>
/// The first response to a POST carrying an <c>Idempotency-Key</c>, replayed for the same key and body.
/// Keyed by the caller's org so one tenant's keys never collide with another's.
/// </summary>
public sealed class IdempotencyRow
{
    public required string OrgId { get; set; }
    public required string Key { get; set; }
    public required string RequestHash { get; set; }
    public int StatusCode { get; set; }
    public string ContentType { get; set; } = "";
    public required byte[] Body { get; set; }
    public string Location { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>
    /// Who holds the claim while the first request runs: <c>replica-id#instance</c>, where the instance is new on every
    /// start of the process. A claim of this replica's earlier instance was left by a process that died.
    /// </summary>
    public string ClaimedBy { get; set; } = "";

    /// <summary>When the first request's writes were committed (null: nothing it did is in the store).</summary>
    public DateTimeOffset? AppliedAt { get; set; }
}
