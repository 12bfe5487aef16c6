using Headroom.Core.Access;
using Headroom.Core.Audit;
using Headroom.Server.Api;
using Headroom.Store;
using Headroom.Store.Audit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Audit;

/// <summary>
/// Appends records to an org's hash chain. Appends to one org are serialized: on PostgreSQL by a
/// transaction-scoped advisory lock on the org, on SQLite by its single writer; the unique
/// (org, seq) index is the backstop, and a lost race re-reads the tail and tries again.
/// </summary>
internal sealed partial class AuditWriter(Database database, Ids ids, TimeProvider time, ILogger<AuditWriter> logger)
{
    private const int Attempts = 8;

    public async Task AppendAsync(AuditEvent e, CancellationToken cancellationToken)
    {
        var entry = new AuditEntry(
            ids.New("aud"), e.OrgId, time.GetUtcNow(), e.Actor, Map(e.ActorType), e.Action, e.Target, e.Source,
            e.Succeeded ? AuditOutcome.Success : AuditOutcome.Failure, e.StatusCode, e.RequestId, e.Detail.Length == 0 ? null : e.Detail);

        // The request's response waits for its record, so a store away for a moment (a PostgreSQL restart) is waited out.
        var again = false;
        await Persist.WhileStoreRecoversAsync(time, async () =>
        {
            // An outage can cut the answer to a commit that happened: then the record is in the chain already.
            if (again && await AlreadyStoredAsync(entry.Id, cancellationToken))
                return;
            again = true;
            await AppendOnceAsync(entry, cancellationToken);
        });
    }

    private async Task AppendOnceAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var db = database.Open();
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            if (db.Provider == StoreProvider.Postgres)
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({"audit:" + entry.OrgId}))", cancellationToken);
            var last = await db.AuditRecords.AsNoTracking().Where(r => r.OrgId == entry.OrgId)
                .OrderByDescending(r => r.Seq).FirstOrDefaultAsync(cancellationToken);
            var record = AuditChain.Seal(last is null ? null : AuditRows.ToRecord(last), entry);
            db.AuditRecords.Add(AuditRows.ToRow(record));
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await tx.CommitAsync(cancellationToken);
                return;
            }
            catch (DbUpdateException ex) when (Persist.IsUniqueViolation(ex) && attempt < Attempts)
            {
                LogRetry(logger, entry.OrgId, attempt);
            }
        }
    }

    private async Task<bool> AlreadyStoredAsync(string id, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        return await db.AuditRecords.AnyAsync(r => r.Id == id, cancellationToken);
    }

    private static AuditActorType Map(ActorType type) => type switch
    {
        ActorType.ApiKey => AuditActorType.ApiKey,
        ActorType.Oidc => AuditActorType.Oidc,
        ActorType.System => AuditActorType.System,
        _ => AuditActorType.Anonymous,
    };

    [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Audit append for org {OrgId} lost a race (attempt {Attempt}); retrying")]
    private static partial void LogRetry(ILogger logger, string orgId, int attempt);
}

/// <summary>Maps between stored rows and the chain's records; the codes are the frozen ones of <see cref="AuditCodes"/>.</summary>
public static class AuditRows
{
    public static AuditRow ToRow(AuditRecord r) => new()
    {
        Id = r.Id,
        OrgId = r.OrgId,
        Seq = r.Seq,
        Time = r.Time,
        ActorType = r.ActorType.ToCode(),
        Actor = r.Actor,
        Action = r.Action,
        Target = r.Target,
        Source = r.SourceAddress,
        Result = r.Outcome.ToCode(),
        StatusCode = r.StatusCode,
        RequestId = r.RequestId,
        Detail = r.Detail,
        PrevHash = r.PrevHash,
        Hash = r.Hash,
    };

    /// <summary>
    /// A stored row as a record. An unknown code (a tampered row) maps to a value outside the enum,
    /// which has no hash, so verification reports the row as edited.
    /// </summary>
    public static AuditRecord ToRecord(AuditRow r) => new(
        r.Id, r.OrgId, r.Seq, r.Time, r.Actor,
        AuditCodes.TryParseActorType(r.ActorType, out var type) ? type : (AuditActorType)(-1),
        r.Action, r.Target, r.Source,
        AuditCodes.TryParseOutcome(r.Result, out var outcome) ? outcome : (AuditOutcome)(-1),
        r.StatusCode, r.RequestId, r.Detail, r.PrevHash, r.Hash);
}
