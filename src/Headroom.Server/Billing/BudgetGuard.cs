using System.Globalization;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>
/// Money as the budget tables keep it: integer units of 10⁻¹⁰, the places of an invoice line, so every comparison and
/// sum in SQL is exact integer arithmetic on both providers. Amounts above <see cref="Max"/> are refused where they
/// enter, which keeps limit + spent + reserved + a maximum far inside a long.
/// </summary>
internal static class BudgetUnits
{
    public const decimal Max = 100_000_000m;
    private const decimal PerUnit = 10_000_000_000m;

    /// <summary>Rounded up: a reservation or a charge never counts for less than it is.</summary>
    public static long From(decimal amount) => (long)Math.Ceiling(amount * PerUnit);

    public static decimal ToMoney(long units) => units / PerUnit;

    public static string Text(long units) => ToMoney(units).ToString("F" + BillingMath.LineDecimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}

/// <summary>
/// A granted lease: what to pass to <see cref="BudgetGuard.SettleAsync"/>. <see cref="Id"/> is unique; a lease taken
/// where no budget covered the work holds nothing (<see cref="Held"/> false) and settles without a query.
/// </summary>
public sealed record BudgetGuardLease(string Id, decimal MaxCost, bool Held = true);

/// <summary>
/// The answer of <see cref="BudgetGuard.ReserveAsync"/>: a lease, or why not. A refusal with
/// <see cref="BudgetRefusalReason.HardLimit"/> names the budget and is answered 429 <c>insufficient_quota</c>.
/// </summary>
public sealed record BudgetGuardResult(BudgetGuardLease? Lease, BudgetRefusalReason? Refusal, string? BudgetId, string Message)
{
    public bool Granted => Lease is not null;
}

/// <summary>
/// Budgets as leases, across replicas on one store: the same contract as the core's <see cref="Budget"/> (reserve
/// the most a piece of work can cost before it starts, settle the actual cost when done), kept in the database.
/// </summary>
/// <remarks>
/// Every budget that covers the work (the org's, and its project's) takes a share of the lease, in one transaction.
/// For a budget with a hard limit the share is one conditional UPDATE:
/// <c>reserved += max WHERE metered + settled + reserved + max ≤ limit</c>. PostgreSQL locks the row and re-checks the
/// condition on the latest version for each concurrent UPDATE; SQLite has one writer. So however many replicas reserve
/// at once, spent + reserved never passes the limit, and while callers settle at most their maximum, spend does not
/// either. A refused share rolls the whole reservation back. Callers that meter usage into the ledger append the usage
/// event first and settle after: the budget loop then counts that spend once (see <see cref="BudgetWatch"/>).
/// </remarks>
internal sealed class BudgetGuard(Database database, HotRows rows, Ids ids, TimeProvider time)
{
    /// <summary>Takes a lease of <paramref name="maxCost"/> against every budget covering the org and project, or says which refuses.</summary>
    public async Task<BudgetGuardResult> ReserveAsync(string orgId, string? projectId, decimal maxCost, CancellationToken cancellationToken)
    {
        if (maxCost < 0m || maxCost > BudgetUnits.Max)
            return new(null, BudgetRefusalReason.InvalidAmount, null, $"The maximum cost {maxCost} is not between 0 and {BudgetUnits.Max}.");
        var units = BudgetUnits.From(maxCost);
        var now = time.GetUtcNow();
        var period = BillingPeriod.MonthOf(now);
        var leaseId = ids.New("bl");

        // Most callers have no budget, and every model call comes through here: the org's budgets come from memory, so
        // those calls cost no query and no transaction.
        var budgets = (await rows.BudgetsAsync(orgId, cancellationToken)).Where(b => b.ProjectId == null || b.ProjectId == projectId).ToList();
        if (budgets.Count == 0)
            return new(new BudgetGuardLease(leaseId, maxCost, Held: false), null, null, "");
        await using var db = database.Open();
        await EnsureSpendRowsAsync(db, budgets.Select(b => b.Id), period.Start, cancellationToken);
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        // A fixed order, so two reservations over the same budgets lock their rows in the same order.
        foreach (var budget in budgets.OrderBy(b => b.Id, StringComparer.Ordinal))
        {
            var spend = db.BudgetSpend.Where(s => s.BudgetId == budget.Id && s.PeriodStart == period.Start);
            if (budget.HardLimit)
            {
                spend = spend.Where(s => s.MeteredUnits + s.SettledUnits + s.ReservedUnits + units
                    <= db.Budgets.Where(b => b.Id == s.BudgetId).Select(b => b.LimitUnits).FirstOrDefault());
            }
            if (await spend.ExecuteUpdateAsync(s => s.SetProperty(x => x.ReservedUnits, x => x.ReservedUnits + units), cancellationToken) == 0)
            {
                await tx.RollbackAsync(cancellationToken);
                return new(null, BudgetRefusalReason.HardLimit, budget.Id,
                    $"Budget {budget.Id} ('{budget.Name}') has a hard limit of {BudgetUnits.Text(budget.LimitUnits)} this month and too little left for up to {maxCost}.");
            }
            db.BudgetLeases.Add(new BudgetLeaseRow { LeaseId = leaseId, BudgetId = budget.Id, PeriodStart = period.Start, MaxUnits = units, CreatedAt = now });
        }
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new(new BudgetGuardLease(leaseId, maxCost), null, null, "");
    }

