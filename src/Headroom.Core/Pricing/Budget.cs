namespace Headroom.Core.Pricing;

/// <summary>
/// A spending budget for one org or project over <paramref name="Period"/>. Alerts fire when settled spend reaches each
/// of <paramref name="AlertPercents"/> of <paramref name="Limit"/> (50, 80 and 100 % by default); with
/// <paramref name="HardLimit"/> new spend is refused once it could pass the limit.
/// </summary>
public sealed record BudgetPolicy(decimal Limit, BillingPeriod Period, bool HardLimit = false, IReadOnlyList<int>? AlertPercents = null)
{
    public static IReadOnlyList<int> DefaultAlertPercents { get; } = [50, 80, 100];

    /// <summary>Every problem with the policy; empty when it is usable.</summary>
    public IReadOnlyList<PricingProblem> Validate()
    {
        var problems = new List<PricingProblem>();
        if (Limit < 0m)
        {
            problems.Add(new("limit", $"{Limit} is negative."));
        }
        if (Period is null)
        {
            problems.Add(new("period", "required."));
        }
        var percents = AlertPercents ?? DefaultAlertPercents;
        for (var i = 0; i < percents.Count; i++)
        {
            if (percents[i] is <= 0 or > 1000)
            {
                problems.Add(new($"alert_percents[{i}]", $"{percents[i]} is not a percentage between 1 and 1000."));
            }
            else if (i > 0 && percents[i] <= percents[i - 1])
            {
                problems.Add(new($"alert_percents[{i}]", "percentages go up strictly."));
            }
        }
        return problems;
    }
}

/// <summary>Spend held for one piece of work until it is settled; <see cref="MaxCost"/> is the most it may cost.</summary>
public sealed record BudgetLease(long Id, decimal MaxCost);

public enum BudgetRefusalReason
{
    /// <summary>The hard limit leaves less room than the request's maximum cost (HTTP 429 <c>insufficient_quota</c>).</summary>
    HardLimit,
    /// <summary>The request falls outside the budget's period.</summary>
    OutsidePeriod,
    /// <summary>The maximum cost is negative.</summary>
    InvalidAmount,
}

/// <summary>The answer of <see cref="Budget.TryReserve"/>: a lease, or a refusal with its reason.</summary>
public sealed record BudgetReservation(BudgetLease? Lease, BudgetRefusalReason? Refusal, string Message)
{
    public bool Granted => Lease is not null;
}

/// <summary>A threshold crossed by settled spend: fired once per budget period.</summary>
public sealed record BudgetAlert(int Percent, decimal Threshold, decimal Spent);

/// <summary>
/// What <see cref="Budget.Settle"/> did. <see cref="Settled"/> is false for a lease that is unknown or already settled
/// (nothing changes: settling is idempotent). <see cref="Overrun"/> is how much the actual cost exceeded the lease's
/// maximum; it is charged, because the usage happened, and is the caller's bug to fix.
/// </summary>
public sealed record BudgetSettlement(bool Settled, decimal Charged, decimal Overrun, IReadOnlyList<BudgetAlert> Alerts);

