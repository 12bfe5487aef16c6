using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Store;
using Headroom.Store.Billing;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

public sealed record InvoiceLineView(
    string ProjectId, string Meter, string? Tier, string? GpuModel, string? Region, string? Model, bool Batch,
    string UnitPrice, string Unit, long Quantity, string Amount);

public sealed record InvoiceCreditView(string Id, string Description, string Amount);

/// <summary>
/// What the invoice was built from: the org's usage events touching the period with seq ≤ <see cref="LastSeq"/>,
/// <see cref="Count"/> of them; <see cref="Hash"/> = SHA-256 (hex) of their entry hashes in seq order, one per line
/// ("hash\n"); <see cref="ChainHead"/> is the hash of the ledger entry at <see cref="LastSeq"/>.
/// </summary>
public sealed record InvoiceEventsView(int Count, long LastSeq, string ChainHead, string Hash);

/// <summary>
/// An invoice as the API shows it and as an issued one is stored (<c>invoices.document</c>). Money is decimal strings.
/// <see cref="Status"/> is <c>issued</c> (stored, immutable) or <c>draft</c> (the current period, computed on request,
/// <see cref="Id"/> null).
/// </summary>
public sealed record InvoiceView(
    string? Id,
    string OrgId,
    string Status,
    DateTimeOffset PeriodStart,
    DateTimeOffset PeriodEnd,
    string Currency,
    IReadOnlyList<InvoiceLineView> Lines,
    IReadOnlyList<InvoiceCreditView> Credits,
    string Subtotal,
    string CreditsApplied,
    string Rounding,
    string Total,
    IReadOnlyList<UsageProblemView> Problems,
    InvoiceEventsView Events,
    DateTimeOffset? IssuedAt)
{
    public string Object => "invoice";
}

/// <summary>Converts between the core's <see cref="Invoice"/> and its API/stored form, both ways, without loss.</summary>
internal static class InvoiceForms
{
    public static InvoiceView View(Invoice invoice, string? id, string status, InvoiceEventsView events, DateTimeOffset? issuedAt) => new(
        id, invoice.OrgId, status, invoice.Period.Start, invoice.Period.End, invoice.Currency,
        [.. invoice.Lines.Select(l => new InvoiceLineView(
            l.ProjectId, l.Meter.ToCode(), l.Dimensions.Tier is { } t ? MeteringCodes.TierCode(t) : null, l.Dimensions.GpuModel,
            l.Dimensions.Region, l.Dimensions.Model, l.Dimensions.Batch, Money.Text(l.UnitPrice), l.Unit.ToCode(), l.Quantity, Line(l.Amount)))],
        [.. invoice.Credits.Select(c => new InvoiceCreditView(c.Id, c.Description, Line(c.Amount)))],
        Line(invoice.Subtotal), Line(invoice.CreditsApplied), Line(invoice.Rounding), invoice.Total.ToString("F" + BillingMath.TotalDecimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        [.. invoice.Problems.Select(p => new UsageProblemView(p.EventId, ProblemCode(p.Kind), p.Message))],
        events, issuedAt);

    /// <summary>Line amounts, the subtotal, credits and rounding at their 10 places, the total at cents: one spelling per figure.</summary>
    private static string Line(decimal amount) => amount.ToString("F" + BillingMath.LineDecimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>
    /// A stored document back as the core's invoice, for <see cref="Invoicing.Verify"/>. A field that no longer reads
    /// (an edited row) becomes a value no recomputation produces, so the edit shows as a difference, never a crash.
    /// </summary>
    public static Invoice ToInvoice(InvoiceView v) => new(
        v.OrgId, new BillingPeriod(v.PeriodStart, v.PeriodEnd), v.Currency,
        [.. v.Lines.Select(l => new InvoiceLine(
            l.ProjectId, MeteringCodes.TryParseMeter(l.Meter, out var m) ? m : (Meter)(-1),
            new UsageDimensions(l.Tier is null ? null : WorkloadCodes.TryParseTier(l.Tier, out var t) ? t : (Tier)(-1), l.GpuModel, l.Region, l.Model, null, l.Batch),
            Number(l.UnitPrice), ParseUnit(l.Unit), l.Quantity, Number(l.Amount)))],
        [.. v.Credits.Select(c => new InvoiceCredit(c.Id, c.Description, Number(c.Amount)))],
        Number(v.Subtotal), Number(v.CreditsApplied), Number(v.Total), Number(v.Rounding),
        [.. v.Problems.Select(p => new RatingProblem(p.EventId, ParseProblem(p.Kind), p.Message))]);

    public static string ProblemCode(RatingProblemKind kind) => kind switch
    {
        RatingProblemKind.InvalidEvent => "invalid_event",
        RatingProblemKind.ConflictingReplay => "conflicting_replay",
        RatingProblemKind.NoVersionInForce => "no_version_in_force",
        RatingProblemKind.NoRate => "no_rate",
        RatingProblemKind.NoSpotPrice => "no_spot_price",
        _ => "unknown",
    };

    private static PriceUnit ParseUnit(string code) =>
        Enum.GetValues<PriceUnit>().FirstOrDefault(u => u.ToCode() == code, (PriceUnit)(-1));

    private static RatingProblemKind ParseProblem(string code) =>
        Enum.GetValues<RatingProblemKind>().FirstOrDefault(k => ProblemCode(k) == code, (RatingProblemKind)(-1));

    private static decimal Number(string text) => Money.TryParse(text, out var value) ? value : decimal.MinValue;
}

public enum IssueOutcome
{
    Issued,
    /// <summary>The period has an invoice already; nothing changed.</summary>
    AlreadyIssued,
    /// <summary>The period has not ended.</summary>
    PeriodOpen,
    /// <summary>Usage of the period is still being measured (a job that ran in it has not been metered yet).</summary>
    UsagePending,
}

/// <summary>
/// Builds invoices from the store with the core's <see cref="Invoicing"/>, and issues them. An issued invoice is built
/// from the org's usage events that touch the period and were in the ledger when it was issued (seq ≤ the chain head
/// then), the price sheet versions and the spot prices published before the period's end; it is stored once, with
/// the hash of those events, and never changed. <c>billing verify</c> rebuilds it from the same inputs.
/// </summary>
internal sealed class Invoicer(Database database, Ids ids, TimeProvider time, DraftInvoiceCache drafts)
{
    private static readonly string[] Live = [JobState.Scheduled.ToCode(), JobState.Starting.ToCode(), JobState.Running.ToCode()];
    private static readonly string Running = JobState.Running.ToCode();

    /// <summary>The invoice the events call for, with what it covers; events with seq above <paramref name="lastSeq"/> are left out.</summary>
    public static async Task<(Invoice Invoice, InvoiceEventsView Events)> BuildAsync(
        HeadroomDb db, string orgId, BillingPeriod period, long lastSeq, CancellationToken cancellationToken)
    {
        var rows = await Covered(db, orgId, period, lastSeq).OrderBy(u => u.Seq).ToListAsync(cancellationToken);
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, cancellationToken);
        var spot = await SpotPoints.LoadAsync(db, period.End, cancellationToken);
        var invoice = Invoicing.Build(orgId, period, rows.Select(r => UsageRows.ToEntry(r).Event), sheet, spot);
        var head = lastSeq == 0 ? "" : await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId && u.Seq == lastSeq)
            .Select(u => u.Hash).FirstOrDefaultAsync(cancellationToken) ?? "";
        return (invoice, new InvoiceEventsView(rows.Count, lastSeq, head, EventsHash(rows.Select(r => r.Hash))));
    }

