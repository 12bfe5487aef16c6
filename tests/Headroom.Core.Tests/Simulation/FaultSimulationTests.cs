using System.Collections.Concurrent;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Simulation.Faults;

namespace Headroom.Core.Tests.Simulation;

public class FaultSimulationTests
{
    /// <summary>Seeds per CI run; FAULT_SIM_SEEDS sets more for a long run (e.g. 100000).</summary>
    private static int Seeds => int.TryParse(Environment.GetEnvironmentVariable("FAULT_SIM_SEEDS"), out var n) && n > 0 ? n : 2_000;

    [Fact]
    public void Two_thousand_seeds_under_faults_break_no_invariant()
    {
        var results = new ConcurrentBag<FaultSimulationResult>();
        Parallel.For(1, Seeds + 1, seed => results.Add(FaultSimulation.Run(seed)));

        var violations = results.SelectMany(r => r.Violations).Take(20).ToList();
        Assert.True(violations.Count == 0, string.Join("\n", violations));

        // The faults and the situations the invariants guard actually happened, at scale.
        Assert.Equal(Seeds, results.Count);
        Assert.True(results.Sum(r => r.PreemptionStops) >= 1_000, $"only {results.Sum(r => r.PreemptionStops)} preemptions checked");
        Assert.True(results.Sum(r => r.Crashes) >= Seeds, $"only {results.Sum(r => r.Crashes)} crashes");
        Assert.True(results.Sum(r => r.DuplicatesDelivered) >= Seeds, $"only {results.Sum(r => r.DuplicatesDelivered)} duplicates");
        Assert.True(results.Sum(r => r.ReservationsRefused) > 0 && results.Sum(r => r.ReservationsAdmitted) > 0);
        var stops = results.Where(r => r.PreemptionStops > 0).ToList();
        Assert.All(stops, r => Assert.True(r.ShortestNotice >= TimeSpan.FromSeconds(30), $"seed {r.Seed}: notice {r.ShortestNotice}"));
    }

    [Fact]
    public void A_seed_replays_exactly()
    {
        var first = FaultSimulation.Run(1234);
        var again = FaultSimulation.Run(1234);

        Assert.Equal(first with { Violations = [] }, again with { Violations = [] });
        Assert.Equal(first.Violations, again.Violations);
        Assert.True(first.Starts > 0 && first.EventsMetered > 0);
    }

    // The audit of the books is what the simulation's verdict rests on: it must see each kind of damage.
    [Fact]
    public void The_books_audit_catches_a_lost_a_double_a_foreign_and_an_altered_event()
    {
        var (metered, ledger, sheet, spot, runs) = Books();
        Assert.Empty(FaultSimulation.BookViolations(metered, metered, ledger, sheet, spot, runs));

        var lost = Copy(ledger);
        lost["t1"].RemoveAt(1);
        Assert.Contains(FaultSimulation.BookViolations(metered, metered, lost, sheet, spot, runs), v => v.Contains("e2 is in the ledger 0 times", StringComparison.Ordinal));

        var doubled = Copy(ledger);
        doubled["t1"].Add(UsageLedger.Seal(doubled["t1"][^1], metered[0], T(10)));
        Assert.Contains(FaultSimulation.BookViolations(metered, metered, doubled, sheet, spot, runs), v => v.Contains("e1 is in the ledger 2 times", StringComparison.Ordinal));

        var foreign = Copy(ledger);
        var stranger = Gpu("e9", 0, 60, null);
        foreign["t1"].Add(UsageLedger.Seal(foreign["t1"][^1], stranger, T(10)));
        Assert.Contains(FaultSimulation.BookViolations(metered, metered, foreign, sheet, spot, runs), v => v.Contains("e9 is in the ledger but was never metered", StringComparison.Ordinal));

        var altered = Copy(ledger);
        altered["t1"][0] = altered["t1"][0] with { Event = metered[0] with { Quantity = 2000 } };
        var found = FaultSimulation.BookViolations(metered, metered, altered, sheet, spot, runs);
        Assert.Contains(found, v => v.Contains("differs from what was metered", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("ledger of t1", StringComparison.Ordinal));

        var overcharged = metered.Select(e => e.Id == "e2" ? e with { Quantity = e.Quantity * 2 } : e).ToList();
        Assert.Contains(FaultSimulation.BookViolations(metered, overcharged, ledger, sheet, spot, runs), v => v.Contains("from the delivered stream", StringComparison.Ordinal));

        var outside = runs.Select(r => r.EventId == "e1" ? (r.EventId, r.RunStart.AddSeconds(30), r.RunEnd) : r).ToList();
        Assert.Contains(FaultSimulation.BookViolations(metered, metered, ledger, sheet, spot, outside), v => v.Contains("outside its run", StringComparison.Ordinal));
    }

    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 0, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset T(int minutes) => T0.AddMinutes(minutes);

    private static UsageEvent Gpu(string id, int from, int to, int? noticed) =>
        UsageEvent.GpuAttempt(id, "t1", "t1-p0", 1000, Tier.OnDemand, "h100-80gb", "eu", T(from), T(to), noticed is { } n ? T(n) : null);

    private static (List<UsageEvent>, Dictionary<string, List<LedgerEntry>>, PriceSheet, List<SpotPricePoint>, List<(string EventId, DateTimeOffset RunStart, DateTimeOffset RunEnd)>) Books()
    {
        var sheet = PriceSheet.Load([new PriceSheetDraft(T0, "USD", [new GpuRate("h100-80gb", Tier.OnDemand, "eu", 2.49m)], [])]).Value!;
        List<UsageEvent> metered = [Gpu("e1", 0, 30, null), Gpu("e2", 30, 90, 85)];
        var chain = new List<LedgerEntry>();
        foreach (var e in metered)
            chain.Add(UsageLedger.Seal(chain.Count == 0 ? null : chain[^1], e, T(95)));
        var runs = metered.Select(e => (e.Id, e.Start, e.End)).ToList();
        return (metered, new Dictionary<string, List<LedgerEntry>> { ["t1"] = chain }, sheet, [], runs);
    }

    private static Dictionary<string, List<LedgerEntry>> Copy(Dictionary<string, List<LedgerEntry>> ledger) =>
        ledger.ToDictionary(p => p.Key, p => p.Value.ToList());
}
