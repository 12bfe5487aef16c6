using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class RaterTests
{
    private static readonly PriceSheet FlatSheet = Prices(Sheet().Gpu(2.5m).Gpu(1m, tier: Tier.Spot).Tokens(0.15m, 0.60m));

    [Fact]
    public void One_GPU_for_one_hour_costs_the_hourly_price()
    {
        var rating = Rater.Rate([Gpu().From(At(12), At(13)).MilliGpus(1000)], FlatSheet, SpotPriceHistory.Empty);

        var charge = Assert.Single(rating.Charges);
        Assert.Equal((3_600_000L, 2.5m, PriceUnit.GpuHour, "v1"), (charge.Quantity, charge.UnitPrice, charge.Unit, charge.PriceSource));
        Assert.Equal(2.5m, charge.Amount);
        Assert.Empty(rating.Problems);
    }

    [Fact]
    public void An_event_that_straddles_a_price_change_is_split_exactly_at_the_change()
    {
        var sheet = Prices(Sheet(At(0)).Gpu(2.5m), Sheet(At(12, 30)).Gpu(3m));

        var rating = Rater.Rate([Gpu().From(At(12), At(13)).MilliGpus(2000)], sheet, SpotPriceHistory.Empty);

        Assert.Equal(
            [(At(12), At(12, 30), 3_600_000L, 2.5m, "v1"), (At(12, 30), At(13), 3_600_000L, 3m, "v2")],
            rating.Charges.Select(c => (c.From, c.To, c.Quantity, c.UnitPrice, c.PriceSource)));
        Assert.Equal(2 * (1.25m + 1.5m), rating.Charges.Sum(c => c.Amount));
    }

    [Fact]
    public void Spot_time_is_priced_from_spot_history_and_split_at_each_point()
    {
        var spot = Spot((At(0), 1m), (At(12, 20), 2m), (At(12, 40), 0.5m), (At(14), 9m));

        var rating = Rater.Rate([Gpu().Tier(Tier.Spot).From(At(12), At(13))], FlatSheet, spot);

        Assert.Equal([1m, 2m, 0.5m], rating.Charges.Select(c => c.UnitPrice));
        Assert.All(rating.Charges, c => Assert.Equal(1_200_000, c.Quantity));
        Assert.Equal(3.5m / 3, rating.Charges.Sum(c => c.Amount), 9);
    }

    [Fact]
    public void The_notice_period_of_an_operator_preemption_is_not_charged()
    {
        var rating = Rater.Rate([Gpu().From(At(12), At(12, 2)).Preempted(At(12))], FlatSheet, SpotPriceHistory.Empty);
        var partly = Rater.Rate([Gpu().From(At(12), At(13, 2)).Preempted(At(13))], FlatSheet, SpotPriceHistory.Empty);

        Assert.Empty(rating.Charges);
        Assert.Empty(rating.Problems);
        Assert.Equal(2.5m, Assert.Single(partly.Charges).Amount);
    }

    [Fact]
    public void A_workload_that_never_ran_costs_nothing()
    {
        var rating = Rater.Rate([Gpu().From(At(12), At(12))], FlatSheet, SpotPriceHistory.Empty);

        Assert.Empty(rating.Charges);
        Assert.Empty(rating.Problems);
    }

    [Fact]
    public void Times_are_taken_on_whole_seconds()
    {
        var rating = Rater.Rate([Gpu().From(At(12).AddMilliseconds(900), At(12, 0, 10).AddMilliseconds(100))], FlatSheet, SpotPriceHistory.Empty);

        Assert.Equal(10_000, Assert.Single(rating.Charges).Quantity);
    }

    [Fact]
    public void A_replay_counts_once_and_a_conflicting_replay_is_refused()
    {
        UsageEvent first = Gpu("evt_a");
        UsageEvent conflicting = Gpu("evt_b");

        var rating = Rater.Rate([first, first, first, conflicting, Gpu("evt_b").MilliGpus(8000)], FlatSheet, SpotPriceHistory.Empty);

        Assert.Equal(2, rating.ReplaysIgnored);
        Assert.Equal("evt_a", Assert.Single(rating.Charges).EventId);
        Assert.Equal((RatingProblemKind.ConflictingReplay, "evt_b"), (rating.Problems[0].Kind, rating.Problems[0].EventId));
    }

    public static TheoryData<string, Func<PricingTestData.EventBuilder, UsageEvent>, RatingProblemKind> Unchargeable => new()
    {
        { "negative duration", e => e.From(At(13), At(12)), RatingProblemKind.InvalidEvent },
        { "no milli-GPUs", e => e.MilliGpus(0), RatingProblemKind.InvalidEvent },
        { "more than 100 000 GPUs", e => e.MilliGpus(UsageEvent.MaxMilliGpus + 1), RatingProblemKind.InvalidEvent },
        { "longer than a year", e => e.From(At(12), At(12).AddDays(367)), RatingProblemKind.InvalidEvent },
        { "no tier", e => e.Build() with { Dimensions = new UsageDimensions(null, H100, UsEast) }, RatingProblemKind.InvalidEvent },
        { "no region", e => e.Region(null), RatingProblemKind.InvalidEvent },
        { "notice after the end", e => e.From(At(12), At(13)).Preempted(At(14)), RatingProblemKind.InvalidEvent },
        { "unknown GPU model", e => e.GpuModel("z9-1gb"), RatingProblemKind.NoRate },
        { "unpriced tier", e => e.Tier(Tier.Internal), RatingProblemKind.NoRate },
        { "before the first price sheet", e => e.From(At(-2), At(1)), RatingProblemKind.NoVersionInForce },
        { "spot with no spot history", e => e.Tier(Tier.Spot), RatingProblemKind.NoSpotPrice },
    };

    [Theory]
    [MemberData(nameof(Unchargeable))]
    public void An_event_that_cannot_be_priced_is_reported_not_charged(
        string because, Func<PricingTestData.EventBuilder, UsageEvent> make, RatingProblemKind kind)
    {
        var rating = Rater.Rate([make(Gpu()), Input("evt_ok").Count(1_000_000)], FlatSheet, SpotPriceHistory.Empty);

        var problem = Assert.Single(rating.Problems);
        Assert.Equal((kind, "evt_1"), (problem.Kind, problem.EventId));
        Assert.Equal("evt_ok", Assert.Single(rating.Charges).EventId);
        Assert.NotEmpty(problem.Message);
        Assert.NotNull(because);
    }

    [Theory]
    [InlineData("input tokens", Meter.InputTokens, false, 2_000_000, "0.30")]
    [InlineData("output tokens", Meter.OutputTokens, false, 500_000, "0.30")]
    [InlineData("batch input tokens at half price", Meter.InputTokens, true, 2_000_000, "0.15")]
    [InlineData("a single token", Meter.OutputTokens, false, 1, "0.0000006")]
    public void Tokens_are_priced_per_million_at_their_point_in_time(string because, Meter meter, bool batch, long tokens, string amount)
    {
        var builder = new PricingTestData.EventBuilder("evt_t", meter).At(At(5)).Count(tokens);
        var rating = Rater.Rate([batch ? builder.Batch() : builder], FlatSheet, SpotPriceHistory.Empty);

        var charge = Assert.Single(rating.Charges);
        Assert.True(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture) == charge.Amount, $"{because}: {charge.Amount}");
        Assert.Equal(PriceUnit.MillionTokens, charge.Unit);
    }

    [Fact]
    public void Tokens_served_on_hourly_GPUs_of_a_dedicated_deployment_are_listed_at_price_zero()
    {
        // The model has a token rate, and it still does not apply: the replicas' GPU time is what is charged.
        var rating = Rater.Rate([Input("d").At(At(5)).Count(2_000_000).Tier(Tier.OnDemand), Input("s").At(At(5)).Count(2_000_000)], FlatSheet, SpotPriceHistory.Empty);

        Assert.Equal([("d", 0m, Rater.DedicatedSource), ("s", 0.30m, "v1")], rating.Charges.Select(c => (c.EventId, c.Amount, c.PriceSource)));
        Assert.Empty(rating.Problems);
    }

    [Fact]
    public void A_token_event_is_priced_by_the_version_in_force_at_its_time()
    {
        var sheet = Prices(Sheet(At(0)).Tokens(1m, 2m), Sheet(At(6)).Tokens(3m, 4m));

        var rating = Rater.Rate([Input("a").At(At(5, 59, 59)).Count(1_000_000), Input("b").At(At(6)).Count(1_000_000)], sheet, SpotPriceHistory.Empty);

        Assert.Equal([1m, 3m], rating.Charges.Select(c => c.UnitPrice));
    }

    [Fact]
    public void A_period_ignores_events_outside_it_even_malformed_ones()
    {
        var rating = Rater.Rate([Gpu().From(At(-30 * 24), At(-31 * 24)), Input("t").At(November.End).Count(-1)], FlatSheet, SpotPriceHistory.Empty, November);

        Assert.Empty(rating.Charges);
        Assert.Empty(rating.Problems);
    }

    [Fact]
    public void A_period_takes_only_its_part_of_an_event()
    {
        var sheet = Prices(Sheet(T0.AddDays(-5)).Gpu(2.5m));
        UsageEvent overMonthEnd = Gpu().From(November.End.AddHours(-1), November.End.AddHours(2));

        var november = Rater.Rate([overMonthEnd], sheet, SpotPriceHistory.Empty, November);
        var december = Rater.Rate([overMonthEnd], sheet, SpotPriceHistory.Empty, BillingPeriod.Month(2026, 12));

        Assert.Equal(3_600_000, Assert.Single(november.Charges).Quantity);
        Assert.Equal(7_200_000, Assert.Single(december.Charges).Quantity);
    }
}