    /// <summary>The events an invoice of <paramref name="period"/> is built from (the rater clips them to the period).</summary>
    public static IQueryable<UsageEntryRow> Covered(HeadroomDb db, string orgId, BillingPeriod period, long lastSeq) =>
        db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId && u.Seq <= lastSeq && u.Start < period.End && u.End >= period.Start);

    public static string EventsHash(IEnumerable<string> hashes)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var hash in hashes)
            sha.AppendData(Encoding.UTF8.GetBytes(hash + "\n"));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public static async Task<long> ChainSeqAsync(HeadroomDb db, string orgId, CancellationToken cancellationToken) =>
        await db.UsageEntries.Where(u => u.OrgId == orgId).MaxAsync(u => (long?)u.Seq, cancellationToken) ?? 0;

    /// <summary>
    /// The current period's invoice as it stands now; not stored. The same invoice <see cref="BuildAsync"/> builds up to
    /// the ledger's head, kept per org and period by this replica as running line sums (<see cref="RunningDraft"/>):
    /// while the prices are unchanged (or only spot points after the spot usage counted were added, see
    /// <see cref="PricesInForce.CarryAsync"/>), a grown ledger costs only the entries appended since the last draft.
    /// </summary>
    public async Task<InvoiceView> DraftAsync(string orgId, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var period = BillingPeriod.MonthOf(time.GetUtcNow());
        var lastSeq = await ChainSeqAsync(db, orgId, cancellationToken);
        var mark = await PriceMark.ReadAsync(db, period.End, withSpot: true, cancellationToken);
        // Seq grows per org in commit order, so (after, lastSeq] is exactly what was appended since a draft up to after.
        async Task AddAsync(RunningDraft draft, long after)
        {
            var rows = await Covered(db, orgId, period, lastSeq).Where(u => u.Seq > after).OrderBy(u => u.Seq).ToListAsync(cancellationToken);
            draft.Add(rows, lastSeq, await ChainHeadAsync(db, orgId, lastSeq, rows, cancellationToken));
        }
        var draft = await drafts.CurrentAsync($"{orgId}|{period.Start:O}", db, lastSeq, mark, period.End,
            state => AddAsync(state, state.Seq),
            async prices =>
            {
                var fresh = new RunningDraft(orgId, period, prices);
                await AddAsync(fresh, 0);
                return fresh;
            }, cancellationToken);
        return draft.View;
    }

    /// <summary>The hash of the entry at <paramref name="lastSeq"/>: from the rows just read when it is among them.</summary>
    private static async Task<string> ChainHeadAsync(HeadroomDb db, string orgId, long lastSeq, List<UsageEntryRow> rows, CancellationToken cancellationToken) =>
        lastSeq == 0 ? ""
        : rows.Count > 0 && rows[^1].Seq == lastSeq ? rows[^1].Hash
        : await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId && u.Seq == lastSeq).Select(u => u.Hash).FirstOrDefaultAsync(cancellationToken) ?? "";

    /// <summary>Issues the invoice of <paramref name="orgId"/> for a closed <paramref name="period"/>, once.</summary>
    public async Task<(IssueOutcome Outcome, InvoiceRow? Row)> IssueAsync(string orgId, BillingPeriod period, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now < period.End)
            return (IssueOutcome.PeriodOpen, null);
        await using var db = database.Open();
        if (await db.Invoices.AsNoTracking().FirstOrDefaultAsync(i => i.OrgId == orgId && i.PeriodStart == period.Start, cancellationToken) is { } existing)
            return (IssueOutcome.AlreadyIssued, existing);
        if (await UsagePendingAsync(db, orgId, period, cancellationToken))
            return (IssueOutcome.UsagePending, null);

        // The chain head is read before the events: anything appended after it is not on this invoice, on any replica.
        var lastSeq = await ChainSeqAsync(db, orgId, cancellationToken);
        var (invoice, events) = await BuildAsync(db, orgId, period, lastSeq, cancellationToken);
        var id = ids.New("inv");
        var view = InvoiceForms.View(invoice, id, "issued", events, now);
        var row = new InvoiceRow
        {
            Id = id,
            OrgId = orgId,
            PeriodStart = period.Start,
            PeriodEnd = period.End,
            Currency = invoice.Currency,
            Total = view.Total,
            Document = JsonSerializer.Serialize(view, Json.Options),
            LastSeq = lastSeq,
            ChainHead = events.ChainHead,
            EventsHash = events.Hash,
            EventCount = events.Count,
            IssuedAt = now,
        };
        db.Invoices.Add(row);
        // Two replicas issuing the same period: the unique (org, period) keeps the first.
        if (!await Persist.TrySaveAsync(db, cancellationToken))
            return (IssueOutcome.AlreadyIssued, await db.Invoices.AsNoTracking().FirstAsync(i => i.OrgId == orgId && i.PeriodStart == period.Start, cancellationToken));
        return (IssueOutcome.Issued, row);
    }

    /// <summary>
    /// Whether usage of the period may still arrive: a job of the org that started running before the period ended
    /// still holds GPUs, or an attempt that has left running is not in the ledger yet (the job meter is behind).
    /// </summary>
    private static async Task<bool> UsagePendingAsync(HeadroomDb db, string orgId, BillingPeriod period, CancellationToken cancellationToken) =>
        await db.Jobs.AnyAsync(j => j.OrgId == orgId && Live.Contains(j.State) && j.StartedAt != null && j.StartedAt < period.End, cancellationToken)
        || await db.JobEvents.AnyAsync(e => e.OrgId == orgId && e.FromState == Running && e.ToState != Running
            && !db.UsageEntries.Any(u => u.Id == e.JobId + ":" + e.Attempt.ToString()), cancellationToken);

    /// <summary>
    /// Closed periods of <paramref name="orgId"/> that have usage and no invoice, oldest first: the calendar months
    /// from its first event's to the one before now's.
    /// </summary>
    public async Task<IReadOnlyList<BillingPeriod>> UninvoicedAsync(HeadroomDb db, string orgId, CancellationToken cancellationToken)
    {
        var first = await db.UsageEntries.Where(u => u.OrgId == orgId).MinAsync(u => (DateTimeOffset?)u.Start, cancellationToken);
        if (first is null)
            return [];
        var current = BillingPeriod.MonthOf(time.GetUtcNow());
        var issued = (await db.Invoices.AsNoTracking().Where(i => i.OrgId == orgId).Select(i => i.PeriodStart).ToListAsync(cancellationToken)).ToHashSet();
        var periods = new List<BillingPeriod>();
        for (var period = BillingPeriod.MonthOf(first.Value); period.Start < current.Start; period = BillingPeriod.MonthOf(period.End))
        {
            if (!issued.Contains(period.Start) && await db.UsageEntries.AnyAsync(u => u.OrgId == orgId && u.Start < period.End && u.End >= period.Start, cancellationToken))
                periods.Add(period);
        }
        return periods;
    }
}

