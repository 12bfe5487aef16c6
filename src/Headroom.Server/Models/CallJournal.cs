using System.Buffers;
using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Headroom.Server.Api;
using Headroom.Server.Billing;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Models;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Models;

/// <summary>
/// Makes model calls' records (the token journal row and, for a project that keeps them, the request log) durable
/// before their answers complete.
/// <list type="bullet">
/// <item>On PostgreSQL in groups: calls that finish while a transaction is under way share the next one, inserted
/// without change tracking; the caller then settles the call's budget lease.</item>
/// <item>On SQLite, one process owns the store, and its one write lock is shared with the token meter and the control
/// loops: a call's commit waited behind their writes (a model call's p99 was a meter batch) and cost a write-ahead-log
/// write of its own. There each call's record is one line appended to the <see cref="CallSpool"/> in the data
/// directory instead, the same durability as a commit with <c>synchronous=NORMAL</c> (it outlives a kill -9 at once);
/// <see cref="DrainAsync"/> moves the spool into the store (fully synced) and meters it on the way: each chunk of
/// calls' journal rows goes in already marked metered, in one transaction with their usage events, as the token meter
/// would append them (writing the rows unmetered for the meter to read back, append and mark cost a sixth of the
/// background lane's CPU). Then it settles the calls' budget leases and deletes what it moved. Chunks of
/// <see cref="DrainChunk"/>, a write turn each: one transaction for a whole second of calls doubled the gateway's
/// p99 at 16 connections. It runs every second on the <see cref="BackgroundLane"/>, and first thing in each pass of
/// the token meter and the budget loop and in each read of the request logs, so what reads the records finds them
/// where it looks.</item>
/// </list>
/// A record already in the store (the same request id: a retried batch line, a spool moved again after a crash between
/// its commit and its deletion) is kept once.
/// </summary>
internal sealed partial class CallJournal : BackgroundService
{
    /// <summary>The most records one PostgreSQL transaction takes; more wait for the next.</summary>
    private const int MaxGroup = 256;

    /// <summary>The most spooled calls one SQLite transaction moves: the token meter's batch, for the same reason.</summary>
    private const int DrainChunk = 200;

    private static readonly TimeSpan DrainEvery = TimeSpan.FromSeconds(1);

    private readonly BackgroundLane _lane;
    private readonly Database _database;
    private readonly BudgetGuard _budgets;
    private readonly UsageWriter _usage;
    private readonly TimeProvider _time;
    private readonly ILogger<CallJournal> _logger;
    private readonly CallSpool? _spool;
    private readonly SemaphoreSlim _draining = new(1, 1);
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public CallJournal(Database database, BudgetGuard budgets, UsageWriter usage, BackgroundLane lane, HeadroomSettings settings, TimeProvider time, ILogger<CallJournal> logger)
    {
        _lane = lane;
        _database = database;
        _budgets = budgets;
        _usage = usage;
        _time = time;
        _logger = logger;
        if (database.Connection.Provider == StoreProvider.Sqlite)
            _spool = new CallSpool(Path.Combine(settings.DataDir, "spool"));
        _writer = _spool is null ? Task.Run(WriteAsync) : Task.CompletedTask;
    }

    /// <summary>
    /// Returns once the call's <paramref name="journal"/> row and <paramref name="log"/> (either may be null) are
    /// durable: true when the journal settles <paramref name="lease"/> at <paramref name="cost"/> itself, once they are
    /// in the store (SQLite); false when they are in the store already and the caller settles it (PostgreSQL).
    /// </summary>
    public async Task<bool> RecordAsync(TokenJournalRow? journal, RequestLogRow? log, BudgetGuardLease lease, decimal cost, CancellationToken cancellationToken)
    {
        var call = new SpooledCall(journal, log, lease.Held ? lease.Id : null, lease.MaxCost, cost);
        if (_spool is not null)
        {
            // A write(2) of a few hundred bytes, on the caller's own thread: handing it to a writer task and back cost
            // two thread wake-ups per call, a good part of a call's tail on a busy machine.
            Append(_spool, call);
            return true;
        }
        var pending = new Pending(call, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
            throw new InvalidOperationException("The call journal is shut down.");
        await pending.Done.Task.WaitAsync(cancellationToken);
        return false;
    }

    // Each request thread's line buffer: a record serialized to its own array and copied into a second one with the
    // newline was two short-lived arrays per call. One grown past KeptLine by a large request log is not kept.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_line;
    private const int KeptLine = 64 * 1024;

    private static void Append(CallSpool spool, SpooledCall call)
    {
        var line = t_line ??= new ArrayBufferWriter<byte>(1024);
        line.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(line))
            JsonSerializer.Serialize(json, call, SpoolJson.Default.SpooledCall);
        line.Write("\n"u8);
        spool.Append(line.WrittenSpan);
        if (line.Capacity > KeptLine)
            t_line = null;
    }

