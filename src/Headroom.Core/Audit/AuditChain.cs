using System.Text;

namespace Headroom.Core.Audit;

public static class AuditChain
{
    /// <summary>
    /// Seals <paramref name="entry"/> as the successor of <paramref name="previous"/> (null for the org's first record):
    /// seq + 1, prev_hash = previous hash (or the org's genesis value), time truncated to UTC microseconds.
    /// </summary>
    public static AuditRecord Seal(AuditRecord? previous, AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentException.ThrowIfNullOrEmpty(entry.Id);
        ArgumentException.ThrowIfNullOrEmpty(entry.OrgId);
        var orgId = Scrub(entry.OrgId);
        if (previous is not null && previous.OrgId != orgId)
        {
            throw new ArgumentException($"Entry of org '{orgId}' cannot follow a record of org '{previous.OrgId}'.", nameof(entry));
        }
        // Throws for enum values without a code: there would be nothing to hash.
        _ = entry.ActorType.ToCode();
        _ = entry.Outcome.ToCode();

        var unsealed = new AuditRecord(
            Scrub(entry.Id),
            orgId,
            (previous?.Seq ?? 0) + 1,
            AuditHash.TruncateToMicroseconds(entry.Time),
            Scrub(entry.Actor),
            entry.ActorType,
            Scrub(entry.Action),
            Scrub(entry.Target),
            Scrub(entry.SourceAddress),
            entry.Outcome,
            entry.StatusCode,
            Scrub(entry.RequestId),
            entry.Detail is null ? null : Scrub(entry.Detail),
            previous?.Hash ?? AuditHash.Genesis(orgId),
            Hash: "");
        // Never null: every text is scrubbed and both codes exist.
        return unsealed with { Hash = AuditHash.Compute(unsealed)! };
    }

    /// <summary>
    /// Checks one org's records in the order the store returned them, in constant memory for an intact chain.
    /// Pass the externally kept <paramref name="anchor"/> to also catch a cut-off tail.
    /// </summary>
    public static IReadOnlyList<AuditFinding> Verify(string orgId, IEnumerable<AuditRecord> records, AuditAnchor? anchor = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        var verifier = new AuditChainVerifier(orgId, anchor);
        var findings = new List<AuditFinding>();
        foreach (var record in records)
        {
            findings.AddRange(verifier.Append(record));
        }
        findings.AddRange(verifier.Complete());
        return findings;
    }

    /// <inheritdoc cref="Verify"/>
    public static async Task<IReadOnlyList<AuditFinding>> VerifyAsync(
        string orgId, IAsyncEnumerable<AuditRecord> records, AuditAnchor? anchor = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var verifier = new AuditChainVerifier(orgId, anchor);
        var findings = new List<AuditFinding>();
        await foreach (var record in records.WithCancellation(cancellationToken))
        {
            findings.AddRange(verifier.Append(record));
        }
        findings.AddRange(verifier.Complete());
        return findings;
    }

    // A lone surrogate cannot be stored by PostgreSQL nor encoded canonically; U+FFFD keeps the record sealable.
    private static string Scrub(string value) =>
        value.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(value)) : value;
}
