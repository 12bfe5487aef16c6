using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Keeps each budget's spend in step with the ledger and fires its alerts, on the replica that holds the control-loop
/// lease. Each pass, per org with budgets:
/// <list type="number">
/// <item>read each budget's settled amount S (lease settlements not yet folded in);</item>
/// <item>rate the org's events of the month like the invoice does (quantities per line, one rounding per line), and
///   the model calls journaled but not yet in the ledger, and sum the lines in each budget's scope: metered;</item>
/// <item>set metered and subtract S from settled, in one UPDATE: settlements made before step 1 are in the ledger by
///   step 2 (callers append usage before they settle), so they now count once, as metered; later ones stay settled;</item>
/// <item>fire every threshold that metered + settled has reached and that has not fired this month: the count of
///   fired thresholds moves by compare-and-set, so a threshold fires once even if two replicas overlap.</item>
/// </list>
/// Before that, leases older than <see cref="LeaseLifetime"/> that were never settled (their caller died) are settled
/// at zero, so a crash does not hold budget forever.
/// </summary>
internal sealed partial class BudgetWatch(Database database, Ids ids, BudgetGuard guard, Models.CallJournal journal, HeadroomSettings settings, Leadership leadership, TimeProvider time, ILogger<BudgetWatch> logger)
    : LeaderLoop(leadership, time, logger)
{
    public const string ThresholdCrossed = "budget.threshold_crossed";

    /// <summary>How long a lease may stay unsettled before the loop releases it: far beyond any model call.</summary>
    public static readonly TimeSpan LeaseLifetime = TimeSpan.FromHours(1);

    /// <summary>Ten scheduler periods (10 s by default).</summary>
    protected override TimeSpan Period => settings.SchedulerPeriod * 10;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => WatchAsync(cancellationToken);

    /// <summary>One pass; returns how many alerts it fired.</summary>
    internal async Task<int> WatchAsync(CancellationToken cancellationToken)
    {
        // Spooled model calls into the journal first (SQLite): their leases settle as they go in, their tokens count below.
        await journal.DrainAsync(cancellationToken);
        var now = Time.GetUtcNow();
        var period = BillingPeriod.MonthOf(now);
        await using var db = database.Open();
        var cutoff = now - LeaseLifetime;
        var expired = await db.BudgetLeases.AsNoTracking().Where(l => !l.Settled && l.CreatedAt < cutoff).Select(l => l.LeaseId).Distinct().ToListAsync(cancellationToken);
        foreach (var lease in expired)
            await guard.SettleAsync(new BudgetGuardLease(lease, 0m), 0m, cancellationToken);
        if (expired.Count > 0)
            LogExpired(logger, expired.Count);
        var budgets = await db.Budgets.AsNoTracking().ToListAsync(cancellationToken);
        var fired = 0;
        foreach (var org in budgets.GroupBy(b => b.OrgId))
        {
            await BudgetGuard.EnsureSpendRowsAsync(db, org.Select(b => b.Id), period.Start, cancellationToken);
            var ids = org.Select(b => b.Id).ToList();
            var settledBefore = await db.BudgetSpend.AsNoTracking().Where(s => ids.Contains(s.BudgetId) && s.PeriodStart == period.Start)
                .ToDictionaryAsync(s => s.BudgetId, s => s.SettledUnits, cancellationToken);

            // Model calls settle once their tokens are journaled, before the token meter moves them into the ledger: the
            // journal's unmoved rows count as spent too. Read before the ledger, so a row moved in between counts twice
            // for one pass (never zero times).
            var journaled = await db.TokenJournal.AsNoTracking().Where(t => t.OrgId == org.Key && t.MeteredAt == null).ToListAsync(cancellationToken);
            var seq = await Invoicer.ChainSeqAsync(db, org.Key, cancellationToken);
            var (invoice, _) = await Invoicer.BuildAsync(db, org.Key, period, seq, cancellationToken);
            var pendingLines = journaled.Count == 0 ? [] : Invoicing.Lines(Rater.Rate(journaled.SelectMany(TokenMeter.Events),
                (await PriceEndpoints.LoadAsync(db, cancellationToken)).Sheet, SpotPriceHistory.Empty, period).Charges);
            foreach (var budget in org)
            {
                var metered = BudgetUnits.From(invoice.Lines.Concat(pendingLines).Where(l => budget.ProjectId is null || l.ProjectId == budget.ProjectId).Sum(l => l.Amount));
                var settled = settledBefore.GetValueOrDefault(budget.Id);
                await db.BudgetSpend.Where(s => s.BudgetId == budget.Id && s.PeriodStart == period.Start)
                    .ExecuteUpdateAsync(s => s.SetProperty(x => x.MeteredUnits, metered).SetProperty(x => x.SettledUnits, x => x.SettledUnits - settled), cancellationToken);
                fired += await AlertAsync(db, budget, period, now, cancellationToken);
            }
        }
        return fired;
    }

    private async Task<int> AlertAsync(HeadroomDb db, BudgetRow budget, BillingPeriod period, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var spend = await db.BudgetSpend.AsNoTracking().SingleAsync(s => s.BudgetId == budget.Id && s.PeriodStart == period.Start, cancellationToken);
        var percents = BudgetForms.Percents(budget.AlertPercents);
        var spent = spend.MeteredUnits + spend.SettledUnits;
        var reached = spend.AlertsFired;
        while (reached < percents.Count && spent >= BudgetForms.Threshold(budget.LimitUnits, percents[reached]))
            reached++;
        if (reached == spend.AlertsFired)
            return 0;
        if (await db.BudgetSpend.Where(s => s.BudgetId == budget.Id && s.PeriodStart == period.Start && s.AlertsFired == spend.AlertsFired)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.AlertsFired, reached), cancellationToken) == 0)
            return 0;
        for (var i = spend.AlertsFired; i < reached; i++)
        {
            db.BudgetEvents.Add(new BudgetEventRow
            {
                Id = ids.New("bev"),
                BudgetId = budget.Id,
                OrgId = budget.OrgId,
                Type = ThresholdCrossed,
                PeriodStart = period.Start,
                Percent = percents[i],
                ThresholdUnits = BudgetForms.Threshold(budget.LimitUnits, percents[i]),
                SpentUnits = spent,
                Time = now,
                Delivery = budget.WebhookUrl is null ? BudgetWebhooks.None : BudgetWebhooks.Pending,
                NextAttemptAt = budget.WebhookUrl is null ? null : now,
            });
            LogAlert(logger, budget.Id, percents[i], BudgetUnits.Text(spent));
        }
        await db.SaveChangesAsync(cancellationToken);
        return reached - spend.AlertsFired;
    }

    [LoggerMessage(EventId = 6403, Level = LogLevel.Warning, Message = "Released {Count} budget leases that were never settled")]
    private static partial void LogExpired(ILogger logger, int count);

    [LoggerMessage(EventId = 6401, Level = LogLevel.Information, Message = "Budget {BudgetId} crossed {Percent}% of its limit: spent {Spent}")]
    private static partial void LogAlert(ILogger logger, string budgetId, int percent, string spent);
}