/// <summary>This replica's draft invoices, per org and period (see <see cref="RunningAnswers{TState}"/>).</summary>
internal sealed class DraftInvoiceCache : RatedAnswers<RunningDraft>;

/// <summary>
/// A draft invoice kept as running sums: the org's entries touching the period up to <see cref="InvoiceEventsView.LastSeq"/>,
/// rated with <see cref="Prices"/>, as line quantities, problems, a count and the SHA-256 of their hashes in seq
/// order, which only ever has hashes appended. Adding the entries after LastSeq (in seq order) gives exactly what
/// <see cref="Invoicer.BuildAsync"/> computes from scratch; <see cref="View"/> is rebuilt after each <see cref="Add"/>.
/// </summary>
internal sealed class RunningDraft(string orgId, BillingPeriod period, PricesInForce prices) : IRatedAnswer, IDisposable
{
    private readonly InvoiceLineTotals _lines = new();
    private readonly List<RatingProblem> _problems = [];
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _count;

    public PricesInForce Prices { get; set; } = prices;

    public long Seq => Events.LastSeq;

    public DateTimeOffset SpotReadUntil { get; private set; } = DateTimeOffset.MinValue;

    public InvoiceEventsView Events { get; private set; } = new(0, 0, "", "");

    public InvoiceView View { get; private set; } = null!;

