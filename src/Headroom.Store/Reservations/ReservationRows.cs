namespace Headroom.Store.Reservations;

/// <summary>
/// A price offered for a capacity block, kept until <see cref="ExpiresAt"/> so a purchase buys exactly what was quoted.
/// Only ever inserted; <see cref="Slices"/> is the priced slices as JSON (the quote's answer shows them).
/// </summary>
public sealed class QuoteRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }

    /// <summary>The tier's code; only a <c>reserved</c> quote can be bought, the others state the current rate.</summary>
    public required string Tier { get; set; }
    public required string Region { get; set; }
    public required string GpuModel { get; set; }
    public int GpuCount { get; set; }
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public decimal Price { get; set; }
    public required string Currency { get; set; }
    public required string Slices { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// A bought capacity block. <see cref="QuoteId"/> is unique: a quote is bought at most once. A cancelled block keeps its
/// row with <see cref="CancelledAt"/> and the <see cref="Refund"/> credited; admission and the scheduler ignore it.
/// </summary>
public sealed class ReservationRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string ProjectId { get; set; }
    public required string QuoteId { get; set; }
    public required string Region { get; set; }
    public required string GpuModel { get; set; }
    public int GpuCount { get; set; }
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public decimal Price { get; set; }
    public required string Currency { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTimeOffset? CancelledAt { get; set; }
    public decimal? Refund { get; set; }
}