    /// <summary>
    /// Moves every spooled record into the store and settles their budget leases; returns how many records it moved.
    /// Nothing to do on PostgreSQL. One drain at a time; a caller that finds one under way waits for it and then runs
    /// its own, so it sees every call that completed before it asked. Whoever asks, the drain runs on the
    /// <see cref="BackgroundLane"/>: run on the budget loop's pool thread, a drain's chunks held a core for
    /// milliseconds at the requests' own priority, and calls waited behind them.
    /// </summary>
    public Task<int> DrainAsync(CancellationToken cancellationToken) =>
        _spool is null ? Task.FromResult(0) : _lane.RunAsync(() => DrainOnLaneAsync(_spool, cancellationToken), cancellationToken);

    private async Task<int> DrainOnLaneAsync(CallSpool spool, CancellationToken cancellationToken)
    {
        await _draining.WaitAsync(cancellationToken);
        try
        {
            var moved = 0;
            foreach (var (_, path) in spool.Segments(spool.Roll()))
                moved += await MoveAsync(path, cancellationToken);
            return moved;
        }
        finally
        {
            _draining.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Started with the host, after the store is migrated; picks up what a previous run left in the spool.
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DrainAsync(stoppingToken);
                await Task.Delay(DrainEvery, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception e)
            {
                LogDrainFailed(_logger, e);
                await Task.Delay(DrainEvery, _time, CancellationToken.None);
            }
        }
    }

    private async Task<int> MoveAsync(string path, CancellationToken cancellationToken)
    {
        // The segment is read into a pooled buffer and parsed a chunk at a time: a second of calls read whole was a
        // large-object array each drain, and all its parsed records lived through the drain's collections into the
        // older generations, where the collections that reclaimed them paused the calls.
        var (segment, length) = await ReadSegmentAsync(path, cancellationToken);
        var leased = new List<SpooledCall>();
        var moved = 0;
        try
        {
            for (var offset = 0; offset < length;)
            {
                var calls = Parse(segment.AsSpan(0, length), ref offset, path);
                if (calls.Count == 0)
                    continue; // only a cut line was left
                // A turn per chunk, so other writers (a job's usage, the control loops) get the store between them.
                using (await _database.WriteTurnAsync(cancellationToken))
                    await InsertAsync(calls, cancellationToken);
                leased.AddRange(calls.Where(c => c.LeaseId is not null));
                moved += calls.Count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(segment);
        }
        foreach (var call in leased)
        {
            try
            {
                // A lease settled before (a spool moved again) is not settled twice.
                await _budgets.SettleAsync(new BudgetGuardLease(call.LeaseId!, call.MaxCost), Math.Min(call.Cost, BudgetUnits.Max), cancellationToken);
            }
            catch (Exception e) when (e is DbException or InvalidOperationException)
            {
                // The call is in the store and counted as spent; the budget loop releases a lease left unsettled.
                LogSettleFailed(_logger, call.LeaseId!, e);
            }
        }
        File.Delete(path);
        return moved;
    }

    /// <summary>A closed segment's bytes, in an array rented from the shared pool (the caller returns it).</summary>
    private static async Task<(byte[] Segment, int Length)> ReadSegmentAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
        var length = checked((int)file.Length);
        var segment = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await file.ReadExactlyAsync(segment.AsMemory(0, length), cancellationToken);
            return (segment, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(segment);
            throw;
        }
    }

