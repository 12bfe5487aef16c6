using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Appends usage events to an org's hash-chained ledger, the way <see cref="Audit.AuditWriter"/> appends audit
/// records: appends to one org are serialized (an advisory lock on PostgreSQL, the single writer on SQLite), the unique
/// (org, seq) index is the backstop, and a lost race re-reads the tail and tries again. The event id is the primary
/// key, so an event already stored is a replay: nothing is written and the call answers false.
/// </summary>
internal sealed partial class UsageWriter(Database database, TimeProvider time, ILogger<UsageWriter> logger)
{
    private const int Attempts = 8;

    /// <summary>Seals and stores <paramref name="usage"/>; false when an event with its id is already in the ledger.</summary>
    /// <exception cref="ArgumentException">The event is malformed (<see cref="UsageEvent.Validate"/>): a caller's bug.</exception>
    public async Task<bool> AppendAsync(UsageEvent usage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(usage);
        if (usage.Validate() is { Count: > 0 } problems)
            throw new ArgumentException($"Usage event {usage.Id} is malformed: {string.Join(" ", problems)}", nameof(usage));

        for (var attempt = 1; ; attempt++)
        {
            await using var db = database.Open();
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            if (db.Provider == StoreProvider.Postgres)
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({"usage:" + usage.OrgId}))", cancellationToken);
            if (await db.UsageEntries.AnyAsync(u => u.Id == usage.Id, cancellationToken))
                return false;
            var last = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == usage.OrgId)
                .OrderByDescending(u => u.Seq).FirstOrDefaultAsync(cancellationToken);
            var entry = UsageLedger.Seal(last is null ? null : UsageRows.ToEntry(last), usage, time.GetUtcNow());
            db.UsageEntries.Add(UsageRows.ToRow(entry));
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await tx.CommitAsync(cancellationToken);
                return true;
            }
            catch (DbUpdateException ex) when (Api.Persist.IsUniqueViolation(ex) && attempt < Attempts)
            {
                // Either another writer took this seq (retry on the new tail) or stored the same event (the retry sees it).
                LogRetry(logger, usage.OrgId, attempt);
            }
        }
    }

    /// <summary>
    /// Seals <paramref name="usage"/> onto the org's chain inside the caller's open transaction on <paramref name="db"/>, so the
    /// event commits or rolls back with the caller's own rows (a reservation and its charge). Takes the org's append lock
    /// on PostgreSQL; on SQLite the caller's write transaction already excludes every other writer. The caller saves.
    /// </summary>
    public async Task AddInTransactionAsync(HeadroomDb db, UsageEvent usage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(usage);
        if (usage.Validate() is { Count: > 0 } problems)
            throw new ArgumentException($"Usage event {usage.Id} is malformed: {string.Join(" ", problems)}", nameof(usage));
        if (db.Provider == StoreProvider.Postgres)
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({"usage:" + usage.OrgId}))", cancellationToken);
        var last = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == usage.OrgId)
            .OrderByDescending(u => u.Seq).FirstOrDefaultAsync(cancellationToken);
        db.UsageEntries.Add(UsageRows.ToRow(UsageLedger.Seal(last is null ? null : UsageRows.ToEntry(last), usage, time.GetUtcNow())));
    }

    /// <summary>
    /// Seals every event of <paramref name="events"/> not already in the ledger onto its org's chain, in order, inside the
    /// caller's open transaction on <paramref name="db"/> (one commit for a whole batch: the token meter moves hundreds of
    /// calls a second, and a transaction per event would starve the calls' own writes). Takes each org's append lock on
    /// PostgreSQL; on SQLite the caller's write transaction excludes every other writer. The entries are written before it
    /// returns (the caller commits); returns how many events it added.
    /// </summary>
    public async Task<int> AddManyInTransactionAsync(HeadroomDb db, IReadOnlyList<UsageEvent> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(events);
        foreach (var usage in events)
        {
            if (usage.Validate() is { Count: > 0 } problems)
                throw new ArgumentException($"Usage event {usage.Id} is malformed: {string.Join(" ", problems)}", nameof(events));
        }
        var ids = events.Select(e => e.Id).ToList();
        // One parameter holding the list (a JSON array on SQLite, an array on PostgreSQL), not one per id: SQLite finds a
        // named parameter by comparing it with every name in the statement, quadratic in a batch's hundreds of ids.
        var stored = (await db.UsageEntries.AsNoTracking().Where(u => EF.Parameter(ids).Contains(u.Id)).Select(u => u.Id).ToListAsync(cancellationToken))
            .ToHashSet(StringComparer.Ordinal);
        var added = new List<UsageEntryRow>(events.Count);
        var now = time.GetUtcNow();
        foreach (var org in events.Where(e => stored.Add(e.Id)).GroupBy(e => e.OrgId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            if (db.Provider == StoreProvider.Postgres)
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({"usage:" + org.Key}))", cancellationToken);
            var last = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == org.Key)
                .OrderByDescending(u => u.Seq).FirstOrDefaultAsync(cancellationToken);
            var previous = last is null ? null : UsageRows.ToEntry(last);
            foreach (var usage in org)
            {
                previous = UsageLedger.Seal(previous, usage, now);
                added.Add(UsageRows.ToRow(previous));
            }
        }
        // Thousands of entries a second at gateway rates: inserted without change tracking, inside the caller's transaction.
        await BulkInsert.InsertAsync(db, added, cancellationToken);
        return added.Count;
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Debug, Message = "Usage append for org {OrgId} lost a race (attempt {Attempt}); retrying")]
    private static partial void LogRetry(ILogger logger, string orgId, int attempt);
}

