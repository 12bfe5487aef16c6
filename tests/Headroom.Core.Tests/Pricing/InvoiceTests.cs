using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class InvoiceTests
{
    private static readonly PriceSheet Sheet2 = Prices(Sheet(T0).Gpu(2.5m).Gpu(3.1m, model: A100).Tokens(0.15m, 0.6m), Sheet(At(240)).Gpu(2.25m).Tokens(0.15m, 0.6m));

    private static readonly UsageEvent[] Month =
    [
        Gpu("g1").From(At(1), At(3)).MilliGpus(8000),
        Gpu("g2").From(At(239), At(241)).MilliGpus(1000),
        Gpu("g3").From(At(5), At(5, 0, 7)).MilliGpus(250).GpuModel(A100),
        Input("t1").At(At(2)).Count(1_234_567).Key("key_a"),
        Input("t2").At(At(3)).Count(1_000_000).Key("key_b"),
        Output("t3").At(At(3)).Count(10).Project("prj_chat"),
        Gpu("other").Org("org_other").From(At(1), At(2)),
    ];

    [Fact]
    public void Lines_group_by_project_meter_dimensions_and_price()
    {
        var invoice = Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty);

        Assert.Equal(
        [
            ($"prj_chat output_tokens ({Llama}) at 0.6/million_tokens", 10L, 0.000006m),
            ($"{Project} gpu_seconds (on-demand, {A100}, {UsEast}) at 3.1/gpu_hour", 1_750L, 0.0015069444m),
            ($"{Project} gpu_seconds (on-demand, {H100}, {UsEast}) at 2.25/gpu_hour", 3_600_000L, 2.25m),
            ($"{Project} gpu_seconds (on-demand, {H100}, {UsEast}) at 2.5/gpu_hour", 61_200_000L, 42.5m),
            ($"{Project} input_tokens ({Llama}) at 0.15/million_tokens", 2_234_567L, 0.33518505m),
        ],
            invoice.Lines.Select(l => (l.Key.ToString(), l.Quantity, l.Amount)));
        Assert.Equal("USD", invoice.Currency);
        Assert.Empty(invoice.Problems);
    }

    [Fact]
    public void The_subtotal_is_the_exact_sum_and_only_the_total_is_rounded()
    {
        var invoice = Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty);

        Assert.Equal(invoice.Lines.Sum(l => l.Amount), invoice.Subtotal);
        Assert.Equal(45.0866979944m, invoice.Subtotal);
        Assert.Equal(45.09m, invoice.Total);
        Assert.Equal(0.0033020056m, invoice.Rounding);
    }

    [Theory]
    [InlineData("no credits", new string[0], "0", "45.09")]
    [InlineData("a small credit", new[] { "10.004" }, "10.004", "35.08")]
    [InlineData("credits beyond the subtotal stop at zero", new[] { "40", "20" }, "45.0866979944", "0.00")]
    public void Credits_come_off_the_subtotal_but_never_below_zero(string because, string[] creditAmounts, string applied, string total)
    {
        var credits = creditAmounts.Select((a, i) => new InvoiceCredit($"cr_{i}", "SLA refund", Dec(a))).ToList();

        var invoice = Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty, credits);

        Assert.Equal(Dec(applied), invoice.CreditsApplied);
        Assert.Equal(Dec(total), invoice.Total);
        Assert.Equal(invoice.Total, BillingMath.RoundTotal(invoice.Subtotal - invoice.CreditsApplied));
        Assert.NotNull(because);
    }

    [Fact]
    public void An_untouched_invoice_verifies_clean()
    {
        var invoice = Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty, [new InvoiceCredit("cr", "promo", 5m)]);

        Assert.Empty(Invoicing.Verify(invoice, Month.Reverse(), Sheet2, SpotPriceHistory.Empty));
    }

    public static TheoryData<string, Func<Invoice, Invoice>, InvoiceDifferenceKind[]> Edits => new()
    {
        { "a quantity lowered", i => i with { Lines = [i.Lines[0] with { Quantity = 1 }, .. i.Lines.Skip(1)] },
            [InvoiceDifferenceKind.QuantityDiffers] },
        { "an amount and the subtotal raised", i => i with { Lines = [i.Lines[0] with { Amount = 1m }, .. i.Lines.Skip(1)], Subtotal = i.Subtotal + 1m - i.Lines[0].Amount },
            [InvoiceDifferenceKind.AmountDiffers, InvoiceDifferenceKind.SubtotalDiffers, InvoiceDifferenceKind.TotalDiffers] },
        { "a line dropped", i => i with { Lines = [.. i.Lines.Skip(1)] },
            [InvoiceDifferenceKind.MissingLine, InvoiceDifferenceKind.SubtotalDiffers] },
        { "a line added", i => i with { Lines = [.. i.Lines, i.Lines[0] with { ProjectId = "prj_x" }] },
            [InvoiceDifferenceKind.UnexpectedLine, InvoiceDifferenceKind.SubtotalDiffers] },
        { "a line doubled", i => i with { Lines = [.. i.Lines, i.Lines[0]] },
            [InvoiceDifferenceKind.UnexpectedLine, InvoiceDifferenceKind.SubtotalDiffers] },
        { "the total edited", i => i with { Total = i.Total + 0.01m },
            [InvoiceDifferenceKind.TotalDiffers] },
        { "a unit price edited", i => i with { Lines = [i.Lines[0] with { UnitPrice = 3m }, .. i.Lines.Skip(1)] },
            [InvoiceDifferenceKind.MissingLine, InvoiceDifferenceKind.UnexpectedLine] },
        { "the currency edited", i => i with { Currency = "EUR" },
            [InvoiceDifferenceKind.CurrencyDiffers] },
    };

    [Theory]
    [MemberData(nameof(Edits))]
    public void Verification_reports_every_edit_line_by_line(string because, Func<Invoice, Invoice> edit, InvoiceDifferenceKind[] kinds)
    {
        var invoice = edit(Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty));

        var differences = Invoicing.Verify(invoice, Month, Sheet2, SpotPriceHistory.Empty);

        Assert.True(kinds.SequenceEqual(differences.Select(d => d.Kind)), $"{because}: {string.Join("; ", differences.Select(d => d.Message))}");
    }

    [Fact]
    public void Verification_names_the_line_even_when_the_rounded_total_is_the_same()
    {
        var invoice = Invoicing.Build(Org, November, Month, Sheet2, SpotPriceHistory.Empty);

        var differences = Invoicing.Verify(invoice, Month.Where(e => e.Id != "t3"), Sheet2, SpotPriceHistory.Empty);

        Assert.Equal([InvoiceDifferenceKind.UnexpectedLine, InvoiceDifferenceKind.SubtotalDiffers],
            differences.Select(d => d.Kind));
        Assert.StartsWith("prj_chat output_tokens", differences[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unpriceable_event_is_on_the_invoice_as_a_problem_and_verification_flags_it_only_if_undeclared()
    {
        UsageEvent[] events = [.. Month, Gpu("g_unknown").GpuModel("z9-1gb")];
        var invoice = Invoicing.Build(Org, November, events, Sheet2, SpotPriceHistory.Empty);

        Assert.Equal(("g_unknown", RatingProblemKind.NoRate), (invoice.Problems[0].EventId, invoice.Problems[0].Kind));
        Assert.Empty(Invoicing.Verify(invoice, events, Sheet2, SpotPriceHistory.Empty));
        Assert.Equal([InvoiceDifferenceKind.UnratedEvent],
            Invoicing.Verify(invoice with { Problems = [] }, events, Sheet2, SpotPriceHistory.Empty).Select(d => d.Kind));
    }

    [Fact]
    public void Months_are_calendar_months_in_UTC()
    {
        Assert.Equal((T0, new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)), (November.Start, November.End));
        Assert.Equal(November, BillingPeriod.MonthOf(new DateTimeOffset(2026, 12, 1, 2, 0, 0, TimeSpan.FromHours(5))));
        Assert.Equal(BillingPeriod.Month(2026, 12), BillingPeriod.MonthOf(new DateTimeOffset(2026, 11, 30, 20, 0, 0, TimeSpan.FromHours(-5))));
        Assert.Throws<ArgumentException>(() => new BillingPeriod(T0, T0));
    }

    private static decimal Dec(string value) => decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
}
