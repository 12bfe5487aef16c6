using Headroom.Core.Chains;

namespace Headroom.Core.Metering;

/// <summary>
/// Verifies one org's usage ledger an entry at a time, in the order the store returns them; the algorithm is the
/// shared <see cref="HashChainVerifier"/> (the audit log's too), fed with each entry's recomputed hash.
/// </summary>
public sealed class UsageLedgerVerifier(string orgId, LedgerAnchor? anchor = null)
{
    private readonly HashChainVerifier _chain = new(
        orgId, LedgerHash.Genesis(orgId), anchor is null ? null : new ChainAnchor(anchor.Seq, anchor.Hash), "entry");

    public long EntryCount => _chain.Count;

    /// <summary>Checks the next stored entry; returns what it reveals now (usually nothing).</summary>
    public IReadOnlyList<LedgerFinding> Append(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Map(_chain.Append(new ChainLink(entry.Seq, entry.EventId, entry.OrgId, entry.Hash, LedgerHash.Compute(entry), entry.PrevHash)));
    }

    /// <summary>Ends the stream; returns the gaps never filled and what the anchor says about the tail.</summary>
    public IReadOnlyList<LedgerFinding> Complete() => Map(_chain.Complete());

    private static IReadOnlyList<LedgerFinding> Map(IReadOnlyList<ChainFinding> findings) =>
        findings.Count == 0 ? [] : [.. findings.Select(f => new LedgerFinding(f.Kind, f.Seq, f.Id, f.Message))];
}