/// <summary>Maps between stored ledger rows and the core's entries; codes are the frozen ones of <see cref="MeteringCodes"/>.</summary>
public static class UsageRows
{
    public static UsageEntryRow ToRow(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var e = entry.Event;
        var d = e.Dimensions;
        return new UsageEntryRow
        {
            Id = e.Id,
            OrgId = e.OrgId,
            Seq = entry.Seq,
            ProjectId = e.ProjectId,
            Meter = e.Meter.ToCode(),
            Quantity = e.Quantity,
            Tier = d.Tier is { } tier ? MeteringCodes.TierCode(tier) : null,
            GpuModel = d.GpuModel,
            Region = d.Region,
            Model = d.Model,
            ApiKeyId = d.ApiKeyId,
            Batch = d.Batch,
            Start = e.Start,
            End = e.End,
            NotChargedFrom = e.NotChargedFrom,
            Estimated = e.Estimated,
            RecordedAt = entry.RecordedAt,
            PrevHash = entry.PrevHash,
            Hash = entry.Hash,
        };
    }

    /// <summary>
    /// A stored row as an entry. An unknown meter or tier code (a tampered row) maps to a value outside its enum, which
    /// has no hash, so verification reports the row as edited.
    /// </summary>
    public static LedgerEntry ToEntry(UsageEntryRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var meter = MeteringCodes.TryParseMeter(row.Meter, out var m) ? m : (Meter)(-1);
        Tier? tier = row.Tier is null ? null : ParseTier(row.Tier);
        var usage = new UsageEvent(
            row.Id, row.OrgId, row.ProjectId, meter, row.Quantity,
            new UsageDimensions(tier, row.GpuModel, row.Region, row.Model, row.ApiKeyId, row.Batch),
            row.Start, row.End, row.NotChargedFrom, row.Estimated);
        return new LedgerEntry(row.Seq, usage, row.RecordedAt, row.PrevHash, row.Hash);
    }

    private static Tier ParseTier(string code)
    {
        foreach (var tier in Enum.GetValues<Tier>())
        {
            if (MeteringCodes.TierCode(tier) == code)
                return tier;
        }
        return (Tier)(-1);
    }
}
