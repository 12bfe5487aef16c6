namespace Headroom.Core.Metering;

/// <summary>
/// Verifies one org's chain an entry at a time, in the order the store returns them. Memory stays constant for an
/// intact chain and grows only with the number of sequence gaps found.
/// </summary>
/// <remarks>
/// The verifier follows the chain's tip: the highest entry accepted so far. Each entry is first checked against
/// its own hash, then placed: it extends the tip (prev_hash links to it), leaves a gap (reported as deleted at the
/// end unless a later entry fills it, which makes it a reordering), claims a seq that is already taken (inserted),
/// or competes with the tip for the same place, which the next entry decides. A hash link outranks the seq field,
/// so an edited seq is reported once as an edit and does not cascade. The algorithm is the audit chain's
/// (<c>Audit/AuditChainVerifier.cs</c>), applied to usage entries; a fix to one belongs in both.
/// </remarks>
public sealed class UsageLedgerVerifier
{
    private readonly string _orgId;
    private readonly LedgerAnchor? _anchor;
    private readonly List<Gap> _gaps = [];
    private Link _tip;
    private Link? _rival;
    private Link? _previous;
    private bool _anchorMatched;
    private bool _completed;

    public UsageLedgerVerifier(string orgId, LedgerAnchor? anchor = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(orgId);
        _orgId = orgId;
        _anchor = anchor;
        var genesis = LedgerHash.Genesis(orgId);
        _tip = new Link(0, "", genesis, genesis, Parent: null);
    }

    public long EntryCount { get; private set; }

    /// <summary>Checks the next stored entry; returns what it reveals now (usually nothing).</summary>
    public IReadOnlyList<LedgerFinding> Append(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (_completed)
        {
            throw new InvalidOperationException("The verifier is already complete.");
        }
        EntryCount++;
        List<LedgerFinding>? findings = null;
        var computed = LedgerHash.Compute(entry);
        var edited = computed != entry.Hash;
        if (edited)
        {
            Report(ref findings, LedgerFindingKind.Edited, entry.Seq, entry.EventId, $"Seq {entry.Seq}: content does not match its hash.");
        }
        else if (entry.OrgId != _orgId)
        {
            Report(ref findings, LedgerFindingKind.Inserted, entry.Seq, entry.EventId, $"Seq {entry.Seq}: belongs to org '{entry.OrgId}'.");
            return Done(findings);
        }

        if (_rival is { } rival)
        {
            _rival = null;
            if (rival.IsParentOf(entry))
            {
                Report(ref findings, LedgerFindingKind.Inserted, _tip.Seq, _tip.Id,
                    $"Seq {_tip.Seq}: not part of the chain; seq {entry.Seq} (id {entry.EventId}) chains to the other entry with that seq, id {rival.Id}.");
                _tip = rival;
            }
            else
            {
                ReportRival(ref findings, rival, _tip);
            }
        }

        var link = new Link(entry.Seq, entry.EventId, entry.Hash, computed, entry.PrevHash);
        if (_tip.IsParentOf(entry))
        {
            if (entry.Seq != _tip.Seq + 1 && !edited)
            {
                Report(ref findings, LedgerFindingKind.Inserted, entry.Seq, entry.EventId,
                    $"Seq {entry.Seq}: chains to seq {_tip.Seq} (id {_tip.Id}) but claims another seq; it was forged.");
                _previous = link;
                return Done(findings);
            }
            // An edited seq was already reported; the hash link says where the entry belongs.
            Advance(link with { Seq = _tip.Seq + 1 }, entry);
        }
        else if (entry.Seq == _tip.Seq + 1)
        {
            if (!edited)
            {
                Report(ref findings, LedgerFindingKind.Inserted, entry.Seq, entry.EventId,
                    $"Seq {entry.Seq}: does not chain to seq {_tip.Seq} (id {_tip.Id}); one of the two was forged or replaced.");
            }
            Advance(link, entry);
        }
        else if (entry.Seq > _tip.Seq + 1)
        {
            _gaps.Add(new Gap(_tip.Seq + 1, entry.Seq - 1, entry.EventId));
            Advance(link, entry);
        }
        else if (entry.Seq == _tip.Seq && _tip.Parent is not null && entry.PrevHash == _tip.Parent)
        {
            _rival = link;
        }
        else if (TryFill(entry.Seq))
        {
            if (_previous is not { } previous || previous.Seq + 1 != entry.Seq || !previous.IsParentOf(entry))
            {
                var after = _previous is { } p ? $"after seq {p.Seq} (id {p.Id})" : "first";
                Report(ref findings, LedgerFindingKind.Reordered, entry.Seq, entry.EventId, $"Seq {entry.Seq}: stored {after}.");
            }
        }
        else if (!edited)
        {
            Report(ref findings, LedgerFindingKind.Inserted, entry.Seq, entry.EventId, $"Seq {entry.Seq}: this seq is already taken.");
        }
        _previous = link;
        return Done(findings);
    }

