using CsCheck;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

/// <summary>
/// Invariants of rating and invoicing over random price histories and random usage: the lines add up to the invoice,
/// splitting, reordering or replaying events changes nothing, and every line is exactly Σ quantity × the price in
/// force at each second, by an independent per-second recomputation.
/// </summary>
public sealed class RatingProperties
{
    private const int Day = 86_400;
    private static readonly string[] GpuModels = [H100, A100];
    private static readonly string[] Regions = [UsEast, EuWest];
    // Reserved GPU time is prepaid (rated at zero) and has its own tests; these tiers are priced per second.
    private static readonly Tier[] Tiers = [Tier.OnDemand, Tier.Internal, Tier.Spot];
    private static readonly string[] TokenModels = [Llama, "mistral-7b"];
    private static readonly BillingPeriod Period = new(T0, T0.AddDays(2));

    /// <summary>A list price: 0 to 12 with up to 6 places.</summary>
    private static readonly Gen<decimal> Rate = Gen.Int[0, 12_000_000].Select(micros => micros / 1_000_000m);

    private static readonly Gen<PriceSheetDraft> Version = Gen.Select(Rate.Array[GpuModels.Length * Regions.Length * Tiers.Length], Rate.Array[4], Gen.Int[0, 100])
        .Select((gpu, tokens, discount) => new PriceSheetDraft(
            T0, "USD",
            [.. GpuModels.SelectMany(m => Regions.SelectMany(r => Tiers.Select(t => (m, r, t))))
                .Select((k, i) => new GpuRate(k.m, k.t, k.r, gpu[i]))],
            [new TokenRate(TokenModels[0], tokens[0], tokens[1]), new TokenRate(TokenModels[1], tokens[2], tokens[3])],
            discount / 100m));

    /// <summary>1 to 4 versions: the first two days before the period, the others at random seconds inside the window.</summary>
    private static readonly Gen<PriceSheet> Sheets = Gen.Select(Version.Array[1, 4], Gen.Int[-Day, 3 * Day].Array[3])
        .Select((versions, offsets) =>
        {
            var times = offsets.Distinct().Order().Take(versions.Length - 1).Prepend(-2 * Day).ToArray();
            return PriceSheet.Load(versions.Take(times.Length).Select((v, i) => v with { EffectiveFrom = T0.AddSeconds(times[i]) })).Value!;
        });

    /// <summary>Per pool, a first point two days before the period, then up to 6 more at random seconds.</summary>
    private static readonly Gen<SpotPriceHistory> SpotHistories = Gen.Select(Rate, Gen.Int[-Day, 3 * Day], Gen.Int[0, 3])
        .Array[0, 24]
        .Select(points =>
        {
            var all = GpuModels.SelectMany(m => Regions.Select(r => new SpotPool(r, m)))
                .Select((pool, i) => new SpotPricePoint(T0.AddSeconds(-2 * Day), pool, i + 0.5m))
                .Concat(points.Select(p => new SpotPricePoint(T0.AddSeconds(p.Item2), new SpotPool(Regions[p.Item3 % 2], GpuModels[p.Item3 / 2]), p.Item1)))
                .DistinctBy(p => (p.Pool, p.Time));
            return SpotPriceHistory.Load(all).Value!;
        });

    private static readonly Gen<UsageEvent> GpuEvents =
        Gen.Select(Gen.Int[-Day, 3 * Day], Gen.Int[0, 20_000], Gen.Int[0, 9_999_999], Gen.Long[1, 16_000], Gen.Int[0, 11], Gen.Int[0, 1], Gen.Int[-1, 100])
            .Select((start, seconds, ticks, milliGpus, key, project, noticePercent) =>
            {
                var from = T0.AddSeconds(start).AddTicks(ticks);
                var to = from.AddSeconds(seconds).AddTicks((ticks * 7) % TimeSpan.TicksPerSecond);
                var notice = noticePercent < 0 ? (DateTimeOffset?)null : from.AddSeconds(seconds * noticePercent / 100);
                return UsageEvent.GpuTime("", Org, $"prj_{project}", milliGpus, Tiers[key % 3], GpuModels[key / 3 % 2], Regions[key / 6], from, to, notice);
            });

