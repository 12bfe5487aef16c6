using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using static Headroom.Core.Tests.Pricing.PricingTestData;
using Tier = Headroom.Core.Scheduling.Tiered.Tier;

namespace Headroom.Core.Tests.Pricing;

/// <summary>Pricing a capacity block from the price sheet, the alignment rule, and the up-front charge in the ledger and on the invoice.</summary>
public sealed class BlockPricingTests
{
    [Fact]
    public void A_block_is_GPU_hours_times_the_reserved_rate()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Reserved));

        var price = BlockPricing.Price(sheet, Tier.Reserved, H100, UsEast, 4, At(10), At(16));

        Assert.True(price.Priced);
        Assert.Equal(48m, price.Amount); // 4 GPUs × 6 h × 2.00
        Assert.Equal("v1", Assert.Single(price.Slices).Source);
    }

    [Fact]
    public void A_block_straddling_a_price_change_is_priced_exactly_per_slice()
    {
        // 2.00 until 12:20:30, then 3.333333: 2 GPUs over [12:00, 14:00).
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Reserved), Sheet(At(12, 20, 30)).Gpu(3.333333m, tier: Tier.Reserved));

        var price = BlockPricing.Price(sheet, Tier.Reserved, H100, UsEast, 2, At(12), At(14));

        Assert.Equal([(At(12), At(12, 20, 30), 2m), (At(12, 20, 30), At(14), 3.333333m)], price.Slices.Select(s => (s.From, s.To, s.PerGpuHour)));
        // 1230 s at 2.00 and 5970 s at 3.333333, each rounded once to 10 places.
        Assert.Equal(1.3666666667m + 11.05555445m, price.Amount);
        Assert.Equal(2_000L * 7200, price.Slices.Sum(s => s.MilliGpuSeconds));
    }

    [Fact]
    public void A_window_without_a_reserved_rate_has_no_price()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.OnDemand));

        var price = BlockPricing.Price(sheet, Tier.Reserved, H100, UsEast, 1, At(10), At(11));
        var early = BlockPricing.Price(Prices(Sheet(At(5)).Gpu(2m, tier: Tier.Reserved)), Tier.Reserved, H100, UsEast, 1, At(4), At(6));

        Assert.Equal(PriceLookupStatus.NoRate, price.Missing!.Value.Status);
        Assert.Equal(PriceLookupStatus.NoVersionInForce, early.Missing!.Value.Status);
    }

    public static TheoryData<string, DateTimeOffset, long, string?> Windows => new()
    {
        { "one hour on the hour", At(30), 1, null },
        { "23 hours from any hour", At(31), 23, null },
        { "two days from midnight", At(48), 48, null },
        { "not on the hour", At(30, 30), 1, "start" },
        { "a second past the hour", At(30, 0, 1), 1, "start" },
        { "a day not from midnight", At(30), 24, "start" },
        { "25 hours", At(48), 25, "duration_hours" },
        { "zero hours", At(30), 0, "duration_hours" },
        { "negative hours", At(30), -2, "duration_hours" },
        { "longer than a year", At(48), 366 * 24, "duration_hours" },
        { "in the past", At(1), 1, "start" },
    };

    [Theory]
    [MemberData(nameof(Windows))]
    public void Blocks_are_hour_aligned_and_day_aligned_from_24_hours(string because, DateTimeOffset start, long hours, string? field)
    {
        var problem = BlockPricing.CheckWindow(start, hours, now: At(2));

        Assert.True(field == problem?.Field, $"{because}: {problem}");
    }

    [Fact]
    public void The_up_front_charge_and_its_refund_are_invoiced_as_recorded_and_reserved_time_rates_at_zero()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Reserved).Gpu(9m, tier: Tier.OnDemand));
        var charge = UsageEvent.Prepaid("rsv_1", Org, Project, 48.0000000001m, H100, UsEast, At(1));
        var refund = UsageEvent.Prepaid("rsv_1:refund", Org, Project, -24m, H100, UsEast, At(2));
        var used = Gpu("rsv_job").Tier(Tier.Reserved).MilliGpus(4000).From(At(10), At(12)).Build();

        var invoice = Invoicing.Build(Org, November, [charge, refund, used], sheet, SpotPriceHistory.Empty);

        Assert.Empty(invoice.Problems);
        Assert.Equal(24.0000000001m, invoice.Subtotal);
        var prepaid = Assert.Single(invoice.Lines, l => l.Meter == Meter.Reservation);
        Assert.Equal((PriceUnit.Prepaid, 240_000_000_001L), (prepaid.Unit, prepaid.Quantity));
        var time = Assert.Single(invoice.Lines, l => l.Meter == Meter.GpuSeconds);
        Assert.Equal((0m, 4000L * 7200), (time.Amount, time.Quantity));
        Assert.Empty(charge.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => UsageEvent.Prepaid("x", Org, Project, 0.00000000001m, H100, UsEast, At(1)));
        Assert.NotEmpty((charge with { Quantity = 0 }).Validate());
        Assert.NotEmpty((charge with { End = At(3) }).Validate());
        Assert.NotEmpty((charge with { Dimensions = charge.Dimensions with { Tier = Tier.OnDemand } }).Validate());
    }
}
