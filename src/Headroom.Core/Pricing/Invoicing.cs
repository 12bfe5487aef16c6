using Headroom.Core.Metering;

namespace Headroom.Core.Pricing;

/// <summary>Builds an invoice from raw usage events and price history, and checks an issued one against them.</summary>
public static class Invoicing
{
    /// <summary>
    /// The invoice of <paramref name="orgId"/> for <paramref name="period"/>: rates the org's events (events of other
    /// orgs are ignored, so a whole ledger may be passed), adds quantities per line first and rounds once per line.
    /// </summary>
    /// <exception cref="ArgumentException">A credit is negative; credits are validated where they are granted.</exception>
    public static Invoice Build(
        string orgId, BillingPeriod period, IEnumerable<UsageEvent> events, PriceSheet sheet, SpotPriceHistory spot,
        IReadOnlyList<InvoiceCredit>? credits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(orgId);
        ArgumentNullException.ThrowIfNull(period);
        ArgumentNullException.ThrowIfNull(events);
        var rating = Rater.Rate(events.Where(e => e.OrgId == orgId), sheet, spot, period);
        return Build(orgId, period, sheet.Currency ?? "", Lines(rating.Charges), rating.Problems, credits);
    }

    /// <summary>
    /// The invoice over lines already summed (<see cref="Lines"/> or <see cref="InvoiceLineTotals"/>) and the rating's
    /// problems in event-id order: the subtotal, the credits applied and the total's one rounding.
    /// </summary>
    /// <exception cref="ArgumentException">A credit is negative.</exception>
    public static Invoice Build(
        string orgId, BillingPeriod period, string currency, IReadOnlyList<InvoiceLine> lines, IReadOnlyList<RatingProblem> problems,
        IReadOnlyList<InvoiceCredit>? credits = null)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(problems);
        credits ??= [];
        if (credits.FirstOrDefault(c => c is null || c.Amount < 0m) is { } bad)
        {
            throw new ArgumentException($"Credit {bad?.Id} has a negative amount.", nameof(credits));
        }
        var subtotal = lines.Sum(l => l.Amount);
        var applied = Math.Min(credits.Sum(c => c.Amount), subtotal);
        var total = BillingMath.RoundTotal(subtotal - applied);
        return new Invoice(orgId, period, currency, lines, [.. credits], subtotal, applied, total, total - (subtotal - applied), problems);
    }

    /// <summary>
    /// Groups charges into lines (project × meter × dimensions × unit price; the API key is not a line dimension),
    /// summing integer quantities before pricing each line once. Lines come in a fixed order.
    /// </summary>
    public static IReadOnlyList<InvoiceLine> Lines(IEnumerable<RatedUsage> charges)
    {
        var totals = new InvoiceLineTotals();
        totals.Add(charges);
        return totals.Lines();
    }

    /// <summary>
    /// Recomputes <paramref name="issued"/> from the raw events and the price history and reports every difference,
    /// line by line, then the subtotal, credits and total. Empty means the invoice is exactly what the events call for.
    /// Also checks the invoice's own arithmetic, so an edited total is caught even when the lines match.
    /// </summary>
    public static IReadOnlyList<InvoiceDifference> Verify(Invoice issued, IEnumerable<UsageEvent> events, PriceSheet sheet, SpotPriceHistory spot)
    {
        ArgumentNullException.ThrowIfNull(issued);
        var credits = issued.Credits.Where(c => c is not null && c.Amount >= 0m).ToList();
        var expected = Build(issued.OrgId, issued.Period, events, sheet, spot, credits);
        var differences = new List<InvoiceDifference>();

        if (issued.Currency != expected.Currency)
        {
            differences.Add(new(InvoiceDifferenceKind.CurrencyDiffers, null, 0m, 0m,
                $"The invoice is in '{issued.Currency}' but the price sheet is in '{expected.Currency}'."));
        }
        var actualLines = new Dictionary<InvoiceLineKey, InvoiceLine>();
        foreach (var line in issued.Lines)
        {
            if (!actualLines.TryAdd(line.Key, line))
            {
                differences.Add(new(InvoiceDifferenceKind.UnexpectedLine, line.Key, 0m, line.Amount, $"{line.Key}: appears more than once."));
            }
        }
        var expectedLines = expected.Lines.ToDictionary(l => l.Key);
        foreach (var key in expectedLines.Keys.Union(actualLines.Keys).OrderBy(k => k, LineOrder.Instance))
        {
            var want = expectedLines.GetValueOrDefault(key);
            var have = actualLines.GetValueOrDefault(key);
            if (have is null)
            {
                differences.Add(new(InvoiceDifferenceKind.MissingLine, key, want!.Amount, 0m,
                    $"{key}: missing; the events call for {want.Quantity} units, {want.Amount}."));
                continue;
            }
            if (want is null)
            {
                differences.Add(new(InvoiceDifferenceKind.UnexpectedLine, key, 0m, have.Amount,
                    $"{key}: no event calls for this line ({have.Quantity} units, {have.Amount})."));
                continue;
            }
            if (want.Quantity != have.Quantity)
            {
                differences.Add(new(InvoiceDifferenceKind.QuantityDiffers, key, want.Quantity, have.Quantity,
                    $"{key}: quantity {have.Quantity}, the events add up to {want.Quantity}."));
            }
            if (want.Amount != have.Amount)
            {
                differences.Add(new(InvoiceDifferenceKind.AmountDiffers, key, want.Amount, have.Amount,
                    $"{key}: amount {have.Amount}, recomputed {want.Amount}."));
            }
        }
        // An event the recomputation cannot charge is a difference unless the invoice already says so.
        var declared = issued.Problems.Select(p => (p.EventId, p.Kind)).ToHashSet();
        foreach (var problem in expected.Problems.Where(p => !declared.Contains((p.EventId, p.Kind))))
        {
            differences.Add(new(InvoiceDifferenceKind.UnratedEvent, null, 0m, 0m, $"Event {problem.EventId}: {problem.Message}"));
        }

        // The invoice's own arithmetic, against its own lines and credits: an edited total shows even if lines match.
        var issuedSum = issued.Lines.Sum(l => l.Amount);
        if (issued.Subtotal != expected.Subtotal || issued.Subtotal != issuedSum)
        {
            differences.Add(new(InvoiceDifferenceKind.SubtotalDiffers, null, expected.Subtotal, issued.Subtotal,
                $"Subtotal {issued.Subtotal}; its lines add up to {issuedSum}, the events to {expected.Subtotal}."));
        }
        if (issued.CreditsApplied != expected.CreditsApplied || credits.Count != issued.Credits.Count)
        {
            differences.Add(new(InvoiceDifferenceKind.CreditsDiffer, null, expected.CreditsApplied, issued.CreditsApplied,
                $"Credits applied {issued.CreditsApplied}, recomputed {expected.CreditsApplied}."));
        }
        if (issued.Total != expected.Total || issued.Total != BillingMath.RoundTotal(issued.Subtotal - issued.CreditsApplied))
        {
            differences.Add(new(InvoiceDifferenceKind.TotalDiffers, null, expected.Total, issued.Total,
                $"Total {issued.Total}, recomputed {expected.Total}."));
        }
        return differences;
    }

    internal sealed class LineOrder : IComparer<InvoiceLineKey>
    {
        public static readonly LineOrder Instance = new();

        public int Compare(InvoiceLineKey x, InvoiceLineKey y)
        {
            var c = string.CompareOrdinal(x.ProjectId, y.ProjectId);
            if (c == 0) c = x.Meter.CompareTo(y.Meter);
            if (c == 0) c = Nullable.Compare(x.Dimensions.Tier, y.Dimensions.Tier);
            if (c == 0) c = string.CompareOrdinal(x.Dimensions.GpuModel, y.Dimensions.GpuModel);
            if (c == 0) c = string.CompareOrdinal(x.Dimensions.Region, y.Dimensions.Region);
            if (c == 0) c = string.CompareOrdinal(x.Dimensions.Model, y.Dimensions.Model);
            if (c == 0) c = x.Dimensions.Batch.CompareTo(y.Dimensions.Batch);
            if (c == 0) c = x.Unit.CompareTo(y.Unit);
            if (c == 0) c = x.UnitPrice.CompareTo(y.UnitPrice);
            return c;
        }
    }
}