    /// <summary>Ends the stream; returns the gaps never filled and what the anchor says about the tail.</summary>
    public IReadOnlyList<LedgerFinding> Complete()
    {
        if (_completed)
        {
            throw new InvalidOperationException("The verifier is already complete.");
        }
        _completed = true;
        List<LedgerFinding>? findings = null;
        if (_rival is { } rival)
        {
            if (_anchor is not null && _anchor.Seq == rival.Seq && (rival.Hash == _anchor.Hash || rival.Computed == _anchor.Hash))
            {
                _anchorMatched = true;
                ReportRival(ref findings, _tip, rival);
            }
            else
            {
                ReportRival(ref findings, rival, _tip);
            }
        }
        foreach (var gap in _gaps)
        {
            var range = gap.From == gap.To ? $"Seq {gap.From} is" : $"Seqs {gap.From}..{gap.To} are";
            Report(ref findings, LedgerFindingKind.Deleted, gap.From, gap.Before, $"{range} missing (gap before id {gap.Before}).");
        }
        if (_anchor is not null)
        {
            if (_tip.Seq < _anchor.Seq)
            {
                Report(ref findings, LedgerFindingKind.Truncated, _tip.Seq + 1, _tip.Id,
                    $"The chain ends at seq {_tip.Seq} but the anchor expects seq {_anchor.Seq}.");
            }
            else if (!_anchorMatched)
            {
                Report(ref findings, LedgerFindingKind.AnchorMismatch, _anchor.Seq, "",
                    $"No entry at seq {_anchor.Seq} carries the anchor's hash {_anchor.Hash}; the chain was rewritten.");
            }
        }
        return Done(findings);
    }

    private void Advance(Link link, LedgerEntry entry)
    {
        _tip = link;
        if (_anchor is not null && link.Seq == _anchor.Seq && (entry.Hash == _anchor.Hash || link.Computed == _anchor.Hash))
        {
            _anchorMatched = true;
        }
    }

    private bool TryFill(long seq)
    {
        var index = _gaps.FindIndex(g => g.From <= seq && seq <= g.To);
        if (index < 0)
        {
            return false;
        }
        var gap = _gaps[index];
        _gaps.RemoveAt(index);
        if (seq < gap.To)
        {
            _gaps.Insert(index, gap with { From = seq + 1 });
        }
        if (gap.From < seq)
        {
            _gaps.Insert(index, gap with { To = seq - 1 });
        }
        return true;
    }

    private static IReadOnlyList<LedgerFinding> Done(List<LedgerFinding>? findings) => (IReadOnlyList<LedgerFinding>?)findings ?? [];

    private static void ReportRival(ref List<LedgerFinding>? findings, Link forged, Link genuine) =>
        Report(ref findings, LedgerFindingKind.Inserted, forged.Seq, forged.Id,
            $"Seq {forged.Seq}: claims the same place as id {genuine.Id}; only one of them belongs to the chain.");

    private static void Report(ref List<LedgerFinding>? findings, LedgerFindingKind kind, long seq, string id, string message) =>
        (findings ??= []).Add(new LedgerFinding(kind, seq, id, message));

    /// <summary>What the verifier keeps of an entry. Computed is the content's hash, which a successor may also link to when only the stored hash was edited.</summary>
    private readonly record struct Link(long Seq, string Id, string Hash, string? Computed, string? Parent)
    {
        public bool IsParentOf(LedgerEntry entry) => entry.PrevHash == Hash || (Computed is not null && entry.PrevHash == Computed);
    }

    private readonly record struct Gap(long From, long To, string Before);
}
