using Headroom.Core.Chains;

namespace Headroom.Core.Audit;

/// <summary>
/// Verifies one org's audit chain a record at a time, in the order the store returns them; the algorithm is the
/// shared <see cref="HashChainVerifier"/>, fed with each record's recomputed hash.
/// </summary>
public sealed class AuditChainVerifier(string orgId, AuditAnchor? anchor = null)
{
    private readonly HashChainVerifier _chain = new(
        orgId, AuditHash.Genesis(orgId), anchor is null ? null : new ChainAnchor(anchor.Seq, anchor.Hash), "record");

    public long RecordCount => _chain.Count;

    /// <summary>Checks the next stored record; returns what it reveals now (usually nothing).</summary>
    public IReadOnlyList<AuditFinding> Append(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return Map(_chain.Append(new ChainLink(record.Seq, record.Id, record.OrgId, record.Hash, AuditHash.Compute(record), record.PrevHash)));
    }

    /// <summary>Ends the stream; returns the gaps never filled and what the anchor says about the tail.</summary>
    public IReadOnlyList<AuditFinding> Complete() => Map(_chain.Complete());

    private static IReadOnlyList<AuditFinding> Map(IReadOnlyList<ChainFinding> findings) =>
        findings.Count == 0 ? [] : [.. findings.Select(f => new AuditFinding(f.Kind, f.Seq, f.Id, f.Message))];
}
