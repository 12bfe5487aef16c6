using Headroom.Core.Pricing;
using Headroom.Server.Billing;
using Headroom.Store.Reservations;

namespace Headroom.Server.Reservations;

/// <summary>What <c>POST /v1/quotes</c> takes. <c>start</c> on the hour (UTC); 24 hours or more: from midnight, whole days.</summary>
public sealed record QuoteRequest(string? GpuModel, int? GpuCount, string? Region, string? Tier, DateTimeOffset? Start, long? DurationHours);

/// <summary>One priced part of a quote: between two price changes, at one rate.</summary>
public sealed record QuoteSliceView(DateTimeOffset From, DateTimeOffset To, string PerGpuHour, string PriceSource, string Amount);

/// <summary>
/// A quote: the price of the block (reserved) or of the same GPU-hours at the list rate (on-demand; spot at its base price),
/// whether it would be admitted now, and until when it can be bought.
/// </summary>
public sealed record QuoteView(
    string Id, string Tier, string GpuModel, int GpuCount, string Region, DateTimeOffset Start, DateTimeOffset End, long DurationHours,
    string Price, string Currency, IReadOnlyList<QuoteSliceView> Slices, bool Available, string? UnavailableReason, bool Purchasable,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public string Object => "quote";
}

/// <summary>What <c>POST /v1/reservations</c> takes: the quote to buy, and the project it is billed to (default: the key's).</summary>
public sealed record PurchaseRequest(string? QuoteId, string? ProjectId);

/// <summary>
/// A bought block. <c>status</c>: <c>scheduled</c> before its start, <c>active</c> inside its window, <c>ended</c> after it,
/// <c>cancelled</c> once cancelled (with the <c>refund</c> credited).
/// </summary>
public sealed record ReservationView(
    string Id, string ProjectId, string QuoteId, string GpuModel, int GpuCount, string Region, DateTimeOffset Start, DateTimeOffset End,
    string Status, string Price, string Currency, DateTimeOffset CreatedAt, DateTimeOffset? CancelledAt, string? Refund)
{
    public string Object => "reservation";

    internal static ReservationView Of(ReservationRow r, DateTimeOffset now) => new(
        r.Id, r.ProjectId, r.QuoteId, r.GpuModel, r.GpuCount, r.Region, r.Start, r.End,
        r.CancelledAt is not null ? "cancelled" : now < r.Start ? "scheduled" : now < r.End ? "active" : "ended",
        Money.Text(r.Price), r.Currency, r.CreatedAt, r.CancelledAt, r.Refund is { } refund ? Money.Text(refund) : null);
}

internal static class QuoteSlices
{
    public static QuoteSliceView View(BlockSlice s) => new(s.From, s.To, Money.Text(s.PerGpuHour), s.Source, Money.Text(s.Amount));
}