/// <summary>
/// Budget arithmetic as leases, after System.Threading.RateLimiting: work takes a lease for its maximum cost before it
/// starts (<see cref="TryReserve"/>) and settles it with the actual cost when done (<see cref="Settle"/>).
/// </summary>
/// <remarks>
/// Invariant under a hard limit: Spent + Reserved ≤ Limit after every reservation, because a reservation is admitted
/// only if Spent + Reserved + maxCost ≤ Limit, atomically. Settling replaces a lease's maximum with its actual cost,
/// so while callers keep actual ≤ maximum (the lease's contract), Spent never passes Limit, however many requests
/// run at once. An overrun is charged and reported; it can carry Spent past Limit by its excess, and a budget with no
/// room left refuses every new lease. Thread-safe; holds no clock: <c>now</c> is passed in.
/// </remarks>
public sealed class Budget
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, BudgetLease> _outstanding = [];
    private readonly IReadOnlyList<int> _alertPercents;
    private long _nextLeaseId;
    private decimal _spent;
    private decimal _reserved;
    private int _alertsFired;

    /// <param name="policy">A valid policy (<see cref="BudgetPolicy.Validate"/>).</param>
    /// <param name="spent">Spend already settled in this period, as the ledger says (on restart).</param>
    public Budget(BudgetPolicy policy, decimal spent = 0m)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.Validate() is { Count: > 0 } problems)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(policy));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(spent);
        Policy = policy;
        _alertPercents = policy.AlertPercents ?? BudgetPolicy.DefaultAlertPercents;
        _spent = spent;
        // Thresholds already behind when the budget is loaded have fired before.
        while (_alertsFired < _alertPercents.Count && spent >= Threshold(_alertsFired))
        {
            _alertsFired++;
        }
    }

    public BudgetPolicy Policy { get; }

    /// <summary>Settled spend in the period.</summary>
    public decimal Spent
    {
        get
        {
            // A decimal is 16 bytes: read it under the lock, or a concurrent settlement can tear it.
            lock (_lock)
            {
                return _spent;
            }
        }
    }

    /// <summary>The maximum costs of outstanding leases.</summary>
    public decimal Reserved
    {
        get
        {
            lock (_lock)
            {
                return _reserved;
            }
        }
    }

    /// <summary>Room left under the limit for new leases (never negative).</summary>
    public decimal Available
    {
        get
        {
            lock (_lock)
            {
                return Math.Max(0m, Policy.Limit - _spent - _reserved);
            }
        }
    }

    public int OutstandingLeases
    {
        get
        {
            lock (_lock)
            {
                return _outstanding.Count;
            }
        }
    }

    /// <summary>Takes a lease for work that costs at most <paramref name="maxCost"/>, or says why not.</summary>
    public BudgetReservation TryReserve(decimal maxCost, DateTimeOffset now)
    {
        if (maxCost < 0m)
        {
            return new(null, BudgetRefusalReason.InvalidAmount, $"The maximum cost {maxCost} is negative.");
        }
        if (!Policy.Period.Contains(now))
        {
            return new(null, BudgetRefusalReason.OutsidePeriod, $"{now:O} is outside the budget period {Policy.Period}.");
        }
        lock (_lock)
        {
            if (Policy.HardLimit && _spent + _reserved + maxCost > Policy.Limit)
            {
                return new(null, BudgetRefusalReason.HardLimit,
                    $"The hard limit {Policy.Limit} leaves {Math.Max(0m, Policy.Limit - _spent - _reserved)}; this needs up to {maxCost}.");
            }
            var lease = new BudgetLease(++_nextLeaseId, maxCost);
            _outstanding.Add(lease.Id, lease);
            _reserved += maxCost;
            return new(lease, null, "");
        }
    }

    /// <summary>Ends <paramref name="lease"/>: its reservation is released and <paramref name="actualCost"/> charged.</summary>
    public BudgetSettlement Settle(BudgetLease lease, decimal actualCost)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        lock (_lock)
        {
            if (!_outstanding.Remove(lease.Id, out var held))
            {
                return new(false, 0m, 0m, []);
            }
            _reserved -= held.MaxCost;
            _spent += actualCost;
            List<BudgetAlert>? alerts = null;
            while (_alertsFired < _alertPercents.Count && _spent >= Threshold(_alertsFired))
            {
                (alerts ??= []).Add(new(_alertPercents[_alertsFired], Threshold(_alertsFired), _spent));
                _alertsFired++;
            }
            return new(true, actualCost, Math.Max(0m, actualCost - held.MaxCost), (IReadOnlyList<BudgetAlert>?)alerts ?? []);
        }
    }

    /// <summary>Gives a lease back unused (the work never started): settles it at zero.</summary>
    public BudgetSettlement Release(BudgetLease lease) => Settle(lease, 0m);

    private decimal Threshold(int index) => Policy.Limit * _alertPercents[index] / 100m;
}
