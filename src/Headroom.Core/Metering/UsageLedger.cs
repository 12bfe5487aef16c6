using System.Text;

namespace Headroom.Core.Metering;

/// <summary>The per-org hash chain over usage events: seal on append, verify as a stream.</summary>
public static class UsageLedger
{
    /// <summary>The prev_hash of an org's first entry.</summary>
    public static string Genesis(string orgId)
    {
        ArgumentException.ThrowIfNullOrEmpty(orgId);
        return LedgerHash.Genesis(orgId);
    }

    /// <summary>
    /// Seals <paramref name="usage"/> as the successor of <paramref name="previous"/> (null for the org's first entry):
    /// seq + 1, prev_hash = previous hash (or the org's genesis value), times truncated to UTC microseconds. The caller
    /// validates the event first (<see cref="UsageEvent.Validate"/>) and drops replays by id before sealing.
    /// </summary>
    public static LedgerEntry Seal(LedgerEntry? previous, UsageEvent usage, DateTimeOffset recordedAt)
    {
        ArgumentNullException.ThrowIfNull(usage);
        ArgumentNullException.ThrowIfNull(usage.Dimensions);
        ArgumentException.ThrowIfNullOrEmpty(usage.Id);
        ArgumentException.ThrowIfNullOrEmpty(usage.OrgId);
        if (previous is not null && previous.OrgId != usage.OrgId)
        {
            throw new ArgumentException($"An event of org '{usage.OrgId}' cannot follow an entry of org '{previous.OrgId}'.", nameof(usage));
        }
        _ = usage.Meter.ToCode();
        if (usage.Dimensions.Tier is { } tier && MeteringCodes.TierCode(tier) is null)
        {
            throw new ArgumentOutOfRangeException(nameof(usage), tier, "Unknown tier.");
        }
        var d = usage.Dimensions;
        var normalized = usage with
        {
            Id = Scrub(usage.Id),
            OrgId = Scrub(usage.OrgId),
            ProjectId = Scrub(usage.ProjectId),
            Dimensions = d with
            {
                GpuModel = ScrubOptional(d.GpuModel),
                Region = ScrubOptional(d.Region),
                Model = ScrubOptional(d.Model),
                ApiKeyId = ScrubOptional(d.ApiKeyId),
            },
            Start = LedgerHash.TruncateToMicroseconds(usage.Start),
            End = LedgerHash.TruncateToMicroseconds(usage.End),
            NotChargedFrom = usage.NotChargedFrom is { } notice ? LedgerHash.TruncateToMicroseconds(notice) : null,
        };
        var unsealed = new LedgerEntry(
            (previous?.Seq ?? 0) + 1,
            normalized,
            LedgerHash.TruncateToMicroseconds(recordedAt),
            previous?.Hash ?? LedgerHash.Genesis(normalized.OrgId),
            Hash: "");
        return unsealed with { Hash = LedgerHash.Compute(unsealed)! };
    }

    /// <summary>
    /// Checks one org's entries in the order the store returned them, in constant memory for an intact chain. Pass the
    /// externally kept <paramref name="anchor"/> to also catch a cut-off tail.
    /// </summary>
    public static IReadOnlyList<LedgerFinding> Verify(string orgId, IEnumerable<LedgerEntry> entries, LedgerAnchor? anchor = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var verifier = new UsageLedgerVerifier(orgId, anchor);
        var findings = new List<LedgerFinding>();
        foreach (var entry in entries)
        {
            findings.AddRange(verifier.Append(entry));
        }
        findings.AddRange(verifier.Complete());
        return findings;
    }

    /// <inheritdoc cref="Verify"/>
    public static async Task<IReadOnlyList<LedgerFinding>> VerifyAsync(
        string orgId, IAsyncEnumerable<LedgerEntry> entries, LedgerAnchor? anchor = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var verifier = new UsageLedgerVerifier(orgId, anchor);
        var findings = new List<LedgerFinding>();
        await foreach (var entry in entries.WithCancellation(cancellationToken))
        {
            findings.AddRange(verifier.Append(entry));
        }
        findings.AddRange(verifier.Complete());
        return findings;
    }

    // A lone surrogate cannot be stored by PostgreSQL nor encoded canonically; U+FFFD keeps the entry sealable.
    private static string Scrub(string value) =>
        value.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(value)) : value;

    private static string? ScrubOptional(string? value) => value is null ? null : Scrub(value);
}
