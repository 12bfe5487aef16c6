using Microsoft.EntityFrameworkCore;

namespace Headroom.Store.Coordination;

/// <summary>What a replica holds after trying a lease: whether it is the holder, and under which epoch.</summary>
public readonly record struct LeaseState(bool Held, string Holder, long Epoch, DateTimeOffset ExpiresAt);

/// <summary>
/// Named leases in the database, so that work which must run once (the scheduler cycle, reconcilers)
/// runs on one replica at a time. A replica takes a lease that is free or expired, renews its own
/// before it expires, and gives it up on a clean stop. Times come from the caller's clock; replicas
/// must keep their clocks within a small fraction of the lease's time to live (NTP does).
/// </summary>
public static class Leases
{
    public static async Task<LeaseState> TryAcquireAsync(
        Database database, string name, string holder, TimeSpan ttl, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var expires = now + ttl;
        await using var db = database.Open();

        // One statement decides: a conditional update is atomic on both engines, so of two replicas
        // racing for an expired lease exactly one sees a row changed.
        var changed = await db.Leases
            .Where(l => l.Name == name && (l.Holder == holder || l.ExpiresAt < now))
            .ExecuteUpdateAsync(s => s
                .SetProperty(l => l.Epoch, l => l.Holder == holder ? l.Epoch : l.Epoch + 1)
                .SetProperty(l => l.Holder, holder)
                .SetProperty(l => l.ExpiresAt, expires), cancellationToken);

        if (changed == 0 && !await db.Leases.AnyAsync(l => l.Name == name, cancellationToken))
        {
            db.Leases.Add(new LeaseRow { Name = name, Holder = holder, Epoch = 1, ExpiresAt = expires });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Another replica inserted it first; it holds the lease.
            }
        }

        var row = await db.Leases.AsNoTracking().SingleAsync(l => l.Name == name, cancellationToken);
        return new LeaseState(row.Holder == holder && row.ExpiresAt >= now, row.Holder, row.Epoch, row.ExpiresAt);
    }

    /// <summary>Gives the lease up at once so another replica need not wait for it to expire.</summary>
    public static async Task ReleaseAsync(Database database, string name, string holder, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        await db.Leases
            .Where(l => l.Name == name && l.Holder == holder)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.ExpiresAt, now.AddTicks(-TimeSpan.TicksPerMicrosecond)), cancellationToken);
    }

    public static async Task<LeaseRow?> ReadAsync(Database database, string name, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        return await db.Leases.AsNoTracking().SingleOrDefaultAsync(l => l.Name == name, cancellationToken);
    }
}
