using Headroom.Core.Chains;

namespace Headroom.Core.Metering;

/// <summary>
/// The canonical form of a ledger entry that is hashed (format v1, and v2 for estimated token counts; see Pricing/README.md). Every field is
/// length-prefixed, fixed-width or preceded by a presence byte, so no two different entries share a byte string;
/// prev_hash is the last field, so hash = SHA-256(fields || prev_hash). Field order is frozen.
/// </summary>
internal static class LedgerHash
{
    private const string EntryTag = "headroom.usage.entry.v1";

    // An entry with estimated token counts is v2: v1 plus flag(estimated) before prev_hash. Every other entry keeps
    // v1, so chains written before the flag existed verify unchanged; the tag keeps the two forms apart.
    private const string EstimatedEntryTag = "headroom.usage.entry.v2";
    private const string GenesisTag = "headroom.usage.genesis.v1";

    /// <summary>The prev_hash of an org's first entry: distinct per org, so one org's chain cannot be passed off as another's.</summary>
    public static string Genesis(string orgId) => CanonicalWriter.Genesis(GenesisTag, orgId);

    /// <summary>
    /// The hash the entry's content calls for, or null when it cannot be canonically encoded (a missing field, a lone
    /// surrogate or an unknown enum value): Seal never produces such an entry, so it was edited.
    /// </summary>
    public static string? Compute(LedgerEntry entry)
    {
        var e = entry.Event;
        if (e?.Dimensions is null)
        {
            return null;
        }
        var d = e.Dimensions;
        var writer = new CanonicalWriter();
        writer.Text(e.Estimated ? EstimatedEntryTag : EntryTag);
        writer.Int64(entry.Seq);
        writer.Text(e.Id);
        writer.Text(e.OrgId);
        writer.Text(e.ProjectId);
        writer.Text(MeteringCodes.TryCode(e.Meter));
        writer.Int64(e.Quantity);
        writer.OptionalText(d.Tier is { } tier ? MeteringCodes.TierCode(tier) ?? "\uD800" : null);
        writer.OptionalText(d.GpuModel);
        writer.OptionalText(d.Region);
        writer.OptionalText(d.Model);
        writer.OptionalText(d.ApiKeyId);
        writer.Flag(d.Batch);
        writer.Time(e.Start);
        writer.Time(e.End);
        writer.Flag(e.NotChargedFrom is not null);
        if (e.NotChargedFrom is { } notice)
        {
            writer.Time(notice);
        }
        writer.Time(entry.RecordedAt);
        if (e.Estimated)
        {
            writer.Flag(true);
        }
        writer.Text(entry.PrevHash);
        return writer.Hash();
    }

    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset time) => CanonicalWriter.TruncateToMicroseconds(time);
}