    private static readonly Gen<UsageEvent> TokenEvents =
        Gen.Select(Gen.Int[-Day, 3 * Day], Gen.Int[0, 9_999_999], Gen.Long[0, 10_000_000], Gen.Int[0, 15])
            .Select((at, ticks, tokens, key) => UsageEvent.Tokens(
                "", Org, $"prj_{key % 2}", key / 2 % 2 == 0 ? Meter.InputTokens : Meter.OutputTokens, tokens,
                TokenModels[key / 4 % 2], T0.AddSeconds(at).AddTicks(ticks), batch: key / 8 == 1, apiKeyId: $"key_{key % 3}"));

    private static readonly Gen<UsageEvent[]> Events = Gen.Frequency((3, GpuEvents), (2, TokenEvents)).Array[0, 40]
        .Select(events => events.Select((e, i) => e with { Id = $"evt_{i}" }).ToArray());

    private static readonly Gen<(PriceSheet Sheet, SpotPriceHistory Spot, UsageEvent[] Events)> Usage = Gen.Select(Sheets, SpotHistories, Events);

    [Fact]
    public void The_lines_add_up_to_the_invoice_and_it_verifies()
    {
        Gen.Select(Usage, Gen.Int[0, 100_000].Array[0, 3]).Sample((usage, creditCents) =>
        {
            var credits = creditCents.Select((c, i) => new InvoiceCredit($"cr_{i}", "promo", c / 100m)).ToList();
            var invoice = Invoicing.Build(Org, Period, usage.Events, usage.Sheet, usage.Spot, credits);

            Assert.Empty(invoice.Problems);
            Assert.Equal(invoice.Lines.Sum(l => l.Amount), invoice.Subtotal);
            Assert.Equal(BillingMath.RoundTotal(invoice.Subtotal - invoice.CreditsApplied), invoice.Total);
            Assert.Equal(invoice.Total, invoice.Subtotal - invoice.CreditsApplied + invoice.Rounding);
            Assert.True(invoice.Total >= 0m && BillingMath.DecimalPlaces(invoice.Total) <= BillingMath.TotalDecimals);
            Assert.All(invoice.Lines, l => Assert.True(BillingMath.DecimalPlaces(l.Amount) <= BillingMath.LineDecimals));
            Assert.Empty(Invoicing.Verify(invoice, usage.Events, usage.Sheet, usage.Spot));
        }, iter: 200);
    }

    [Fact]
    public void Usage_rows_without_day_or_key_add_up_to_the_invoice()
    {
        Gen.Select(Usage, Gen.Int[0, 127]).Sample((usage, flags) =>
        {
            var groupBy = (UsageGrouping)flags & ~(UsageGrouping.Day | UsageGrouping.ApiKey);
            var invoice = Bill(usage, usage.Events);

            var rows = UsageReport.Group(Rater.Rate(usage.Events, usage.Sheet, usage.Spot, Period).Charges, groupBy);

            Assert.Equal(invoice.Subtotal, rows.Sum(r => r.Cost));
        }, iter: 100);
    }

