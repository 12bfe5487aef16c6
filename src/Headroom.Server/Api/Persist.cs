using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Api;

internal static class Persist
{
    /// <summary>
    /// Saves, and answers false when a unique constraint refused the write: the check-then-insert race
    /// of two concurrent requests ends in a 409 for the loser rather than a 500.
    /// </summary>
    public static async Task<bool> TrySaveAsync(DbContext db, CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateException ex) when (IsUniqueViolation(ex))
        {
            return false;
        }
    }

    /// <summary>How long a request keeps trying to record what it did in a store that went away (a PostgreSQL restart).</summary>
    public static readonly TimeSpan OutageRetryFor = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether the store could not be reached or refused for a moment (restarting, a dropped connection, busy), so the same
    /// statement may succeed later; Npgsql's own judgement for PostgreSQL. EF wraps it in a <see cref="DbUpdateException"/>
    /// (saves) or an <see cref="InvalidOperationException"/> (its execution strategy).
    /// </summary>
    public static bool IsTransient(Exception? ex) => ex switch
    {
        DbUpdateException or InvalidOperationException => IsTransient(ex.InnerException),
        Npgsql.NpgsqlException npgsql => npgsql.IsTransient,
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 5 or 6, // SQLITE_BUSY, SQLITE_LOCKED
        TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// Runs <paramref name="write"/>, again while the store is away (<see cref="IsTransient"/>) for up to
    /// <see cref="OutageRetryFor"/>, then lets the failure through. For writes that are the same each time they run.
    /// </summary>
    public static async Task WhileStoreRecoversAsync(TimeProvider time, Func<Task> write)
    {
        var deadline = time.GetUtcNow() + OutageRetryFor;
        for (var pause = TimeSpan.FromMilliseconds(50); ; pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.TicksPerSecond)))
        {
            try
            {
                await write();
                return;
            }
            catch (Exception e) when (IsTransient(e) && time.GetUtcNow() + pause < deadline)
            {
                await Task.Delay(pause, time);
            }
        }
    }

    /// <summary>
    /// Whether a unique constraint refused the write: from <c>SaveChanges</c> (a <see cref="DbUpdateException"/>) or from a
    /// statement run without change tracking (<see cref="Store.BulkInsert"/>).
    /// </summary>
    public static bool IsUniqueViolation(Exception? ex) => ex switch
    {
        DbUpdateException update => IsUniqueViolation(update.InnerException),
        Npgsql.PostgresException pg => pg.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation,
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode == 19 && sqlite.SqliteExtendedErrorCode is 2067 or 1555,
        _ => false,
    };
}
