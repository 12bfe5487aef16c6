using System.Text.Json;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>One difference between a stored invoice and what its events and the price history call for.</summary>
public sealed record InvoiceFinding(string InvoiceId, string Period, string Kind, string? Line, string Message);

/// <summary>
/// Recomputes every stored invoice of an org from the raw events it covers and the price history, for
/// <c>headroom billing verify</c>. Order: the stored row against its own document (total, what it covers), then the
/// covered events against the pinned count and events hash (an event deleted, inserted or re-hashed since issue),
/// then <see cref="Invoicing.Verify"/> line by line (quantities, amounts, subtotal, credits, total).
/// </summary>
public static class InvoiceCheck
{
    public static async Task<(int Invoices, IReadOnlyList<InvoiceFinding> Findings)> VerifyAsync(HeadroomDb db, string orgId, CancellationToken cancellationToken)
    {
        var rows = await db.Invoices.AsNoTracking().Where(i => i.OrgId == orgId).OrderBy(i => i.PeriodStart).ToListAsync(cancellationToken);
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, cancellationToken);
        var findings = new List<InvoiceFinding>();
        foreach (var row in rows)
        {
            var period = $"{row.PeriodStart:yyyy-MM-dd}..{row.PeriodEnd:yyyy-MM-dd}";
            void Add(string kind, string? line, string message) => findings.Add(new(row.Id, period, kind, line, message));

            InvoiceView? view;
            try
            {
                view = JsonSerializer.Deserialize<InvoiceView>(row.Document, Json.Options);
            }
            catch (JsonException ex)
            {
                view = null;
                Add("DocumentUnreadable", null, ex.Message);
            }
            if (view is null)
                continue;
            if (view.Id != row.Id || view.OrgId != orgId || view.PeriodStart != row.PeriodStart || view.PeriodEnd != row.PeriodEnd || view.Total != row.Total
                || view.Events.LastSeq != row.LastSeq || view.Events.Hash != row.EventsHash || view.Events.Count != row.EventCount)
                Add("RowDiffersFromDocument", null, "The stored row's id, period, total or event pin differs from its document.");

            var billing = new BillingPeriod(row.PeriodStart, row.PeriodEnd);
            var covered = await Invoicer.Covered(db, orgId, billing, row.LastSeq).OrderBy(u => u.Seq).ToListAsync(cancellationToken);
            var hash = Invoicer.EventsHash(covered.Select(c => c.Hash));
            if (covered.Count != row.EventCount || hash != row.EventsHash)
                Add("EventsChanged", null, $"The invoice was built from {row.EventCount} events (hash {row.EventsHash}); the ledger now has {covered.Count} (hash {hash}).");

            var spot = await SpotPoints.LoadAsync(db, billing.End, cancellationToken);
            foreach (var d in Invoicing.Verify(InvoiceForms.ToInvoice(view), covered.Select(c => UsageRows.ToEntry(c).Event), sheet, spot))
                Add(d.Kind.ToString(), d.Line?.ToString(), d.Message);
        }
        return (rows.Count, findings);
    }
}
