using Headroom.Core.Chains;

namespace Headroom.Core.Audit;

/// <summary>
/// One thing wrong with an audit chain. <see cref="RecordId"/> is the record the finding is about; for missing records
/// (<see cref="ChainFindingKind.Deleted"/>, <see cref="ChainFindingKind.Truncated"/>) it is the nearest record present,
/// or empty when there is none.
/// </summary>
public sealed record AuditFinding(ChainFindingKind Kind, long Seq, string RecordId, string Message);
