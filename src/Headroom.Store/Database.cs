using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Headroom.Store;

/// <summary>
/// Opens short-lived <see cref="HeadroomDb"/> contexts on one configured store. A singleton; each
/// unit of work opens its own context and disposes it.
/// </summary>
public sealed class Database
{
    private readonly DbContextOptions _options;

    public Database(StoreConnection connection)
    {
        Connection = connection;
        _options = connection.Provider switch
        {
            StoreProvider.Sqlite => new DbContextOptionsBuilder<SqliteHeadroomDb>()
                .UseSqlite(connection.ConnectionString)
                .AddInterceptors(SqlitePragmas.Instance)
                .Options,
            StoreProvider.Postgres => new DbContextOptionsBuilder<PostgresHeadroomDb>()
                .UseNpgsql(connection.ConnectionString)
                .Options,
            _ => throw new ArgumentOutOfRangeException(nameof(connection)),
        };
    }

    public StoreConnection Connection { get; }

    public HeadroomDb Open() => Connection.Provider == StoreProvider.Sqlite
        ? new SqliteHeadroomDb((DbContextOptions<SqliteHeadroomDb>)_options)
        : new PostgresHeadroomDb((DbContextOptions<PostgresHeadroomDb>)_options);

    /// <summary>
    /// A turn at SQLite's one write lock for the writers that take it many times a second (the call spool's drain, the
    /// token meter): they queue here in order, one at a time. Left to SQLite's busy handler, a waiter sleeps ever longer
    /// between tries, and a writer that takes the lock batch after batch slipped in every time: a model call's record
    /// waited behind a whole metering pass, 100 ms and more, every second. Other writers still wait in the busy
    /// handler. On PostgreSQL, which locks rows, it is granted at once.
    /// </summary>
    public async ValueTask<IDisposable> WriteTurnAsync(CancellationToken cancellationToken)
    {
        if (Connection.Provider != StoreProvider.Sqlite)
            return new Turn(null);
        await _writeTurn.WaitAsync(cancellationToken);
        return new Turn(_writeTurn);
    }

    private readonly SemaphoreSlim _writeTurn = new(1, 1);

    private sealed class Turn(SemaphoreSlim? gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (gate is not null && Interlocked.Exchange(ref _released, 1) == 0)
                gate.Release();
        }
    }

    /// <summary>Applies pending migrations. Safe to call from several replicas at once (EF Core takes a migration lock).</summary>
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var db = Open();
        await db.Database.MigrateAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<string>> PendingMigrationsAsync(CancellationToken cancellationToken)
    {
        await using var db = Open();
        return [.. await db.Database.GetPendingMigrationsAsync(cancellationToken)];
    }

    /// <summary>
    /// SQLite connection settings: WAL lets readers run beside the single writer, and FULL sync
    /// makes every acknowledged commit survive a crash of the process or the machine. Pages of the database file are read
    /// through a memory map: a connection's page cache is dropped whenever another connection commits, and re-reading the
    /// pages with pread(2) was a seventh of the token meter's CPU at gateway rates. A writer that finds the write
    /// lock taken waits in SQLite's own busy handler, which retries after 1, 2, 5, 10… ms: left to Microsoft.Data.Sqlite,
    /// it would sleep 150 ms between tries, a stall every model call queued behind the token meter paid. They belong to the native
    /// connection, which the pool keeps open across <c>Open</c> calls, so each is set once, when it is new: running
    /// them on every open cost three statements per query.
    /// </summary>
    private sealed class SqlitePragmas : DbConnectionInterceptor
    {
        public static readonly SqlitePragmas Instance = new();
        private const string Pragmas = "PRAGMA busy_timeout=30000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;";
        private static readonly ConditionalWeakTable<object, object> s_prepared = [];

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            if (Unprepared(connection) is not { } handle)
                return;
            using var cmd = connection.CreateCommand();
            cmd.CommandText = Pragmas;
            cmd.ExecuteNonQuery();
            s_prepared.TryAdd(handle, handle);
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            if (Unprepared(connection) is not { } handle)
                return;
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = Pragmas;
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            s_prepared.TryAdd(handle, handle);
        }

        /// <summary>The native connection (the pooled <c>sqlite3</c> handle) when its settings are still to be made; else null.</summary>
        private static object? Unprepared(DbConnection connection) =>
            connection is SqliteConnection { Handle: { } handle } && !s_prepared.TryGetValue(handle, out _) ? handle : null;
    }
}
