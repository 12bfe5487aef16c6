namespace Headroom.Core.Audit;

/// <summary>What happened, as the server saw it, before <see cref="AuditChain.Seal"/> places it in the org's chain.</summary>
public sealed record AuditEntry(
    string Id,
    string OrgId,
    DateTimeOffset Time,
    string Actor,
    AuditActorType ActorType,
    string Action,
    string Target,
    string SourceAddress,
    AuditOutcome Outcome,
    int StatusCode,
    string RequestId,
    string? Detail = null);

/// <summary>
/// One sealed link of an org's audit chain. Every field, <see cref="PrevHash"/> included, is covered by
/// <see cref="Hash"/>; <see cref="Seq"/> counts 1, 2, 3... per org and <see cref="Time"/> is UTC truncated to
/// microseconds so that a round trip through SQLite or PostgreSQL keeps the hash valid.
/// </summary>
public sealed record AuditRecord(
    string Id,
    string OrgId,
    long Seq,
    DateTimeOffset Time,
    string Actor,
    AuditActorType ActorType,
    string Action,
    string Target,
    string SourceAddress,
    AuditOutcome Outcome,
    int StatusCode,
    string RequestId,
    string? Detail,
    string PrevHash,
    string Hash);

/// <summary>An externally kept (seq, hash) of an org's last record: the only way to notice that the tail was cut off.</summary>
public sealed record AuditAnchor(long Seq, string Hash)
{
    public static AuditAnchor Of(AuditRecord record) => new(record.Seq, record.Hash);
}