    /// <summary>
    /// In one transaction: the calls' request logs, their journal rows marked metered, and their usage events. What is in
    /// the store already is left as it is: a journal row there had its events appended with it (or, written unmetered by
    /// an earlier version, is the token meter's to take).
    /// </summary>
    private async Task InsertAsync(IReadOnlyList<SpooledCall> calls, CancellationToken cancellationToken)
    {
        await using var db = _database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var requestIds = calls.Select(c => c.Journal?.RequestId).OfType<string>().ToList();
        var journaled = (await db.TokenJournal.AsNoTracking().Where(r => EF.Parameter(requestIds).Contains(r.RequestId)).Select(r => r.RequestId)
            .ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var logIds = calls.Select(c => c.Log?.Id).OfType<string>().ToList();
        var logged = logIds.Count == 0 ? [] : (await db.RequestLogs.AsNoTracking().Where(r => EF.Parameter(logIds).Contains(r.Id)).Select(r => r.Id)
            .ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var journal = calls.Select(c => c.Journal).OfType<TokenJournalRow>().Where(r => journaled.Add(r.RequestId)).ToList();
        var now = _time.GetUtcNow();
        foreach (var row in journal)
            row.MeteredAt = now;
        await BulkInsert.InsertAsync(db, [.. calls.Select(c => c.Log).OfType<RequestLogRow>().Where(l => logged.Add(l.Id))], cancellationToken);
        await BulkInsert.InsertAsync(db, journal, cancellationToken);
        await _usage.AddManyInTransactionAsync(db, [.. journal.SelectMany(TokenMeter.Events)], cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// The records of whole lines from <paramref name="offset"/> on, up to <see cref="DrainChunk"/> of them; moves
    /// <paramref name="offset"/> past the lines read.
    /// </summary>
    private List<SpooledCall> Parse(ReadOnlySpan<byte> segment, ref int offset, string path)
    {
        var calls = new List<SpooledCall>(DrainChunk);
        while (calls.Count < DrainChunk && offset < segment.Length)
        {
            var rest = segment[offset..];
            var end = rest.IndexOf((byte)'\n');
            var line = end < 0 ? rest : rest[..end];
            offset += end < 0 ? rest.Length : end + 1;
            if (line.IsEmpty)
                continue;
            try
            {
                calls.Add(JsonSerializer.Deserialize(line, SpoolJson.Default.SpooledCall)!);
            }
            catch (JsonException e)
            {
                // Only a write cut by a power loss leaves a partial line, and its call was never answered.
                LogTornRecord(_logger, path, e);
            }
        }
        return calls;
    }

    private async Task WriteAsync()
    {
        var group = new List<Pending>(MaxGroup);
        while (await _queue.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < MaxGroup && _queue.Reader.TryRead(out var pending))
                group.Add(pending);
            try
            {
                await SaveAsync(group);
                foreach (var pending in group)
                    pending.Done.TrySetResult();
            }
            catch (DbException e) when (Persist.IsUniqueViolation(e))
            {
                // A request id recorded before (a retried batch line) spoils the group's commit: each on its own, then.
                foreach (var pending in group)
                    await SaveAloneAsync(pending);
            }
            catch (Exception e)
            {
                LogCommitFailed(_logger, group.Count, e);
                foreach (var pending in group)
                    pending.Done.TrySetException(e);
            }
        }
    }

    private async Task SaveAsync(IReadOnlyList<Pending> group)
    {
        await using var db = _database.Open();
        await using var tx = await db.Database.BeginTransactionAsync();
        await BulkInsert.InsertAsync(db, [.. group.Select(p => p.Call.Log).OfType<RequestLogRow>()], CancellationToken.None);
        await BulkInsert.InsertAsync(db, [.. group.Select(p => p.Call.Journal).OfType<TokenJournalRow>()], CancellationToken.None);
        await tx.CommitAsync();
    }

    private async Task SaveAloneAsync(Pending pending)
    {
        try
        {
            await using var db = _database.Open();
            if (pending.Call.Log is { } log)
                db.RequestLogs.Add(log);
            if (pending.Call.Journal is { } journal)
                db.TokenJournal.Add(journal);
            await Persist.TrySaveAsync(db, CancellationToken.None);
            pending.Done.TrySetResult();
        }
        catch (Exception e)
        {
            pending.Done.TrySetException(e);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await _writer;
        await base.StopAsync(cancellationToken);
        try
        {
            // A clean stop leaves nothing in the spool (a crash leaves it for the next start).
            await DrainAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogDrainFailed(_logger, e);
        }
    }

    public override void Dispose()
    {
        _queue.Writer.TryComplete();
        _spool?.Dispose();
        base.Dispose();
    }

    private sealed record Pending(SpooledCall Call, TaskCompletionSource Done);

    /// <summary>One call's records in the spool, with the budget lease to settle once they are in the store (null: none held).</summary>
    internal sealed record SpooledCall(TokenJournalRow? Journal, RequestLogRow? Log, string? LeaseId, decimal MaxCost, decimal Cost);

    [JsonSerializable(typeof(SpooledCall))]
    private sealed partial class SpoolJson : JsonSerializerContext;

    [LoggerMessage(EventId = 7004, Level = LogLevel.Error, Message = "Could not record {Count} model calls; those calls fail")]
    private static partial void LogCommitFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Error, Message = "Could not move the spooled model calls into the store; the next drain tries again")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Warning, Message = "Skipped a partial record at the end of {Path} (a write cut short)")]
    private static partial void LogTornRecord(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Warning, Message = "Could not settle budget lease {LeaseId} of a spooled model call; the budget loop releases it")]
    private static partial void LogSettleFailed(ILogger logger, string leaseId, Exception exception);
}
