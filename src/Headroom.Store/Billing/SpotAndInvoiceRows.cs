namespace Headroom.Store.Billing;

/// <summary>
/// One published spot price (<c>Headroom.Core.Pricing.SpotPricePoint</c>): from <see cref="Time"/> until the pool's next
/// point, spot GPU time in region × GPU model costs <see cref="PerGpuHour"/>. Only ever inserted; the key (region, GPU
/// model, time) keeps two replicas from publishing two prices for the same second.
/// </summary>
public sealed class SpotPricePointRow
{
    public required string Region { get; set; }
    public required string GpuModel { get; set; }
    public DateTimeOffset Time { get; set; }
    public decimal PerGpuHour { get; set; }
    public long UsedMilliGpus { get; set; }
    public long TotalMilliGpus { get; set; }
    public int SheetVersion { get; set; }
}

/// <summary>
/// An issued invoice: one per org and billing period, inserted once and never updated. <see cref="Document"/> is the
/// invoice as the API shows it (JSON: lines, credits, totals as decimal strings, problems); <see cref="LastSeq"/> and
/// <see cref="EventsHash"/> pin the usage events it was built from, so <c>billing verify</c> recomputes it from exactly
/// those and notices an event added, removed or edited since.
/// </summary>
public sealed class InvoiceRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public DateTimeOffset PeriodStart { get; set; }
    public DateTimeOffset PeriodEnd { get; set; }
    public required string Currency { get; set; }

    /// <summary>The total as a decimal string, for lists; the document is authoritative.</summary>
    public required string Total { get; set; }

    public required string Document { get; set; }

    /// <summary>The org's ledger seq at issue: the invoice covers the period's events with seq ≤ this.</summary>
    public long LastSeq { get; set; }

    /// <summary>The hash of the ledger entry at <see cref="LastSeq"/> (the chain head at issue), or empty for none.</summary>
    public required string ChainHead { get; set; }

    /// <summary>SHA-256 over the hashes of the covered events in seq order (hex).</summary>
    public required string EventsHash { get; set; }

    public int EventCount { get; set; }
    public DateTimeOffset IssuedAt { get; set; }
}