/// <summary>
/// An invoice's running line sums: integer quantities per line, added as charges arrive and priced once per line when
/// <see cref="Lines"/> is asked. Charges added in any order and in any number of batches give exactly
/// <see cref="Invoicing.Lines"/> over all of them at once, so a draft can be extended as the append-only ledger grows.
/// </summary>
public sealed class InvoiceLineTotals
{
    // Equal unit prices may be spelled differently (2.5 and 2.50 from two versions) and a line shows the spelling of
    // its first charge in event-id order, as the one-pass grouping over the rater's id-ordered charges does; so the
    // spelling kept is that of the smallest event id seen, whatever order the batches came in.
    private readonly Dictionary<InvoiceLineKey, (long Quantity, string FirstEventId, decimal UnitPrice)> _lines = [];

    public void Add(IEnumerable<RatedUsage> charges)
    {
        ArgumentNullException.ThrowIfNull(charges);
        foreach (var charge in charges)
        {
            var key = new InvoiceLineKey(charge.ProjectId, charge.Meter, charge.Dimensions with { ApiKeyId = null }, charge.UnitPrice, charge.Unit);
            if (!_lines.TryGetValue(key, out var line))
            {
                _lines[key] = (charge.Quantity, charge.EventId, charge.UnitPrice);
                continue;
            }
            var earlier = string.CompareOrdinal(charge.EventId, line.FirstEventId) < 0;
            _lines[key] = (checked(line.Quantity + charge.Quantity), earlier ? charge.EventId : line.FirstEventId, earlier ? charge.UnitPrice : line.UnitPrice);
        }
    }

    /// <summary>The lines in their fixed order, each priced once: quantity × unit price, rounded to line precision.</summary>
    public IReadOnlyList<InvoiceLine> Lines() =>
    [
        .. _lines
            .Select(p => new InvoiceLine(p.Key.ProjectId, p.Key.Meter, p.Key.Dimensions, p.Value.UnitPrice, p.Key.Unit, p.Value.Quantity,
                BillingMath.Charge(p.Value.Quantity, p.Value.UnitPrice, p.Key.Unit.UnitsPerPrice())))
            .OrderBy(l => l.Key, Invoicing.LineOrder.Instance),
    ];
}
