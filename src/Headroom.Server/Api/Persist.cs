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
