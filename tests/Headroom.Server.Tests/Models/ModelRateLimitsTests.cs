using System.Net;
using System.Net.Http.Json;
using Headroom.Server.Models;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;

namespace Headroom.Server.Tests.Models;

/// <summary>
/// Rate limits on model calls: exact under concurrency, released on completion, and on PostgreSQL leases in the shared
/// store that several replicas count together (an SQLite store belongs to one process, which counts in memory). Times
/// are passed in, so windows are deterministic.
/// </summary>
public sealed class ModelRateLimitsTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 10, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<Database> StoreAsync(StoreProvider provider)
    {
        var database = new Database(await TestDatabases.CreateAsync(provider, _dir.Path));
        await database.MigrateAsync(CancellationToken.None);
        return database;
    }

    private static RateScope[] Scopes(ModelLimits key, ModelLimits project) => [new("key:key_a", key), new("project:prj_a", project)];

    /// <summary>Two replicas (two connection pools over one store) on PostgreSQL; on SQLite, one process's limiter, twice.</summary>
    private static ModelRateLimits[] Replicas(Database database)
    {
        var first = new ModelRateLimits(database);
        return database.Connection.Provider == StoreProvider.Postgres ? [first, new ModelRateLimits(new Database(database.Connection))] : [first, first];
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Of_many_concurrent_calls_from_two_replicas_exactly_the_limit_is_admitted_in_a_window(StoreProvider provider)
    {
        var database = await StoreAsync(provider);
        var replicas = Replicas(database);
        var scopes = Scopes(ModelLimits.None, new ModelLimits(RequestsPerMinute: 7, 0, 0));

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            replicas[i % 2].TryAdmitAsync($"req_{i}", scopes, 10, Now, CancellationToken.None)));

        Assert.Equal(7, results.Count(r => r.Lease is not null));
        Assert.All(results.Where(r => r.Lease is null), r => Assert.Equal((429, "rate_limit_exceeded", 50), (r.Refusal!.Status, r.Refusal.Code, r.Refusal.RetryAfterSeconds)));
        var nextWindow = await replicas[0].TryAdmitAsync("req_next", scopes, 10, Now.AddSeconds(50), CancellationToken.None);
        Assert.NotNull(nextWindow.Lease);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Of_many_concurrent_calls_from_two_replicas_exactly_the_concurrency_limit_holds_a_slot(StoreProvider provider)
    {
        var database = await StoreAsync(provider);
        var replicas = Replicas(database);
        var scopes = Scopes(new ModelLimits(0, 0, ConcurrentRequests: 3), ModelLimits.None);

        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            replicas[i % 2].TryAdmitAsync($"req_{i}", scopes, 1, Now, CancellationToken.None)));

        Assert.Equal(3, results.Count(r => r.Lease is not null));
        Assert.All(results.Where(r => r.Lease is null), r => Assert.Equal((429, 1), (r.Refusal!.Status, r.Refusal.RetryAfterSeconds)));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Tokens_per_minute_count_the_reservation_and_completion_corrects_it_to_what_was_used(StoreProvider provider)
    {
        var limits = new ModelRateLimits(await StoreAsync(provider));
        var scopes = Scopes(new ModelLimits(0, TokensPerMinute: 100, 0), ModelLimits.None);

        var first = await limits.TryAdmitAsync("req_1", scopes, 80, Now, CancellationToken.None);
        var refused = await limits.TryAdmitAsync("req_2", scopes, 30, Now, CancellationToken.None);
        await limits.ReleaseAsync(first.Lease!, tokensUsed: 20, CancellationToken.None);
        var admitted = await limits.TryAdmitAsync("req_3", scopes, 30, Now, CancellationToken.None);
        var tooLarge = await limits.TryAdmitAsync("req_4", scopes, 101, Now.AddMinutes(5), CancellationToken.None);

        Assert.NotNull(first.Lease);
        Assert.Contains("tokens per minute", refused.Refusal!.Message, StringComparison.Ordinal);
        Assert.NotNull(admitted.Lease);
        Assert.Contains("Request too large", tooLarge.Refusal!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_concurrency_slot_is_held_until_release_and_one_left_by_a_dead_replica_expires(StoreProvider provider)
    {
        var limits = new ModelRateLimits(await StoreAsync(provider));
        var scopes = Scopes(new ModelLimits(0, 0, ConcurrentRequests: 1), ModelLimits.None);

        var held = await limits.TryAdmitAsync("req_1", scopes, 1, Now, CancellationToken.None);
        var busy = await limits.TryAdmitAsync("req_2", scopes, 1, Now, CancellationToken.None);
        await limits.ReleaseAsync(held.Lease!, 1, CancellationToken.None);
        var after = await limits.TryAdmitAsync("req_3", scopes, 1, Now, CancellationToken.None);
        var whileHeld = await limits.TryAdmitAsync("req_4", scopes, 1, Now.AddMinutes(1), CancellationToken.None);

        Assert.NotNull(held.Lease);
        Assert.Contains("at once", busy.Refusal!.Message, StringComparison.Ordinal);
        Assert.NotNull(after.Lease);
        Assert.Null(whileHeld.Lease);
        if (provider == StoreProvider.Postgres)
        {
            // req_3's replica "died" holding its lease: the lease expires. (On SQLite the leases die with the process.)
            var afterExpiry = await limits.TryAdmitAsync("req_5", scopes, 1, Now + ModelRateLimits.LeaseLifetime + TimeSpan.FromSeconds(1), CancellationToken.None);
            Assert.NotNull(afterExpiry.Lease);
        }
    }

    [Fact]
    public async Task A_project_limit_is_shared_by_two_servers_on_one_postgresql()
    {
        var perProject = new ModelSettings { PerProject = new ModelLimits(RequestsPerMinute: 3, 0, 0) };
        await using var a = await TestServer.StartAsync(StoreProvider.Postgres, s => s with { Models = perProject });
        await using var b = await TestServer.StartAsync(StoreProvider.Postgres, s => s with
        {
            Database = a.Settings.Database, DataDir = a.Settings.DataDir, Models = perProject, ReplicaId = "replica-b",
        });
        var (_, key) = await a.CreateTenantAsync("shared-limit");
        using var ownerA = a.Client(key);
        using var ownerB = b.Client(key);

        // Windows are whole minutes of the wall clock: a run that straddles a minute boundary is repeated once, in a new project.
        for (var attempt = 0; ; attempt++)
        {
            var project = (await ownerA.PostJsonAsync("/v1/projects", new { name = $"p{attempt}" }))["id"]!.GetValue<string>();
            var minute = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
            var statuses = new List<HttpStatusCode>();
            foreach (var client in new[] { ownerA, ownerB, ownerA, ownerB })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent.Create(new { model = "all-minilm-l6-v2", input = "x" }) };
                request.Headers.Add(ModelHooks.ProjectHeader, project);
                using var response = await client.SendAsync(request);
                statuses.Add(response.StatusCode);
            }
            if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 != minute && attempt == 0)
                continue;
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
            break;
        }
    }
}
