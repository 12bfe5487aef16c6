namespace Headroom.Store.Audit;

/// <summary>
/// One audit record as stored. Rows are only ever inserted; (org, seq) is unique, so two replicas
/// appending to the same org's chain at once cannot both win the same place.
/// </summary>
public sealed class AuditRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public long Seq { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string ActorType { get; set; }
    public required string Actor { get; set; }
    public required string Action { get; set; }
    public string Target { get; set; } = "";
    public string Source { get; set; } = "";
    public required string Result { get; set; }
    public int StatusCode { get; set; }
    public string RequestId { get; set; } = "";
    public string? Detail { get; set; }
    public required string PrevHash { get; set; }
    public required string Hash { get; set; }
}
