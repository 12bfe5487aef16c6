using Headroom.Store;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Store.Tests;

public sealed class SchemaTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Migrations_apply_to_an_empty_store_and_leave_nothing_pending(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));

        await database.MigrateAsync(default);
        await database.MigrateAsync(default);

        Assert.Empty(await database.PendingMigrationsAsync(default));
        await using var db = database.Open();
        Assert.Equal(0, await db.Orgs.CountAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task The_model_has_no_changes_missing_from_the_migrations(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));
        await using var db = database.Open();

        Assert.False(db.Database.HasPendingModelChanges(),
            $"The EF model changed without a migration for {provider}; run scripts/add-migration.sh NAME.");
    }

    [Fact]
    public async Task Sqlite_runs_in_wal_mode()
    {
        var database = new Database(StoreConnection.SqliteFile(Path.Combine(_dir.Path, "wal.db")));
        await database.MigrateAsync(default);
        await using var db = database.Open();
        await db.Database.OpenConnectionAsync();
        await using var cmd = db.Database.GetDbConnection().CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";

        Assert.Equal("wal", (string?)await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Times_keep_microseconds_through_sqlite()
    {
        var database = new Database(StoreConnection.SqliteFile(Path.Combine(_dir.Path, "t.db")));
        await database.MigrateAsync(default);
        var time = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero).AddTicks(1234560);
        await using (var db = database.Open())
        {
            db.Orgs.Add(new Identity.OrgRow { Id = "org_x", Name = "x", DisplayName = "x", CreatedAt = time });
            await db.SaveChangesAsync();
        }
        await using var read = database.Open();
        Assert.Equal(time, (await read.Orgs.SingleAsync()).CreatedAt);
        Assert.Equal(1, await read.Orgs.CountAsync(o => o.CreatedAt > time.AddTicks(-10) && o.CreatedAt < time.AddTicks(10)));
    }
}
