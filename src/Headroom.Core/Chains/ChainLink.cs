using Headroom.Core.Chains;
namespace Headroom.Core.Chains;

/// <summary>
/// One link of a hash chain as the verifier needs it: where it claims to be (<see cref="Seq"/>), what it stores
/// (<see cref="Hash"/>, <see cref="PrevHash"/>) and the hash of its content recomputed (<see cref="Computed"/>,
/// null when the content cannot be encoded, which counts as an edit).
/// </summary>
public readonly record struct ChainLink(long Seq, string Id, string OrgId, string Hash, string? Computed, string PrevHash);

/// <summary>An externally kept (seq, hash) of an org's last link: the only way to notice that the tail was cut off.</summary>
public sealed record ChainAnchor(long Seq, string Hash);

public enum ChainFindingKind
{
    /// <summary>The link's content does not match its hash.</summary>
    Edited,
    /// <summary>Sequence numbers are missing inside the chain.</summary>
    Deleted,
    /// <summary>A link whose place in the chain does not fit: forged, replaced, duplicated or from another org.</summary>
    Inserted,
    /// <summary>A link is stored out of sequence order.</summary>
    Reordered,
    /// <summary>The chain ends before the anchor's seq.</summary>
    Truncated,
    /// <summary>The link at the anchor's seq does not carry the anchor's hash: the chain was rewritten up to there.</summary>
    AnchorMismatch,
}

/// <summary>
/// One thing wrong with a chain. <see cref="Id"/> is the link the finding is about; for missing links
/// (<see cref="ChainFindingKind.Deleted"/>, <see cref="ChainFindingKind.Truncated"/>) it is the nearest link present,
/// or empty when there is none.
/// </summary>
public sealed record ChainFinding(ChainFindingKind Kind, long Seq, string Id, string Message);
