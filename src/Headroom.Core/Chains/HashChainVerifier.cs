using Headroom.Core.Chains;
namespace Headroom.Core.Chains;

/// <summary>
/// Verifies one org's hash chain (the audit log, the usage ledger) a link at a time, in the order the store returns
/// them. Memory stays constant for an intact chain and grows only with the number of sequence gaps found.
/// </summary>
/// <remarks>
/// The verifier follows the chain's tip: the highest link accepted so far. Each link is first checked against
/// its own hash, then placed: it extends the tip (prev_hash links to it), leaves a gap (reported as deleted at the
/// end unless a later link fills it, which makes it a reordering), claims a seq that is already taken (inserted),
/// or competes with the tip for the same place, which the next link decides. A hash link outranks the seq field,
/// so an edited seq is reported once as an edit and does not cascade.
/// </remarks>
public sealed class HashChainVerifier
{
    private readonly string _orgId;
    private readonly ChainAnchor? _anchor;
    private readonly string _noun;
    private readonly List<Gap> _gaps = [];
    private Link _tip;
    private Link? _rival;
    private Link? _previous;
    private bool _anchorMatched;
    private bool _completed;

    /// <param name="genesis">The hash the org's first link chains from.</param>
    /// <param name="noun">What a link is called in messages: "record", "entry".</param>
    public HashChainVerifier(string orgId, string genesis, ChainAnchor? anchor, string noun)
    {
        ArgumentException.ThrowIfNullOrEmpty(orgId);
        _orgId = orgId;
        _anchor = anchor;
        _noun = noun;
        _tip = new Link(0, "", genesis, genesis, Parent: null);
    }

    public long Count { get; private set; }

