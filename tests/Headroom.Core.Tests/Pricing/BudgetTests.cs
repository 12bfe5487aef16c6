using Headroom.Core.Pricing;
using static Headroom.Core.Tests.Pricing.PricingTestData;

namespace Headroom.Core.Tests.Pricing;

public sealed class BudgetTests
{
    private static Budget Budget(decimal limit = 100m, bool hard = false, decimal spent = 0m) =>
        new(new BudgetPolicy(limit, November, hard), spent);

    [Theory]
    [InlineData("below the first threshold", new[] { "40" }, new int[0])]
    [InlineData("half spent", new[] { "40", "10" }, new[] { 50 })]
    [InlineData("thresholds fire in order, once each", new[] { "55", "30", "1", "20", "5" }, new[] { 50, 80, 100 })]
    [InlineData("one settlement can cross several", new[] { "99.99", "0.01" }, new[] { 50, 80, 100 })]
    public void Alerts_fire_once_as_spend_reaches_each_threshold(string because, string[] costs, int[] percents)
    {
        var budget = Budget();
        var fired = new List<int>();

        foreach (var cost in costs)
        {
            var lease = budget.TryReserve(Dec(cost), At(1)).Lease!;
            fired.AddRange(budget.Settle(lease, Dec(cost)).Alerts.Select(a => a.Percent));
        }

        Assert.True(percents.SequenceEqual(fired), $"{because}: [{string.Join(", ", fired)}]");
    }

    [Fact]
    public void A_hard_limit_admits_a_request_only_while_its_whole_maximum_fits()
    {
        var budget = Budget(hard: true);
        var first = budget.TryReserve(60m, At(1));

        var tooBig = budget.TryReserve(40.01m, At(1));
        var exact = budget.TryReserve(40m, At(1));

        Assert.True(first.Granted);
        Assert.Equal(BudgetRefusalReason.HardLimit, tooBig.Refusal);
        Assert.Contains("leaves 40", tooBig.Message, StringComparison.Ordinal);
        Assert.True(exact.Granted);
        Assert.Equal(0m, budget.Available);
    }

    [Fact]
    public void Settling_below_the_maximum_gives_the_difference_back()
    {
        var budget = Budget(hard: true);
        var lease = budget.TryReserve(100m, At(1)).Lease!;

        budget.Settle(lease, 30m);

        Assert.Equal((30m, 0m, 70m), (budget.Spent, budget.Reserved, budget.Available));
        Assert.True(budget.TryReserve(70m, At(1)).Granted);
    }

    [Fact]
    public void Settling_twice_changes_nothing()
    {
        var budget = Budget();
        var lease = budget.TryReserve(10m, At(1)).Lease!;

        var first = budget.Settle(lease, 10m);
        var second = budget.Settle(lease, 10m);

        Assert.True(first.Settled);
        Assert.False(second.Settled);
        Assert.Equal(10m, budget.Spent);
    }

    [Fact]
    public void Releasing_an_unused_lease_charges_nothing()
    {
        var budget = Budget(hard: true);
        var lease = budget.TryReserve(100m, At(1)).Lease!;

        budget.Release(lease);

        Assert.Equal((0m, 0m, 0), (budget.Spent, budget.Reserved, budget.OutstandingLeases));
    }

    [Fact]
    public void An_overrun_is_charged_and_reported()
    {
        var budget = Budget(hard: true);
        var lease = budget.TryReserve(10m, At(1)).Lease!;

        var settlement = budget.Settle(lease, 12.5m);

        Assert.Equal((12.5m, 2.5m), (settlement.Charged, settlement.Overrun));
    }

    public static TheoryData<string, decimal, DateTimeOffset, BudgetRefusalReason> Refusals => new()
    {
        { "a negative maximum", -1m, At(1), BudgetRefusalReason.InvalidAmount },
        { "before the period", 1m, T0.AddSeconds(-1), BudgetRefusalReason.OutsidePeriod },
        { "at the period's end", 1m, November.End, BudgetRefusalReason.OutsidePeriod },
        { "more than the hard limit", 100.01m, At(1), BudgetRefusalReason.HardLimit },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Refusals_say_why(string because, decimal maxCost, DateTimeOffset now, BudgetRefusalReason reason)
    {
        var reservation = Budget(hard: true).TryReserve(maxCost, now);

        Assert.False(reservation.Granted, because);
        Assert.Equal(reason, reservation.Refusal);
        Assert.NotEmpty(reservation.Message);
    }

    [Fact]
    public void A_soft_budget_never_refuses_and_still_alerts()
    {
        var budget = Budget(limit: 10m);
        var lease = budget.TryReserve(50m, At(1)).Lease!;

        Assert.Equal([50, 80, 100], budget.Settle(lease, 50m).Alerts.Select(a => a.Percent));
    }

    [Fact]
    public void A_budget_loaded_mid_period_does_not_fire_thresholds_already_passed()
    {
        var budget = Budget(spent: 60m);
        var lease = budget.TryReserve(25m, At(1)).Lease!;

        Assert.Equal([80], budget.Settle(lease, 25m).Alerts.Select(a => a.Percent));
    }

    [Fact]
    public void A_bad_policy_lists_every_problem()
    {
        var problems = new BudgetPolicy(-1m, November, AlertPercents: [80, 50, 0]).Validate();

        Assert.Equal(["limit", "alert_percents[1]", "alert_percents[2]"], problems.Select(p => p.Path));
    }

    private static decimal Dec(string value) => decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
}
