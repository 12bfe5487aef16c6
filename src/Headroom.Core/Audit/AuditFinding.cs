namespace Headroom.Core.Audit;

public enum AuditFindingKind
{
    /// <summary>The record's content does not match its hash.</summary>
    Edited,
    /// <summary>Sequence numbers are missing inside the chain.</summary>
    Deleted,
    /// <summary>A record whose place in the chain does not fit: forged, replaced, duplicated or from another org.</summary>
    Inserted,
    /// <summary>A record is stored out of sequence order.</summary>
    Reordered,
    /// <summary>The chain ends before the anchor's seq.</summary>
    Truncated,
    /// <summary>The record at the anchor's seq does not carry the anchor's hash: the chain was rewritten up to there.</summary>
    AnchorMismatch,
}

/// <summary>
/// One thing wrong with a chain. <see cref="RecordId"/> is the record the finding is about; for missing records
/// (<see cref="AuditFindingKind.Deleted"/>, <see cref="AuditFindingKind.Truncated"/>) it is the nearest record present,
/// or empty when there is none.
/// </summary>
public sealed record AuditFinding(AuditFindingKind Kind, long Seq, string RecordId, string Message);
