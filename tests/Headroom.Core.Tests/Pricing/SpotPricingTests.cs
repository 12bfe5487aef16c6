using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class SpotPricingTests
{
    // Base 2.00, default formula: 2 × (1 + 1 × (u − 0.5)) clamped to [1.00, 3.00].
    [Theory]
    [InlineData("an idle pool sits on the floor", 0, 8_000, "1.00")]
    [InlineData("a quarter used", 2_000, 8_000, "1.50")]
    [InlineData("at the knee the base price", 4_000, 8_000, "2.00")]
    [InlineData("three quarters used", 6_000, 8_000, "2.50")]
    [InlineData("a full pool sits on the ceiling", 8_000, 8_000, "3.00")]
    [InlineData("a third used rounds to 6 places", 1_000, 3_000, "1.666667")]
    [InlineData("a pool with no capacity counts as full", 0, 0, "3.00")]
    [InlineData("more used than total counts as full", 9_000, 8_000, "3.00")]
    public void The_spot_price_follows_utilization(string because, long used, long total, string expected)
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Spot));

        var price = SpotPricing.Price(sheet.Versions[0], UsEastH100, used, total);

        Assert.True(price.Found, because);
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), price.Rate);
    }

    [Fact]
    public void A_steep_formula_is_held_by_the_ceiling_and_the_floor()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Spot).SpotFormula(new SpotFormula(Slope: 4m, Knee: 0.5m, FloorFactor: 0.25m, CeilingFactor: 2m)));

        Assert.Equal(4m, SpotPricing.Price(sheet.Versions[0], UsEastH100, 1, 1).Rate);
        Assert.Equal(0.5m, SpotPricing.Price(sheet.Versions[0], UsEastH100, 0, 1).Rate);
    }

    [Fact]
    public void A_pool_without_a_spot_base_rate_has_no_spot_price()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.OnDemand));

        var point = SpotPricing.Point(sheet, UsEastH100, 1, 2, At(1));

        Assert.False(point.Succeeded);
        Assert.Equal("pool", point.Problems[0].Path);
    }

    [Fact]
    public void A_published_point_records_its_inputs_and_the_version()
    {
        var sheet = Prices(Sheet().Gpu(2m, tier: Tier.Spot));

        var point = SpotPricing.Point(sheet, UsEastH100, 6_000, 8_000, At(1).AddMilliseconds(700)).Value!;

        Assert.Equal(new SpotPricePoint(At(1), UsEastH100, 2.5m, 6_000, 8_000, 1), point);
    }

    [Fact]
    public void History_answers_with_the_last_point_at_or_before_the_time()
    {
        var history = Spot((At(1), 1.5m), (At(2), 2.5m));

        Assert.Equal(PriceLookupStatus.NoSpotPrice, history.RateAt(UsEastH100, At(0, 59, 59)).Status);
        Assert.Equal(1.5m, history.RateAt(UsEastH100, At(1)).Rate);
        Assert.Equal(1.5m, history.RateAt(UsEastH100, At(1, 59, 59)).Rate);
        Assert.Equal(2.5m, history.RateAt(UsEastH100, At(2)).Rate);
        Assert.Equal("spot@2026-11-01T02:00:00Z", history.RateAt(UsEastH100, At(5)).Source);
        Assert.Equal(PriceLookupStatus.NoSpotPrice, history.RateAt(new SpotPool(EuWest, H100), At(5)).Status);
    }

    [Fact]
    public void History_only_grows_forward()
    {
        var history = Spot((At(2), 2.5m));

        var earlier = history.Append(new SpotPricePoint(At(1), UsEastH100, 1m));
        var later = history.Append(new SpotPricePoint(At(3), UsEastH100, 1m));

        Assert.False(earlier.Succeeded);
        Assert.True(later.Succeeded);
        Assert.Single(history.PointsOf(UsEastH100));
        Assert.Equal(2, later.Value.PointsOf(UsEastH100).Count);
    }

    [Fact]
    public void Loading_history_reports_every_bad_point()
    {
        var result = SpotPriceHistory.Load(
        [
            new SpotPricePoint(At(1), UsEastH100, -1m),
            new SpotPricePoint(At(1).AddTicks(1), UsEastH100, 1m),
            new SpotPricePoint(At(2), UsEastH100, 1m),
            new SpotPricePoint(At(2), UsEastH100, 2m),
        ]);

        Assert.Equal(["points[0].per_gpu_hour", "points[1].time", "points"], result.Problems.Select(p => p.Path));
    }
}