    /// <summary>Adds <paramref name="rows"/>, the org's entries touching the period in (Events.LastSeq, lastSeq], in seq order.</summary>
    public void Add(IReadOnlyList<UsageEntryRow> rows, long lastSeq, string chainHead)
    {
        var events = rows.Select(r => UsageRows.ToEntry(r).Event).ToList();
        var rating = Rater.Rate(events, Prices.Sheet, Prices.Spot, period);
        if (Rater.SpotReadUntil(events) is var read && read > SpotReadUntil)
            SpotReadUntil = read;
        _lines.Add(rating.Charges);
        _problems.AddRange(rating.Problems);
        foreach (var row in rows)
            _hash.AppendData(Encoding.UTF8.GetBytes(row.Hash + "\n"));
        _count += rows.Count;
        Events = new InvoiceEventsView(_count, lastSeq, chainHead, Convert.ToHexStringLower(_hash.GetCurrentHash()));
        // Problems in event-id order, as one rating of all the entries lists them (an entry has one problem at most).
        var invoice = Invoicing.Build(orgId, period, Prices.Sheet.Currency ?? "", _lines.Lines(),
            [.. _problems.OrderBy(p => p.EventId, StringComparer.Ordinal)]);
        View = InvoiceForms.View(invoice, null, "draft", Events, null);
    }

    public void Dispose() => _hash.Dispose();
}

/// <summary>
/// Issues invoices at period close, on the replica that holds the control-loop lease: each pass, every org's closed
/// months with usage and no invoice, oldest first, once their usage is all metered.
/// </summary>
internal sealed partial class InvoiceIssuer(
    Database database, Invoicer invoicer, HeadroomSettings settings, Leadership leadership, TimeProvider time, ILogger<InvoiceIssuer> logger)
    : LeaderLoop(leadership, time, logger)
{
    /// <summary>Sixty scheduler periods (a minute by default).</summary>
    protected override TimeSpan Period => settings.SchedulerPeriod * 60;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => IssueDueAsync(cancellationToken);

    /// <summary>One pass; returns how many invoices it issued.</summary>
    internal async Task<int> IssueDueAsync(CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        var orgs = await db.UsageEntries.Select(u => u.OrgId).Distinct().ToListAsync(cancellationToken);
        var issued = 0;
        foreach (var org in orgs)
        {
            foreach (var period in await invoicer.UninvoicedAsync(db, org, cancellationToken))
            {
                var (outcome, row) = await invoicer.IssueAsync(org, period, cancellationToken);
                if (outcome == IssueOutcome.Issued)
                {
                    issued++;
                    LogIssued(logger, row!.Id, org, period.Start.ToString("yyyy-MM", CultureInfo.InvariantCulture), row.Total, row.Currency);
                }
                else if (outcome == IssueOutcome.UsagePending)
                {
                    break;
                }
            }
        }
        return issued;
    }

    [LoggerMessage(EventId = 6301, Level = LogLevel.Information, Message = "Issued invoice {InvoiceId} of org {OrgId} for {Period}: {Total} {Currency}")]
    private static partial void LogIssued(ILogger logger, string invoiceId, string orgId, string period, string total, string currency);
}
