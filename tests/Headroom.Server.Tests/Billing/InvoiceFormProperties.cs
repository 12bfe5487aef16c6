using System.Globalization;
using System.Text.Json;
using CsCheck;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Api;
using Headroom.Server.Billing;

namespace Headroom.Server.Tests.Billing;

/// <summary>
/// An issued invoice is stored as its API form: over random prices, spot histories, usage (GPU time, tokens, prepaid
/// reservations and refunds) and credits, the stored JSON reads back to an invoice that <see cref="Invoicing.Verify"/>
/// finds identical to the recomputation, and the CSV's line amounts add up to its subtotal.
/// </summary>
public sealed class InvoiceFormProperties
{
    private const int Day = 86_400;
    private static readonly DateTimeOffset T0 = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly BillingPeriod October = BillingPeriod.Month(2026, 10);
    private static readonly Tier[] Tiers = [Tier.OnDemand, Tier.Spot];
    private static readonly string[] Models = ["llama-3-8b", "mistral-7b"];

    private static readonly Gen<decimal> Rate = Gen.Int[0, 12_000_000].Select(micros => micros / 1_000_000m);

    private static readonly Gen<PriceSheet> Sheets = Gen.Select(Rate.Array[4], Rate.Array[4], Gen.Int[0, 30 * Day])
        .Select((first, second, change) => PriceSheet.Load(new[] { (T0.AddDays(-1), first), (T0.AddSeconds(change), second) }.Select(v =>
            new PriceSheetDraft(v.Item1, "USD",
                [new GpuRate("h100-80gb", Tier.OnDemand, "us-east", v.Item2[0]), new GpuRate("h100-80gb", Tier.Spot, "us-east", v.Item2[1])],
                [new TokenRate(Models[0], v.Item2[2], v.Item2[3]), new TokenRate(Models[1], v.Item2[3], v.Item2[2])], 0.5m))).Value!);

    private static readonly Gen<SpotPriceHistory> Spot = Gen.Select(Rate, Gen.Int[0, 30 * Day]).Array[0, 6]
        .Select(points => SpotPriceHistory.Load(points.Select(p => new SpotPricePoint(T0.AddSeconds(p.Item2), new SpotPool("us-east", "h100-80gb"), p.Item1))
            .Prepend(new SpotPricePoint(T0.AddDays(-1), new SpotPool("us-east", "h100-80gb"), 1.25m)).DistinctBy(p => p.Time)).Value!);

    private static readonly Gen<UsageEvent> Events = Gen.Frequency(
        (3, Gen.Select(Gen.Int[-Day, 32 * Day], Gen.Int[0, 3 * Day], Gen.Long[1, 16_000], Gen.Int[0, 3]).Select((start, seconds, milli, key) =>
            UsageEvent.GpuTime("", "org_acme", $"prj_{key % 2}", milli, Tiers[key / 2], "h100-80gb", "us-east", T0.AddSeconds(start), T0.AddSeconds(start + seconds)))),
        (2, Gen.Select(Gen.Int[0, 31 * Day - 1], Gen.Long[0, 10_000_000], Gen.Int[0, 7]).Select((at, tokens, key) =>
            UsageEvent.Tokens("", "org_acme", $"prj_{key % 2}", key / 2 % 2 == 0 ? Meter.InputTokens : Meter.OutputTokens, tokens, Models[key / 4], T0.AddSeconds(at), batch: key % 3 == 0))),
        // A reservation bought (or refunded, negative) up front: a prepaid line.
        (1, Gen.Select(Gen.Int[0, 31 * Day - 1], Gen.Int[-50_000, 500_000]).Select((at, cents) =>
            UsageEvent.Prepaid("", "org_acme", "prj_0", cents / 100m, "h100-80gb", "us-east", T0.AddSeconds(at)))));

    [Fact]
    public void The_stored_form_reads_back_to_an_invoice_that_verifies_and_the_csv_adds_up()
    {
        Gen.Select(Sheets, Spot, Events.Array[0, 30], Gen.Int[0, 100_000].Array[0, 2]).Sample((sheet, spot, generated, creditCents) =>
        {
            var events = generated.Select((e, i) => e with { Id = $"evt_{i}" }).ToList();
            var credits = creditCents.Select((c, i) => new InvoiceCredit($"cr_{i}", "promotion", c / 100m)).ToList();
            var invoice = Invoicing.Build("org_acme", October, events, sheet, spot, credits);
            var view = InvoiceForms.View(invoice, "inv_1", "issued", new InvoiceEventsView(events.Count, events.Count, "", ""), T0.AddMonths(1));

            var stored = JsonSerializer.Deserialize<InvoiceView>(JsonSerializer.Serialize(view, Json.Options), Json.Options)!;
            var differences = Invoicing.Verify(InvoiceForms.ToInvoice(stored), events, sheet, spot);
            var csvAmounts = InvoiceRendering.Csv(stored).Split("\r\n", StringSplitOptions.RemoveEmptyEntries)[1..^4]
                .Sum(row => decimal.Parse(row.Split(',')[^1], CultureInfo.InvariantCulture));

            Assert.Empty(differences);
            Assert.Equal(invoice.Subtotal, csvAmounts);
            Assert.Equal(invoice.Total, decimal.Parse(stored.Total, CultureInfo.InvariantCulture));
        }, iter: 300);
    }
}
