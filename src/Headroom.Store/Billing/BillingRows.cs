namespace Headroom.Store.Billing;

/// <summary>
/// One published price sheet version: the draft exactly as the fleet-admin submitted it (JSON, the API's shape),
/// numbered 1, 2, 3... Rows are only ever inserted; the sheet is rebuilt from them in order of <see cref="Number"/>.
/// </summary>
public sealed class PriceSheetVersionRow
{
    public int Number { get; set; }
    public DateTimeOffset EffectiveFrom { get; set; }
    public required string Currency { get; set; }

    /// <summary>The draft as JSON (effective_from, currency, gpu_rates, token_rates, batch_discount, spot).</summary>
    public required string Draft { get; set; }

    public DateTimeOffset PublishedAt { get; set; }
    public string PublishedBy { get; set; } = "";
}

/// <summary>
/// One sealed link of an org's usage ledger (<c>Headroom.Core.Metering.LedgerEntry</c>). Only ever inserted. The event
/// id is unique, so a replayed event cannot be stored twice; (org, seq) is unique, so two writers cannot both take the
/// same place in the chain. Codes are the frozen ones of <c>MeteringCodes</c>.
/// </summary>
public sealed class UsageEntryRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public long Seq { get; set; }
    public required string ProjectId { get; set; }
    public required string Meter { get; set; }
    public long Quantity { get; set; }
    public string? Tier { get; set; }
    public string? GpuModel { get; set; }
    public string? Region { get; set; }
    public string? Model { get; set; }
    public string? ApiKeyId { get; set; }
    public bool Batch { get; set; }
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public DateTimeOffset? NotChargedFrom { get; set; }

    /// <summary>Token counts estimated with a tokenizer because the engine reported none (a cut stream).</summary>
    public bool Estimated { get; set; }

    public DateTimeOffset RecordedAt { get; set; }
    public required string PrevHash { get; set; }
    public required string Hash { get; set; }
}
