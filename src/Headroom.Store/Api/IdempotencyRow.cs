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
}
