using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class UsageReportTests
{
    private static readonly PriceSheet Flat = Prices(Sheet(T0.AddDays(-1)).Gpu(2.4m).Tokens(0.15m, 0.6m));

    private static readonly UsageEvent[] Events =
    [
        Gpu("g1").From(At(22), At(26)).MilliGpus(1000),
        Gpu("g2").From(At(1), At(2)).MilliGpus(500).Project("prj_eval"),
        Input("t1").At(At(3)).Count(2_000_000).Key("key_a"),
        Input("t2").At(At(30)).Count(1_000_000).Key("key_b"),
    ];

    [Fact]
    public void Grouping_by_day_cuts_GPU_time_at_midnight()
    {
        var rows = UsageReport.Group(Rater.Rate(Events, Flat, SpotPriceHistory.Empty).Charges, UsageGrouping.Day | UsageGrouping.Meter);

        Assert.Equal(
        [
            (new DateOnly(2026, 11, 1), Meter.GpuSeconds, 9_000_000L, 6m),
            (new DateOnly(2026, 11, 1), Meter.InputTokens, 2_000_000L, 0.3m),
            (new DateOnly(2026, 11, 2), Meter.GpuSeconds, 7_200_000L, 4.8m),
            (new DateOnly(2026, 11, 2), Meter.InputTokens, 1_000_000L, 0.15m),
        ],
            rows.Select(r => (r.Day!.Value, r.Meter!.Value, r.Quantity!.Value, r.Cost)));
    }

    [Fact]
    public void Without_the_meter_rows_have_a_cost_but_no_quantity()
    {
        var rows = UsageReport.Group(Rater.Rate(Events, Flat, SpotPriceHistory.Empty).Charges, UsageGrouping.Project);

        Assert.Equal([("prj_eval", (long?)null, 1.2m), (Project, null, 10.05m)], rows.Select(r => (r.ProjectId!, r.Quantity, r.Cost)));
    }

    [Fact]
    public void Grouping_by_project_and_meter_over_a_period_matches_the_invoice()
    {
        var invoice = Invoicing.Build(Org, November, Events, Flat, SpotPriceHistory.Empty);
        var rows = UsageReport.Group(Rater.Rate(Events, Flat, SpotPriceHistory.Empty, November).Charges, UsageGrouping.Project | UsageGrouping.Meter);

        Assert.Equal(invoice.Subtotal, rows.Sum(r => r.Cost));
    }
}
