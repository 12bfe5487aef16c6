using Headroom.Core.Chains;

namespace Headroom.Core.Audit;

/// <summary>
/// The canonical form that is hashed (format v1, see README.md). Every field is length-prefixed or fixed-width, so no
/// two different records share a byte string; prev_hash is the last field, so hash = SHA-256(fields || prev_hash).
/// </summary>
internal static class AuditHash
{
    private const string RecordTag = "headroom.audit.record.v1";
    private const string GenesisTag = "headroom.audit.genesis.v1";

    /// <summary>The prev_hash of an org's first record: distinct per org, so one org's chain cannot be passed off as another's.</summary>
    public static string Genesis(string orgId) => CanonicalWriter.Genesis(GenesisTag, orgId);

    /// <summary>
    /// The hash the record's content calls for, or null when the record cannot be canonically encoded (a lone
    /// surrogate or an unknown enum value): Seal never produces such a record, so it was edited.
    /// </summary>
    public static string? Compute(AuditRecord record)
    {
        var writer = new CanonicalWriter();
        writer.Text(RecordTag);
        writer.Text(record.Id);
        writer.Text(record.OrgId);
        writer.Int64(record.Seq);
        writer.Time(record.Time);
        writer.Text(record.Actor);
        writer.Text(AuditCodes.TryCode(record.ActorType));
        writer.Text(record.Action);
        writer.Text(record.Target);
        writer.Text(record.SourceAddress);
        writer.Text(AuditCodes.TryCode(record.Outcome));
        writer.Int32(record.StatusCode);
        writer.Text(record.RequestId);
        writer.OptionalText(record.Detail);
        writer.Text(record.PrevHash);
        return writer.Hash();
    }

    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset time) => CanonicalWriter.TruncateToMicroseconds(time);
}
