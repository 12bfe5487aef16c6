using CsCheck;
using Headroom.Core.Pricing;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

/// <summary>A hard-limited budget never overspends, whatever the interleaving of reservations and settlements.</summary>
public sealed class BudgetProperties
{
    // Costs in cents, as decimals: 0.01 .. 50.00.
    private static readonly Gen<decimal> Cost = Gen.Int[1, 5_000].Select(cents => cents / 100m);

    /// <summary>One step: reserve up to a cost, or settle the n-th outstanding lease at a fraction (in %) of its maximum.</summary>
    private static readonly Gen<(bool Reserve, decimal Cost, int Pick, int Percent)> Step =
        Gen.Select(Gen.Bool, Cost, Gen.Int[0, 100], Gen.Int[0, 100]);

    [Fact]
    public void Any_interleaving_keeps_spend_plus_reservations_within_the_limit()
    {
        Gen.Select(Gen.Int[0, 20_000].Select(c => c / 100m), Step.Array[1, 200]).Sample((limit, steps) =>
        {
            var budget = new Budget(new BudgetPolicy(limit, November, HardLimit: true));
            var outstanding = new List<BudgetLease>();
            foreach (var (reserve, cost, pick, percent) in steps)
            {
                if (reserve || outstanding.Count == 0)
                {
                    var reservation = budget.TryReserve(cost, At(1));
                    Assert.Equal(reservation.Granted, budget.Spent + budget.Reserved - (reservation.Lease?.MaxCost ?? 0m) + cost <= limit);
                    if (reservation.Lease is { } lease)
                    {
                        outstanding.Add(lease);
                    }
                }
                else
                {
                    var lease = outstanding[pick % outstanding.Count];
                    outstanding.Remove(lease);
                    Assert.True(budget.Settle(lease, Math.Round(lease.MaxCost * percent / 100m, 2)).Settled);
                }
                Assert.True(budget.Spent + budget.Reserved <= limit);
                Assert.Equal(outstanding.Sum(l => l.MaxCost), budget.Reserved);
            }
        }, iter: 300);
    }

    [Fact]
    public void Concurrent_requests_never_overspend_the_hard_limit()
    {
        Gen.Select(Gen.Int[100, 10_000].Select(c => c / 100m), Gen.Int[0, int.MaxValue]).Sample((limit, seed) =>
        {
            var budget = new Budget(new BudgetPolicy(limit, November, HardLimit: true));
            var biggest = 0m;
            var gate = new Lock();
            Parallel.For(0, 8, worker =>
            {
                // Seeded per worker: the test is random but replayable; the interleaving is the machine's.
                var random = new Random(seed ^ worker);
                for (var i = 0; i < 200; i++)
                {
                    var maxCost = random.Next(1, 2_000) / 100m;
                    lock (gate)
                    {
                        biggest = Math.Max(biggest, maxCost);
                    }
                    if (budget.TryReserve(maxCost, At(1)).Lease is { } lease)
                    {
                        budget.Settle(lease, maxCost * random.Next(0, 101) / 100m);
                    }
                }
            });
            Assert.True(budget.Spent <= limit, $"spent {budget.Spent} of {limit}");
            Assert.True(budget.Spent <= limit + biggest);
            Assert.Equal((0m, 0), (budget.Reserved, budget.OutstandingLeases));
        }, iter: 20, threads: 1);
    }
}
