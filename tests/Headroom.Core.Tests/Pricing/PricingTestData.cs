using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Tier = Headroom.Core.Scheduling.Tiered.Tier;

namespace Headroom.Core.Tests.Pricing;

/// <summary>Builders for price sheets and usage events, with defaults that read well in a test: change only what matters.</summary>
public static class PricingTestData
{
    public const string Org = "org_acme";
    public const string Project = "prj_train";
    public const string H100 = "h100-80gb";
    public const string A100 = "a100-80gb";
    public const string UsEast = "us-east";
    public const string EuWest = "eu-west";
    public const string Llama = "llama-3.1-8b";

    /// <summary>The first second of November 2026, UTC.</summary>
    public static readonly DateTimeOffset T0 = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly BillingPeriod November = BillingPeriod.Month(2026, 11);

    public static readonly SpotPool UsEastH100 = new(UsEast, H100);

    public static DateTimeOffset At(int hours, int minutes = 0, int seconds = 0) => T0.AddHours(hours).AddMinutes(minutes).AddSeconds(seconds);

    public static SheetBuilder Sheet(DateTimeOffset? from = null) => new(from ?? T0);

    /// <summary>A sheet of the given versions, as the store would load it.</summary>
    public static PriceSheet Prices(params SheetBuilder[] versions)
    {
        var result = PriceSheet.Load(versions.Select(v => v.Draft()));
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Value;
    }

    public static SpotPriceHistory Spot(params (DateTimeOffset Time, decimal Rate)[] points) => Spot(UsEastH100, points);

    public static SpotPriceHistory Spot(SpotPool pool, params (DateTimeOffset Time, decimal Rate)[] points)
    {
        var result = SpotPriceHistory.Load(points.Select(p => new SpotPricePoint(p.Time, pool, p.Rate)));
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Value;
    }

    public static EventBuilder Gpu(string id = "evt_1") => new(id, Meter.GpuSeconds);

    public static EventBuilder Input(string id = "evt_1") => new(id, Meter.InputTokens);

    public static EventBuilder Output(string id = "evt_1") => new(id, Meter.OutputTokens);

    public sealed class SheetBuilder(DateTimeOffset from)
    {
        private readonly List<GpuRate> _gpu = [];
        private readonly List<TokenRate> _tokens = [];
        private DateTimeOffset _from = from;
        private string _currency = "USD";
        private decimal _batchDiscount = 0.5m;
        private SpotFormula? _spot;

        public SheetBuilder Gpu(decimal perHour, string model = H100, Tier tier = Tier.OnDemand, string region = UsEast)
        {
            _gpu.Add(new GpuRate(model, tier, region, perHour));
            return this;
        }

        public SheetBuilder Tokens(decimal inputPerMillion, decimal outputPerMillion, string model = Llama)
        {
            _tokens.Add(new TokenRate(model, inputPerMillion, outputPerMillion));
            return this;
        }

        public SheetBuilder From(DateTimeOffset from)
        {
            _from = from;
            return this;
        }

        public SheetBuilder Currency(string currency)
        {
            _currency = currency;
            return this;
        }

        public SheetBuilder BatchDiscount(decimal discount)
        {
            _batchDiscount = discount;
            return this;
        }

        public SheetBuilder SpotFormula(SpotFormula formula)
        {
            _spot = formula;
            return this;
        }

        public PriceSheetDraft Draft() => new(_from, _currency, [.. _gpu], [.. _tokens], _batchDiscount, _spot);
    }

    public sealed class EventBuilder(string id, Meter meter)
    {
        private UsageEvent _event = new(
            id, PricingTestData.Org, PricingTestData.Project, meter,
            meter == Meter.GpuSeconds ? 1000 : 1,
            meter == Meter.GpuSeconds ? new UsageDimensions(Headroom.Core.Scheduling.Tiered.Tier.OnDemand, H100, UsEast) : new UsageDimensions(Model: Llama),
            PricingTestData.At(12), meter == Meter.GpuSeconds ? PricingTestData.At(13) : PricingTestData.At(12));

        public EventBuilder From(DateTimeOffset start, DateTimeOffset end) => With(e => e with { Start = start, End = end });

        public EventBuilder At(DateTimeOffset time) => With(e => e with { Start = time, End = time });

        public EventBuilder MilliGpus(long milliGpus) => With(e => e with { Quantity = milliGpus });

        public EventBuilder Count(long tokens) => With(e => e with { Quantity = tokens });

        public EventBuilder Tier(Tier tier) => With(e => e with { Dimensions = e.Dimensions with { Tier = tier } });

        public EventBuilder GpuModel(string? model) => With(e => e with { Dimensions = e.Dimensions with { GpuModel = model } });

        public EventBuilder Region(string? region) => With(e => e with { Dimensions = e.Dimensions with { Region = region } });

        public EventBuilder Model(string? model) => With(e => e with { Dimensions = e.Dimensions with { Model = model } });

        public EventBuilder Key(string key) => With(e => e with { Dimensions = e.Dimensions with { ApiKeyId = key } });

        public EventBuilder Batch() => With(e => e with { Dimensions = e.Dimensions with { Batch = true } });

        public EventBuilder Project(string project) => With(e => e with { ProjectId = project });

        public EventBuilder Org(string org) => With(e => e with { OrgId = org });

        public EventBuilder Preempted(DateTimeOffset notice) => With(e => e with { NotChargedFrom = notice });

        public UsageEvent Build() => _event;

        public static implicit operator UsageEvent(EventBuilder builder) => builder.Build();

        private EventBuilder With(Func<UsageEvent, UsageEvent> change)
        {
            _event = change(_event);
            return this;
        }
    }
}