    /// <summary>
    /// Ends a lease: each budget's share is released and <paramref name="actualCost"/> charged. False when the lease
    /// held nothing, is unknown or is already settled: settling twice changes nothing.
    /// </summary>
    public async Task<bool> SettleAsync(BudgetGuardLease lease, decimal actualCost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(actualCost, BudgetUnits.Max);
        var actual = BudgetUnits.From(actualCost);
        if (!lease.Held)
            return false;
        await using var db = database.Open();
        var shares = await db.BudgetLeases.AsNoTracking().Where(l => l.LeaseId == lease.Id && !l.Settled).OrderBy(l => l.BudgetId).ToListAsync(cancellationToken);
        if (shares.Count == 0)
            return false;
        // The transaction starts with a write, so SQLite takes its one write lock at once instead of upgrading a read.
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var settled = false;
        foreach (var share in shares)
        {
            // The mark is the guard against a second settlement racing this one: only one UPDATE flips it.
            if (await db.BudgetLeases.Where(l => l.LeaseId == share.LeaseId && l.BudgetId == share.BudgetId && !l.Settled)
                    .ExecuteUpdateAsync(s => s.SetProperty(l => l.Settled, true), cancellationToken) == 0)
                continue;
            await db.BudgetSpend.Where(s => s.BudgetId == share.BudgetId && s.PeriodStart == share.PeriodStart)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(x => x.ReservedUnits, x => x.ReservedUnits - share.MaxUnits)
                    .SetProperty(x => x.SettledUnits, x => x.SettledUnits + actual), cancellationToken);
            settled = true;
        }
        await tx.CommitAsync(cancellationToken);
        return settled;
    }

    /// <summary>The first hard-limit budget covering the org and project whose month is spent, or null: new jobs wait for none.</summary>
    public async Task<BudgetRow?> ExhaustedAsync(string orgId, string projectId, CancellationToken cancellationToken)
    {
        var period = BillingPeriod.MonthOf(time.GetUtcNow());
        await using var db = database.Open();
        return await Covering(db, orgId, projectId)
            .Where(b => b.HardLimit && (b.LimitUnits == 0 || db.BudgetSpend.Any(s => s.BudgetId == b.Id && s.PeriodStart == period.Start
                && s.MeteredUnits + s.SettledUnits + s.ReservedUnits >= b.LimitUnits)))
            .OrderBy(b => b.Id).FirstOrDefaultAsync(cancellationToken);
    }

    public static IQueryable<BudgetRow> Covering(HeadroomDb db, string orgId, string? projectId) =>
        db.Budgets.AsNoTracking().Where(b => b.OrgId == orgId && (b.ProjectId == null || b.ProjectId == projectId));

    /// <summary>Creates the period's spend rows that are missing; a row another replica created first is fine.</summary>
    public static async Task EnsureSpendRowsAsync(HeadroomDb db, IEnumerable<string> budgetIds, DateTimeOffset periodStart, CancellationToken cancellationToken)
    {
        var wanted = budgetIds.ToList();
        var present = await db.BudgetSpend.AsNoTracking().Where(s => wanted.Contains(s.BudgetId) && s.PeriodStart == periodStart)
            .Select(s => s.BudgetId).ToListAsync(cancellationToken);
        foreach (var id in wanted.Except(present))
        {
            db.BudgetSpend.Add(new BudgetSpendRow { BudgetId = id, PeriodStart = periodStart });
            if (!await Persist.TrySaveAsync(db, cancellationToken))
                db.ChangeTracker.Clear();
        }
    }
}