    /// <summary>
    /// What lets a replica extend its answers as the ledger grows: rating the events in consecutive batches and adding
    /// each batch into running sums gives exactly (every figure, every spelling) the one-pass report, invoice lines and
    /// fleet economics over all of them.
    /// </summary>
    [Fact]
    public void Running_sums_over_batches_equal_the_one_pass_report_invoice_and_economics()
    {
        Gen.Select(Usage, Gen.Int[0, 255], Gen.Int[0, 40].Array[0, 4]).Sample((usage, flags, cuts) =>
        {
            var groupBy = (UsageGrouping)flags;
            var all = Rater.Rate(usage.Events, usage.Sheet, usage.Spot, Period).Charges;
            var (from, to, step) = (Period.Start, Period.End, TimeSpan.FromHours(5));
            var pools = new Dictionary<Pool, int> { [new Pool(UsEast, H100)] = 8 };

            var rows = new UsageTotals(groupBy);
            var lines = new InvoiceLineTotals();
            var fleet = new FleetUsage(from, to, step);
            var bounds = cuts.Select(c => Math.Min(c, usage.Events.Length)).Append(0).Append(usage.Events.Length).Distinct().Order().ToList();
            foreach (var (lo, hi) in bounds.Zip(bounds.Skip(1)))
            {
                var batch = Rater.Rate(usage.Events[lo..hi], usage.Sheet, usage.Spot, Period).Charges;
                rows.Add(batch);
                lines.Add(batch);
                fleet.Add(batch);
            }

            Assert.Equal(UsageReport.Group(all, groupBy), rows.Rows());
            var oneLines = Invoicing.Lines(all);
            Assert.Equal(oneLines, lines.Lines());
            Assert.Equal(oneLines.Select(l => l.UnitPrice.ToString()), lines.Lines().Select(l => l.UnitPrice.ToString()));
            var one = FleetEconomics.Compute(pools, all, [], from, to, step);
            var running = FleetEconomics.Compute(pools, fleet, []);
            Assert.Equal(one.Length, running.Length);
            foreach (var (a, b) in one.Zip(running))
            {
                Assert.Equal((a.From, a.To, a.TokenRevenue.ToString()), (b.From, b.To, b.TokenRevenue.ToString()));
                Assert.Equal(a.Pools.Select(p => (p.Pool, p.CapacityMilliGpuSeconds, p.IdleMilliGpuSeconds)), b.Pools.Select(p => (p.Pool, p.CapacityMilliGpuSeconds, p.IdleMilliGpuSeconds)));
                Assert.Equal(a.Pools.SelectMany(p => p.Tiers).Select(t => (t.Tier, t.UsedMilliGpuSeconds, t.SoldMilliGpuSeconds, t.Revenue.ToString())),
                    b.Pools.SelectMany(p => p.Tiers).Select(t => (t.Tier, t.UsedMilliGpuSeconds, t.SoldMilliGpuSeconds, t.Revenue.ToString())));
            }
        }, iter: 200);
    }

    [Fact]
    public void Reordering_events_changes_nothing()
    {
        Gen.Select(Usage, Gen.Int).Sample((usage, seed) =>
        {
            var shuffled = usage.Events.ToArray();
            new Random(seed).Shuffle(shuffled);

            AssertSameInvoice(Bill(usage, usage.Events), Bill(usage, shuffled));
        }, iter: 200);
    }

    [Fact]
    public void Replaying_events_changes_nothing()
    {
        Gen.Select(Usage, Gen.Int[0, 1000].Array[0, 20]).Sample((usage, picks) =>
        {
            var replayed = usage.Events.Length == 0 ? usage.Events : [.. usage.Events, .. picks.Select(p => usage.Events[p % usage.Events.Length])];

            AssertSameInvoice(Bill(usage, usage.Events), Bill(usage, replayed));
        }, iter: 200);
    }

    [Fact]
    public void Splitting_an_event_in_two_changes_nothing()
    {
        Gen.Select(Usage, Gen.Int[0, 1000], Gen.Int[0, 100]).Sample((usage, pick, percent) =>
        {
            if (usage.Events.Length == 0)
            {
                return;
            }
            var index = pick % usage.Events.Length;
            var split = usage.Events.Take(index).Concat(Split(usage.Events[index], percent)).Concat(usage.Events.Skip(index + 1));

            AssertSameInvoice(Bill(usage, usage.Events), Bill(usage, split));
        }, iter: 300);
    }