    /// <summary>Checks the next stored link; returns what it reveals now (usually nothing).</summary>
    public IReadOnlyList<ChainFinding> Append(ChainLink record)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The verifier is already complete.");
        }
        Count++;
        List<ChainFinding>? findings = null;
        var computed = record.Computed;
        var edited = computed != record.Hash;
        if (edited)
        {
            Report(ref findings, ChainFindingKind.Edited, record.Seq, record.Id, $"Seq {record.Seq}: content does not match its hash.");
        }
        else if (record.OrgId != _orgId)
        {
            Report(ref findings, ChainFindingKind.Inserted, record.Seq, record.Id, $"Seq {record.Seq}: belongs to org '{record.OrgId}'.");
            return Done(findings);
        }

        if (_rival is { } rival)
        {
            _rival = null;
            if (rival.IsParentOf(record))
            {
                Report(ref findings, ChainFindingKind.Inserted, _tip.Seq, _tip.Id,
                    $"Seq {_tip.Seq}: not part of the chain; seq {record.Seq} (id {record.Id}) chains to the other {_noun} with that seq, id {rival.Id}.");
                Advance(rival);
            }
            else
            {
                ReportRival(ref findings, rival, _tip);
            }
        }

        var link = new Link(record.Seq, record.Id, record.Hash, computed, record.PrevHash);
        if (_tip.IsParentOf(record))
        {
            if (record.Seq != _tip.Seq + 1 && !edited)
            {
                Report(ref findings, ChainFindingKind.Inserted, record.Seq, record.Id,
                    $"Seq {record.Seq}: chains to seq {_tip.Seq} (id {_tip.Id}) but claims another seq; it was forged.");
            }
            else
            {
                // An edited seq was already reported; the hash link says where the link belongs.
                link = link with { Seq = _tip.Seq + 1 };
                Advance(link);
            }
        }
        else if (record.Seq == _tip.Seq + 1)
        {
            if (!edited)
            {
                Report(ref findings, ChainFindingKind.Inserted, record.Seq, record.Id,
                    $"Seq {record.Seq}: does not chain to seq {_tip.Seq} (id {_tip.Id}); one of the two was forged or replaced.");
            }
            Advance(link);
        }
        else if (record.Seq > _tip.Seq + 1)
        {
            _gaps.Add(new Gap(_tip.Seq + 1, record.Seq - 1, record.Id));
            Advance(link);
        }
        else if (record.Seq == _tip.Seq && _tip.Parent is not null && record.PrevHash == _tip.Parent)
        {
            _rival = link;
        }
        else if (TryFill(record.Seq))
        {
            // A gap exists only after some link, so there is a previous one.
            var previous = _previous.GetValueOrDefault();
            if (previous.Seq + 1 != record.Seq || !previous.IsParentOf(record))
            {
                Report(ref findings, ChainFindingKind.Reordered, record.Seq, record.Id,
                    $"Seq {record.Seq}: stored after seq {previous.Seq} (id {previous.Id}).");
            }
        }
        else if (!edited)
        {
            Report(ref findings, ChainFindingKind.Inserted, record.Seq, record.Id, $"Seq {record.Seq}: this seq is already taken.");
        }
        _previous = link;
        return Done(findings);
    }

    /// <summary>Ends the stream; returns the gaps never filled and what the anchor says about the tail.</summary>
    public IReadOnlyList<ChainFinding> Complete()
    {
        if (_completed)
        {
            throw new InvalidOperationException("The verifier is already complete.");
        }
        _completed = true;
        List<ChainFinding>? findings = null;
        if (_rival is { } rival)
        {
            if (_anchor is not null && _anchor.Seq == rival.Seq && rival.Carries(_anchor.Hash))
            {
                ReportRival(ref findings, _tip, rival);
                Advance(rival);
            }
            else
            {
                ReportRival(ref findings, rival, _tip);
            }
        }
        foreach (var gap in _gaps)
        {
            var range = gap.From == gap.To ? $"Seq {gap.From} is" : $"Seqs {gap.From}..{gap.To} are";
            Report(ref findings, ChainFindingKind.Deleted, gap.From, gap.Before, $"{range} missing (gap before id {gap.Before}).");
        }
        if (_anchor is not null)
        {
            if (_tip.Seq < _anchor.Seq)
            {
                Report(ref findings, ChainFindingKind.Truncated, _tip.Seq + 1, _tip.Id,
                    $"The chain ends at seq {_tip.Seq} but the anchor expects seq {_anchor.Seq}.");
            }
            else if (!_anchorMatched)
            {
                Report(ref findings, ChainFindingKind.AnchorMismatch, _anchor.Seq, "",
                    $"No {_noun} at seq {_anchor.Seq} carries the anchor's hash {_anchor.Hash}; the chain was rewritten.");
            }
        }
        return Done(findings);
    }

    private void Advance(Link link)
    {
        _tip = link;
        if (_anchor is not null && link.Seq == _anchor.Seq && link.Carries(_anchor.Hash))
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

    private static IReadOnlyList<ChainFinding> Done(List<ChainFinding>? findings) => (IReadOnlyList<ChainFinding>?)findings ?? [];

    private static void ReportRival(ref List<ChainFinding>? findings, Link forged, Link genuine) =>
        Report(ref findings, ChainFindingKind.Inserted, forged.Seq, forged.Id,
            $"Seq {forged.Seq}: claims the same place as id {genuine.Id}; only one of them belongs to the chain.");

    private static void Report(ref List<ChainFinding>? findings, ChainFindingKind kind, long seq, string id, string message) =>
        (findings ??= []).Add(new ChainFinding(kind, seq, id, message));

    /// <summary>What the verifier keeps of a link. Computed is the content's hash, which a successor may also link to when only the stored hash was edited.</summary>
    private readonly record struct Link(long Seq, string Id, string Hash, string? Computed, string? Parent)
    {
        public bool IsParentOf(ChainLink link) => Carries(link.PrevHash);

        public bool Carries(string hash) => hash == Hash || (Computed is not null && hash == Computed);
    }

    private readonly record struct Gap(long From, long To, string Before);
}
