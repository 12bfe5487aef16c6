using Headroom.Store;
using Headroom.Store.Models;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Store.Tests;

public sealed class BulkInsertTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TokenJournalRow Row(int i) => new()
    {
        RequestId = $"chatcmpl-{i:D4}",
        OrgId = "org_a",
        ProjectId = "prj_" + (i % 3),
        ApiKeyId = i % 4 == 0 ? null : "key_" + i,
        Actor = i % 10 == 3 ? $"ключ-{i}-é" : "key_" + i, // text bound as UTF-8
        Model = i == 42 ? new string('m', 3000) : i % 2 == 0 ? "tiny" : "mock-model", // longer than the first text buffer
        Region = i % 5 == 0 ? null : "eu-west",
        InputTokens = i * 7,
        OutputTokens = i % 6 == 0 ? 0 : i,
        Estimated = i % 7 == 0,
        Batch = i % 8 == 0,
        DedicatedTier = i % 9 == 0 ? "reserved" : null,
        ServedAt = T0.AddTicks(i * 12_340), // microsecond steps and below: what each provider keeps
        MeteredAt = i % 2 == 0 ? null : T0.AddSeconds(i),
    };

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Rows_inserted_in_bulk_read_back_as_the_same_rows_saved_one_by_one(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));
        await database.MigrateAsync(CancellationToken.None);
        // 205 rows: two full 100-row statements and a shorter last one on PostgreSQL; one statement rerun 205 times on SQLite.
        var bulk = Enumerable.Range(0, 205).Select(Row).ToList();
        var tracked = Enumerable.Range(1000, 5).Select(Row).ToList();

        await using (var db = database.Open())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            await BulkInsert.InsertAsync(db, bulk, default);
            await tx.CommitAsync();
        }
        await using (var db = database.Open())
        {
            db.TokenJournal.AddRange(tracked);
            await db.SaveChangesAsync();
        }

        await using var read = database.Open();
        var stored = await read.TokenJournal.AsNoTracking().OrderBy(r => r.RequestId).ToListAsync();
        Assert.Equal(210, stored.Count);
        foreach (var (expected, actual) in bulk.Concat(tracked).Zip(stored))
        {
            Assert.Equivalent(expected, actual, strict: true);
        }
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_row_already_stored_fails_the_insert_as_a_unique_violation_and_its_transaction_keeps_nothing(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));
        await database.MigrateAsync(CancellationToken.None);
        await using (var db = database.Open())
        {
            db.TokenJournal.Add(Row(7));
            await db.SaveChangesAsync();
        }

        await using (var db = database.Open())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            var error = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => BulkInsert.InsertAsync(db, [Row(5), Row(6), Row(7), Row(8)], default));
            Assert.Equal(provider == StoreProvider.Sqlite ? "19" : "23505", error switch
            {
                Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => error.SqlState,
            });
        }

        await using var read = database.Open();
        Assert.Equal(["chatcmpl-0007"], await read.TokenJournal.Select(r => r.RequestId).ToListAsync());
    }
}
