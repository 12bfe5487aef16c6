using Headroom.Core.Chains;

namespace Headroom.Core.Metering;

/// <summary>
/// One sealed link of an org's usage ledger. Every field of <see cref="Event"/>, <see cref="Seq"/>,
/// <see cref="RecordedAt"/> and <see cref="PrevHash"/> is covered by <see cref="Hash"/>; <see cref="Seq"/> counts
/// 1, 2, 3... per org, and times are UTC truncated to microseconds so that a round trip through SQLite or PostgreSQL
/// keeps the hash valid.
/// </summary>
public sealed record LedgerEntry(long Seq, UsageEvent Event, DateTimeOffset RecordedAt, string PrevHash, string Hash)
{
    public string EventId => Event.Id;

    public string OrgId => Event.OrgId;
}

/// <summary>An externally kept (seq, hash) of an org's last entry: the only way to notice that the tail was cut off.</summary>
public sealed record LedgerAnchor(long Seq, string Hash)
{
    public static LedgerAnchor Of(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new(entry.Seq, entry.Hash);
    }
}


/// <summary>
/// One thing wrong with a ledger chain. <see cref="EventId"/> is the entry the finding is about; for missing entries
/// (<see cref="ChainFindingKind.Deleted"/>, <see cref="ChainFindingKind.Truncated"/>) it is the nearest entry present,
/// or empty when there is none.
/// </summary>
public sealed record LedgerFinding(ChainFindingKind Kind, long Seq, string EventId, string Message);
