using System.Diagnostics;
using System.Net;
using Headroom.Server.Api;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;

namespace Headroom.Server.Tests;

/// <summary>Keys, projects and budgets answered from memory (<see cref="HotRows"/>) stay true to the store.</summary>
public sealed class HotRowsTests
{
    [Fact]
    public async Task A_value_loaded_while_a_write_is_announced_is_returned_but_not_kept()
    {
        var cache = new RowCache<string, string>();
        var loading = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var loads = 0;
        async Task<string?> Load(string key, CancellationToken _)
        {
            var n = Interlocked.Increment(ref loads);
            if (n == 1)
            {
                loading.SetResult();
                await release.Task;
                return "before the write";
            }
            return "after the write";
        }

        var first = cache.GetAsync("k", Load, default).AsTask();
        await loading.Task;
        cache.Forget("k"); // the write commits while the first load is under way
        release.SetResult();

        Assert.Equal("before the write", await first);
        Assert.Equal("after the write", await cache.GetAsync("k", Load, default));
        Assert.Equal("after the write", await cache.GetAsync("k", Load, default));
        Assert.Equal(2, loads); // the second value was kept, the first was not
    }

    [Fact]
    public async Task A_miss_is_not_remembered_and_an_entry_is_read_again_after_its_lifetime()
    {
        var cache = new RowCache<string, string>();
        var loads = 0;
        Task<string?> Load(string key, CancellationToken _) => Task.FromResult(Interlocked.Increment(ref loads) == 1 ? null : "v" + loads);

        Assert.Null(await cache.GetAsync("k", Load, default));
        Assert.Equal("v2", await cache.GetAsync("k", Load, default));
        Assert.Equal("v2", await cache.GetAsync("k", Load, default));
        await Task.Delay(HotRows.Lifetime + TimeSpan.FromMilliseconds(100));
        Assert.Equal("v3", await cache.GetAsync("k", Load, default));
    }

    [Fact]
    public async Task A_key_revoked_through_one_replica_is_refused_there_at_once_and_by_another_within_the_lifetime()
    {
        await using var a = await TestServer.StartAsync(StoreProvider.Postgres);
        await using var b = await TestServer.StartAsync(StoreProvider.Postgres,
            configure: s => s with { Database = a.Settings.Database, DataDir = a.Settings.DataDir });
        var (_, ownerKey) = await a.CreateTenantAsync("acme");
        using var owner = a.Client(ownerKey);
        var created = await owner.PostJsonAsync("/v1/keys", new { name = "ci", roles = new[] { "member" } });
        var secret = created["key"]!.GetValue<string>();
        using var onA = a.Client(secret);
        using var onB = b.Client(secret);
        // Both replicas now hold the key in memory.
        await onA.GetJsonAsync("/v1/projects");
        await onB.GetJsonAsync("/v1/projects");

        await owner.PostJsonAsync($"/v1/keys/{created["api_key"]!["id"]!.GetValue<string>()}/revoke", new { }, HttpStatusCode.OK);
        var revoked = Stopwatch.StartNew();
        using (var there = await onA.GetAsync("/v1/projects"))
            Assert.Equal(HttpStatusCode.Unauthorized, there.StatusCode);
        HttpStatusCode status;
        do
        {
            using var elsewhere = await onB.GetAsync("/v1/projects");
            status = elsewhere.StatusCode;
            if (status == HttpStatusCode.Unauthorized)
                break;
            Assert.Equal(HttpStatusCode.OK, status);
            await Task.Delay(50);
        }
        while (revoked.Elapsed < TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.True(revoked.Elapsed < HotRows.Lifetime + TimeSpan.FromSeconds(1), $"the other replica refused the key after {revoked.Elapsed}");
    }
}
