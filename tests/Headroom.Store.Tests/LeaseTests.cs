using Headroom.Store;
using Headroom.Store.Coordination;
using Headroom.Tests;

namespace Headroom.Store.Tests;

public sealed class LeaseTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<Database> OpenAsync(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));
        await database.MigrateAsync(CancellationToken.None);
        return database;
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_free_lease_goes_to_the_first_replica_and_is_refused_to_the_second_until_it_expires(StoreProvider provider)
    {
        var db = await OpenAsync(provider);

        var a = await Leases.TryAcquireAsync(db, "loop", "a", Ttl, T0, default);
        var b = await Leases.TryAcquireAsync(db, "loop", "b", Ttl, T0.AddSeconds(5), default);
        var aRenews = await Leases.TryAcquireAsync(db, "loop", "a", Ttl, T0.AddSeconds(6), default);
        var bTooEarly = await Leases.TryAcquireAsync(db, "loop", "b", Ttl, T0.AddSeconds(15), default);
        var bAfterExpiry = await Leases.TryAcquireAsync(db, "loop", "b", Ttl, T0.AddSeconds(17), default);
        var aLate = await Leases.TryAcquireAsync(db, "loop", "a", Ttl, T0.AddSeconds(18), default);

        Assert.True(a.Held);
        Assert.Equal(1, a.Epoch);
        Assert.False(b.Held);
        Assert.Equal("a", b.Holder);
        Assert.True(aRenews.Held);
        Assert.Equal(1, aRenews.Epoch);
        Assert.False(bTooEarly.Held);
        Assert.True(bAfterExpiry.Held);
        Assert.Equal(2, bAfterExpiry.Epoch);
        Assert.False(aLate.Held);
        Assert.Equal("b", aLate.Holder);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_released_lease_is_free_at_once(StoreProvider provider)
    {
        var db = await OpenAsync(provider);
        await Leases.TryAcquireAsync(db, "loop", "a", Ttl, T0, default);

        await Leases.ReleaseAsync(db, "loop", "a", T0.AddSeconds(1), default);
        var b = await Leases.TryAcquireAsync(db, "loop", "b", Ttl, T0.AddSeconds(1), default);

        Assert.True(b.Held);
        Assert.Equal(2, b.Epoch);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Of_many_replicas_racing_for_a_lease_exactly_one_holds_it(StoreProvider provider)
    {
        var db = await OpenAsync(provider);

        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            Task.Run(() => Leases.TryAcquireAsync(db, "race", $"r{i}", Ttl, T0, default))));

        Assert.Single(results, r => r.Held);
        var holder = (await Leases.ReadAsync(db, "race", default))!.Holder;
        Assert.Equal(results.Single(r => r.Held).Holder, holder);
    }
}