    [Fact]
    public void Every_line_is_the_sum_over_seconds_of_quantity_times_the_price_in_force()
    {
        var smallGpuEvents = GpuEvents.Select(e => e with { End = e.Start.AddSeconds((e.End - e.Start).TotalSeconds % 900) })
            .Select(e => e with { NotChargedFrom = e.NotChargedFrom is { } n && n > e.End ? e.End : e.NotChargedFrom })
            .Array[0, 12].Select(events => events.Select((e, i) => e with { Id = $"evt_{i}" }).ToArray());
        Gen.Select(Sheets, SpotHistories, smallGpuEvents).Sample((sheet, spot, events) =>
        {
            var expected = new Dictionary<InvoiceLineKey, long>();
            foreach (var e in events)
            {
                var d = e.Dimensions;
                var end = Math.Min(e.ChargedUntil.ToUnixTimeSeconds(), Period.End.ToUnixTimeSeconds());
                for (var s = Math.Max(e.Start.ToUnixTimeSeconds(), Period.Start.ToUnixTimeSeconds()); s < end; s++)
                {
                    var at = DateTimeOffset.FromUnixTimeSeconds(s);
                    var price = d.Tier == Tier.Spot
                        ? spot.RateAt(new SpotPool(d.Region!, d.GpuModel!), at)
                        : sheet.GpuHourlyAt(d.GpuModel!, d.Tier!.Value, d.Region!, at);
                    var key = new InvoiceLineKey(e.ProjectId, e.Meter, d, price.Rate, PriceUnit.GpuHour);
                    expected[key] = expected.GetValueOrDefault(key) + e.Quantity;
                }
            }

            var invoice = Invoicing.Build(Org, Period, events, sheet, spot);

            Assert.Equal(expected.Count, invoice.Lines.Count);
            foreach (var line in invoice.Lines)
            {
                Assert.Equal(expected[line.Key], line.Quantity);
                Assert.Equal(BillingMath.Charge(line.Quantity, line.UnitPrice, BillingMath.MilliGpuSecondsPerGpuHour), line.Amount);
            }
        }, iter: 100);
    }

    private static Invoice Bill((PriceSheet Sheet, SpotPriceHistory Spot, UsageEvent[] Events) usage, IEnumerable<UsageEvent> events) =>
        Invoicing.Build(Org, Period, events, usage.Sheet, usage.Spot);

    private static void AssertSameInvoice(Invoice expected, Invoice actual)
    {
        Assert.Equal(expected.Lines, actual.Lines);
        Assert.Equal((expected.Subtotal, expected.Total), (actual.Subtotal, actual.Total));
        Assert.Equal(expected.Problems.Count, actual.Problems.Count);
    }

    /// <summary>
    /// Two events that together are <paramref name="usage"/>: GPU time cut at a whole second (the notice goes with the
    /// part it falls in), tokens divided in two counts at the same time.
    /// </summary>
    private static UsageEvent[] Split(UsageEvent usage, int percent)
    {
        if (usage.Meter != Meter.GpuSeconds)
        {
            var first = usage.Quantity * percent / 100;
            return [usage with { Id = usage.Id + "/a", Quantity = first }, usage with { Id = usage.Id + "/b", Quantity = usage.Quantity - first }];
        }
        var start = usage.Start.ToUnixTimeSeconds();
        var cut = DateTimeOffset.FromUnixTimeSeconds(start + ((usage.End.ToUnixTimeSeconds() - start) * percent / 100));
        if (cut < usage.Start)
        {
            cut = usage.Start;
        }
        var notice = usage.NotChargedFrom;
        return
        [
            usage with { Id = usage.Id + "/a", End = cut, NotChargedFrom = notice < cut ? notice : null },
            usage with { Id = usage.Id + "/b", Start = cut, NotChargedFrom = notice is { } n ? (n > cut ? n : cut) : null },
        ];
    }
}
