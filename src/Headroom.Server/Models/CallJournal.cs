using System.Data.Common;
using System.Threading.Channels;
using Headroom.Server.Api;
using Headroom.Store;
using Headroom.Store.Models;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Models;

/// <summary>
/// Commits model calls' records (the token journal row and, for a project that keeps them, the request log) in groups.
/// Every call waits until its own record is committed before its answer completes; calls that finish while a commit is
/// under way share the next one. On one SQLite writer a transaction per call capped the gateway at a few hundred calls
/// a second whatever the concurrency; a group costs one commit. The records are inserted without change tracking, on a
/// connection of the journal's own (<see cref="Database.OpenWriter"/>: on SQLite a commit survives the server being
/// killed at once, a power cut once the next fully synced commit follows).
/// </summary>
internal sealed partial class CallJournal : IAsyncDisposable
{
    /// <summary>The most records one commit takes; more wait for the next.</summary>
    private const int MaxGroup = 256;

    private readonly Database _database;
    private readonly ILogger<CallJournal> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public CallJournal(Database database, ILogger<CallJournal> logger)
    {
        _database = database;
        _logger = logger;
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>
    /// Returns once <paramref name="journal"/> and <paramref name="log"/> (either may be null) are committed: true, or
    /// false when a journal row with the same request id was already there (the call is counted once, by that row).
    /// </summary>
    public async Task<bool> RecordAsync(TokenJournalRow? journal, RequestLogRow? log, CancellationToken cancellationToken)
    {
        var pending = new Pending(journal, log, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
            throw new InvalidOperationException("The call journal is shut down.");
        return await pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAsync()
    {
        // Opened with the first call, not at construction: the journal is built before the store is migrated.
        StoreWriter? writer = null;
        var group = new List<Pending>(MaxGroup);
        while (await _queue.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < MaxGroup && _queue.Reader.TryRead(out var pending))
                group.Add(pending);
            try
            {
                writer ??= _database.OpenWriter();
                using (await _database.WriteTurnAsync(CancellationToken.None))
                    await SaveAsync(writer, group);
                foreach (var pending in group)
                    pending.Done.TrySetResult(true);
            }
            catch (DbException e) when (Persist.IsUniqueViolation(e))
            {
                // A request id recorded before (a retried batch line) spoils the group's commit: each on its own, then.
                foreach (var pending in group)
                    await SaveAloneAsync(writer!, pending);
            }
            catch (Exception e)
            {
                LogCommitFailed(_logger, group.Count, e);
                foreach (var pending in group)
                    pending.Done.TrySetException(e);
                // The next group starts on a fresh connection, in case this one is what failed.
                writer?.Dispose();
                writer = null;
            }
        }
        writer?.Dispose();
    }

    private static async Task SaveAsync(StoreWriter writer, IReadOnlyList<Pending> group)
    {
        await using var db = writer.Open();
        await using var tx = await db.Database.BeginTransactionAsync();
        await BulkInsert.InsertAsync(db, [.. group.Select(p => p.Log).OfType<RequestLogRow>()], CancellationToken.None);
        await BulkInsert.InsertAsync(db, [.. group.Select(p => p.Journal).OfType<TokenJournalRow>()], CancellationToken.None);
        await tx.CommitAsync();
    }

    private static async Task SaveAloneAsync(StoreWriter writer, Pending pending)
    {
        try
        {
            await using var db = writer.Open();
            Add(db, pending);
            pending.Done.TrySetResult(await Persist.TrySaveAsync(db, CancellationToken.None));
        }
        catch (Exception e)
        {
            pending.Done.TrySetException(e);
        }
    }

    private static void Add(HeadroomDb db, Pending pending)
    {
        if (pending.Log is { } log)
            db.RequestLogs.Add(log);
        if (pending.Journal is { } journal)
            db.TokenJournal.Add(journal);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer;
    }

    private sealed record Pending(TokenJournalRow? Journal, RequestLogRow? Log, TaskCompletionSource<bool> Done);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Error, Message = "Could not commit the records of {Count} model calls; those calls fail")]
    private static partial void LogCommitFailed(ILogger logger, int count, Exception exception);
}
