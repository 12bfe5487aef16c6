using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

/// <summary>The operator's buckets: GPU time cut exactly at bucket bounds, revenue adding up to the rating, idle headroom.</summary>
public sealed class FleetEconomicsTests
{
    private static readonly Pool UsEastH100Pool = new(UsEast, H100);

    [Fact]
    public void Buckets_cut_usage_exactly_add_up_to_the_rating_and_count_sold_blocks_against_idle()
    {
        var sheet = Prices(Sheet().Gpu(3m).Gpu(2m, tier: Tier.Reserved).Tokens(1m, 2m));
        UsageEvent[] events =
        [
            Gpu("od").MilliGpus(2000).From(At(10, 30), At(12)),
            Gpu("int").Tier(Tier.Internal).MilliGpus(1000).From(At(10), At(11)),
            Gpu("res").Tier(Tier.Reserved).MilliGpus(1000).From(At(11), At(12)),
            UsageEvent.Prepaid("rsv_1", Org, Project, 8m, H100, UsEast, At(10, 5)),
            Input("tok").Count(1_000_000).At(At(11, 10)),
        ];
        var rating = Rater.Rate(events, sheet, SpotPriceHistory.Empty, new BillingPeriod(At(10), At(12)));
        var blocks = new[] { new CapacityBlock("rsv_1", Org, UsEast, H100, 2, At(11), At(13)) };

        var buckets = FleetEconomics.Compute(new Dictionary<Pool, int> { [UsEastH100Pool] = 8 }, rating.Charges, blocks, At(10), At(12), TimeSpan.FromHours(1));

        Assert.Single(rating.Problems); // the internal tier has no rate: unpriced, counted by the server at zero
        Assert.Equal(rating.Charges.Sum(c => c.Amount), buckets.Sum(b => b.Pools.Sum(p => p.Tiers.Sum(t => t.Revenue)) + b.TokenRevenue));
        var (ten, eleven) = (buckets[0].Pools.Single(), buckets[1].Pools.Single());
        Tier[] order = [Tier.Internal, Tier.Reserved, Tier.OnDemand, Tier.Spot];
        Assert.Equal(order, ten.Tiers.Select(t => t.Tier));
        Assert.Equal(2000L * 1800, ten.Tiers[2].UsedMilliGpuSeconds); // 10:30–11:00
        Assert.Equal(3m + 8m, ten.Tiers.Sum(t => t.Revenue)); // half an hour of 2 GPUs at 3.00, and the block paid at 10:05
        Assert.Equal((2000L * 3600, 1000L * 3600, 0m), (eleven.Tiers[1].SoldMilliGpuSeconds, eleven.Tiers[1].UsedMilliGpuSeconds, eleven.Tiers[1].Revenue));
        Assert.Equal(8000L * 3600, eleven.CapacityMilliGpuSeconds);
        Assert.Equal((8000L - 2000 - 2000) * 3600, eleven.IdleMilliGpuSeconds); // on-demand 2 and reserved 2 sold
        Assert.Equal(1m, buckets[1].TokenRevenue);
    }
}
