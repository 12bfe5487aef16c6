using Headroom.Core.Metering;

namespace Headroom.Core.Pricing;

/// <summary>What makes two charges land on the same invoice line.</summary>
public readonly record struct InvoiceLineKey(string ProjectId, Meter Meter, UsageDimensions Dimensions, decimal UnitPrice, PriceUnit Unit)
{
    public override string ToString()
    {
        var d = Dimensions;
        var dims = string.Join(", ", new[] { (d.Tier is { } tier ? MeteringCodes.TierCode(tier) : null), d.GpuModel, d.Region, d.Model, d.Batch ? "batch" : null }.Where(v => v is not null));
        return $"{ProjectId} {Meter.ToCode()} ({dims}) at {UnitPrice}/{Unit.ToCode()}";
    }
}

/// <summary>
/// One invoice line: all of a project's usage of one meter with the same dimensions (tier, GPU model, region, model,
/// batch) at the same unit price. A price change inside the period makes two lines. <see cref="Quantity"/> is
/// milli-GPU-seconds or tokens; <see cref="Amount"/> = Quantity × UnitPrice / units per price, rounded half-even to
/// <see cref="BillingMath.LineDecimals"/> places.
/// </summary>
public sealed record InvoiceLine(string ProjectId, Meter Meter, UsageDimensions Dimensions, decimal UnitPrice, PriceUnit Unit, long Quantity, decimal Amount)
{
    public InvoiceLineKey Key => new(ProjectId, Meter, Dimensions, UnitPrice, Unit);
}

/// <summary>A credit the operator granted (promotion, SLA refund), taken off the subtotal. <see cref="Amount"/> is positive.</summary>
public sealed record InvoiceCredit(string Id, string Description, decimal Amount);

/// <summary>
/// An org's charges for one period. The arithmetic, which <see cref="Invoicing.Verify"/> checks:
/// <list type="bullet">
/// <item><see cref="Subtotal"/> = Σ <see cref="InvoiceLine.Amount"/>, exactly (no rounding);</item>
/// <item><see cref="CreditsApplied"/> = min(Σ credit amounts, Subtotal): a credit never makes an invoice negative;</item>
/// <item><see cref="Total"/> = (Subtotal − CreditsApplied) rounded half-even to cents, the only rounding after the
/// lines; <see cref="Rounding"/> = Total − (Subtotal − CreditsApplied) shows it.</item>
/// </list>
/// <see cref="Problems"/> lists events that could not be charged: they are on no line and need the operator.
/// </summary>
public sealed record Invoice(
    string OrgId,
    BillingPeriod Period,
    string Currency,
    IReadOnlyList<InvoiceLine> Lines,
    IReadOnlyList<InvoiceCredit> Credits,
    decimal Subtotal,
    decimal CreditsApplied,
    decimal Total,
    decimal Rounding,
    IReadOnlyList<RatingProblem> Problems);

public enum InvoiceDifferenceKind
{
    /// <summary>The raw events call for a line the invoice lacks.</summary>
    MissingLine,
    /// <summary>The invoice has a line no raw event calls for (or the same line twice).</summary>
    UnexpectedLine,
    QuantityDiffers,
    AmountDiffers,
    SubtotalDiffers,
    CreditsDiffer,
    TotalDiffers,
    CurrencyDiffers,
    /// <summary>The recomputation could not charge an event the invoice may have charged.</summary>
    UnratedEvent,
}

/// <summary>One difference between an issued invoice and its recomputation; Expected is the recomputed value.</summary>
public sealed record InvoiceDifference(InvoiceDifferenceKind Kind, InvoiceLineKey? Line, decimal Expected, decimal Actual, string Message);
