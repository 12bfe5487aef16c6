using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class PriceSheetTests
{
    public static TheoryData<string, Func<PriceSheetDraft, PriceSheetDraft>, string> BadDrafts => new()
    {
        { "negative GPU rate", d => d with { GpuRates = [new GpuRate(H100, Tier.OnDemand, UsEast, -1m)] }, "gpu_rates[0].per_gpu_hour" },
        { "duplicate GPU key", d => d with { GpuRates = [.. d.GpuRates, d.GpuRates[0] with { PerGpuHour = 9m }] }, "gpu_rates[1]" },
        { "unknown tier", d => d with { GpuRates = [new GpuRate(H100, (Tier)42, UsEast, 1m)] }, "gpu_rates[0].tier" },
        { "missing GPU model", d => d with { GpuRates = [new GpuRate("", Tier.OnDemand, UsEast, 1m)] }, "gpu_rates[0].gpu_model" },
        { "region with a space", d => d with { GpuRates = [new GpuRate(H100, Tier.OnDemand, "us east", 1m)] }, "gpu_rates[0].region" },
        { "rate with 7 decimal places", d => d with { GpuRates = [new GpuRate(H100, Tier.OnDemand, UsEast, 1.0000001m)] }, "gpu_rates[0].per_gpu_hour" },
        { "rate above the maximum", d => d with { GpuRates = [new GpuRate(H100, Tier.OnDemand, UsEast, 2_000_000m)] }, "gpu_rates[0].per_gpu_hour" },
        { "negative output token rate", d => d with { TokenRates = [new TokenRate(Llama, 1m, -0.5m)] }, "token_rates[0].output_per_million" },
        { "duplicate token model", d => d with { TokenRates = [.. d.TokenRates, d.TokenRates[0]] }, "token_rates[1]" },
        { "batch discount above 1", d => d with { BatchDiscount = 1.5m }, "batch_discount" },
        { "batch discount with 5 places", d => d with { BatchDiscount = 0.12345m }, "batch_discount" },
        { "lower-case currency", d => d with { Currency = "usd" }, "currency" },
        { "sub-second effective time", d => d with { EffectiveFrom = T0.AddMilliseconds(1) }, "effective_from" },
        { "spot ceiling below floor", d => d with { Spot = new SpotFormula(1m, 0.5m, 2m, 1m) }, "spot.ceiling_factor" },
        { "spot knee above 1", d => d with { Spot = new SpotFormula(1m, 1.5m, 0.5m, 1.5m) }, "spot.knee" },
    };

    [Theory]
    [MemberData(nameof(BadDrafts))]
    public void Validation_names_the_field(string because, Func<PriceSheetDraft, PriceSheetDraft> spoil, string path)
    {
        var draft = spoil(Sheet().Gpu(2.5m).Tokens(0.1m, 0.2m).Draft());

        var problems = PriceSheet.Validate(draft);

        Assert.True(problems.Any(p => p.Path == path), $"{because}: expected a problem at {path}, got [{string.Join("; ", problems)}]");
    }

    [Fact]
    public void Validation_lists_every_problem_at_once()
    {
        var draft = new PriceSheetDraft(T0, "dollars",
            [new GpuRate(H100, Tier.OnDemand, UsEast, -1m), new GpuRate(H100, Tier.OnDemand, UsEast, 2m)],
            [new TokenRate("", -1m, 1m)],
            BatchDiscount: -0.1m);

        var paths = PriceSheet.Validate(draft).Select(p => p.Path).ToList();

        Assert.Equal(
            ["currency", "gpu_rates[0].per_gpu_hour", "gpu_rates[1]", "token_rates[0].model", "token_rates[0].input_per_million", "batch_discount"],
            paths);
    }

    [Fact]
    public void A_valid_draft_has_no_problems()
    {
        Assert.Empty(PriceSheet.Validate(Sheet().Gpu(2.5m).Gpu(1m, tier: Tier.Spot).Tokens(0.1m, 0.2m).Draft()));
    }

    [Fact]
    public void Publishing_a_new_version_leaves_the_old_sheet_and_version_unchanged()
    {
        var v1 = PriceSheet.Empty.Publish(Sheet(At(0)).Gpu(2.5m).Draft(), now: At(0)).Value!;
        var first = v1.Versions[0];

        var v2 = v1.Publish(Sheet(At(24)).Gpu(3m).Draft(), now: At(1)).Value!;

        Assert.Single(v1.Versions);
        Assert.Same(first, v2.Versions[0]);
        Assert.Equal(2.5m, first.GpuRates[0].PerGpuHour);
        Assert.Equal([1, 2], v2.Versions.Select(v => v.Number));
        Assert.Equal(2.5m, v2.GpuHourlyAt(H100, Tier.OnDemand, UsEast, At(23, 59, 59)).Rate);
        Assert.Equal(3m, v2.GpuHourlyAt(H100, Tier.OnDemand, UsEast, At(24)).Rate);
    }

    public static TheoryData<string, DateTimeOffset, DateTimeOffset, string, string> BadSuccessions => new()
    {
        { "effective in the past", At(2), At(3), "USD", "effective_from" },
        { "not after the latest version", At(-1), At(-2), "USD", "effective_from" },
        { "another currency", At(48), At(0), "EUR", "currency" },
    };

    [Theory]
    [MemberData(nameof(BadSuccessions))]
    public void Publishing_refuses_to_rewrite_history(string because, DateTimeOffset effective, DateTimeOffset now, string currency, string path)
    {
        var sheet = Prices(Sheet(At(0)).Gpu(2.5m));

        var result = sheet.Publish(Sheet(effective).Currency(currency).Gpu(3m).Draft(), now);

        Assert.False(result.Succeeded, because);
        Assert.Contains(result.Problems, p => p.Path == path);
    }

    public static TheoryData<string, DateTimeOffset, string, PriceLookupStatus, decimal> Lookups => new()
    {
        { "before the first version", At(-1), H100, PriceLookupStatus.NoVersionInForce, 0m },
        { "the first second of version 1", At(0), H100, PriceLookupStatus.Found, 2.5m },
        { "the last second of version 1", At(9, 59, 59), H100, PriceLookupStatus.Found, 2.5m },
        { "the first second of version 2", At(10), H100, PriceLookupStatus.Found, 2.75m },
        { "a model with no rate", At(10), A100, PriceLookupStatus.NoRate, 0m },
    };

    [Theory]
    [MemberData(nameof(Lookups))]
    public void The_rate_in_force_is_the_last_version_that_took_effect(
        string because, DateTimeOffset time, string model, PriceLookupStatus status, decimal rate)
    {
        var sheet = Prices(Sheet(At(0)).Gpu(2.5m), Sheet(At(10)).Gpu(2.75m));

        var lookup = sheet.GpuHourlyAt(model, Tier.OnDemand, UsEast, time);

        Assert.Equal((status, rate), (lookup.Status, lookup.Rate));
        Assert.Equal(status == PriceLookupStatus.Found, lookup.Found);
        Assert.True(lookup.Found || lookup.Reason.Length > 0, because);
    }

    [Theory]
    [InlineData(Meter.InputTokens, false, "0.15")]
    [InlineData(Meter.OutputTokens, false, "0.60")]
    [InlineData(Meter.InputTokens, true, "0.075")]
    [InlineData(Meter.OutputTokens, true, "0.30")]
    public void Token_prices_apply_the_batch_discount(Meter meter, bool batch, string expected)
    {
        var sheet = Prices(Sheet().Tokens(0.15m, 0.60m).BatchDiscount(0.5m));

        var lookup = sheet.TokenPerMillionAt(Llama, meter, batch, At(1));

        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), lookup.Rate);
        Assert.Equal("v1", lookup.Source);
    }

    [Fact]
    public void Loading_reports_problems_per_version()
    {
        var result = PriceSheet.Load([Sheet(At(0)).Gpu(2.5m).Draft(), Sheet(At(0)).Gpu(-1m).Draft()]);

        Assert.False(result.Succeeded);
        Assert.Equal(["versions[1].gpu_rates[0].per_gpu_hour", "versions[1].effective_from"], result.Problems.Select(p => p.Path));
    }
}
