using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Store.Api;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Tests;

/// <summary>Orgs, projects, members and keys through the HTTP API, on both stores.</summary>
public sealed class IdentityTests
{
    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task The_tour_works_an_org_a_project_a_scoped_key_and_a_member(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);

        var project = await owner.PostJsonAsync("/v1/projects", new { name = "research", description = "LLM research" });
        var projectId = project["id"]!.GetValue<string>();
        var scopedKey = await TestServer.CreateKeyAsync(owner, null, ["member"], projectId);
        var member = await owner.PostJsonAsync("/v1/members", new { email = "Ada@Example.com", role = "admin" });

        Assert.StartsWith("prj_", projectId, StringComparison.Ordinal);
        Assert.Equal(orgId, project["org_id"]!.GetValue<string>());
        Assert.Equal("ada@example.com", member["email"]!.GetValue<string>());
        Assert.StartsWith("hr_", scopedKey, StringComparison.Ordinal);

        using var scoped = server.Client(scopedKey);
        var seen = await scoped.GetJsonAsync("/v1/projects");
        Assert.Equal(projectId, Assert.Single(seen["data"]!.AsArray())!["id"]!.GetValue<string>());
        using var refused = await scoped.PostAsJsonAsync("/v1/projects", new { name = "other" });
        await HttpJson.ErrorAsync(refused, 403);

        var org = await owner.GetJsonAsync($"/v1/orgs/{orgId}");
        Assert.Equal("acme", org["name"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_key_stops_working_when_revoked_and_its_secret_is_never_shown_again(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        var created = await owner.PostJsonAsync("/v1/keys", new { name = "ci", roles = new[] { "member" } });
        var keyId = created["api_key"]!["id"]!.GetValue<string>();
        var secret = created["key"]!.GetValue<string>();
        using var member = server.Client(secret);
        await member.GetJsonAsync("/v1/projects");

        var listed = await owner.GetJsonAsync("/v1/keys");
        await owner.PostJsonAsync($"/v1/keys/{keyId}/revoke", new { }, HttpStatusCode.OK);
        using var after = await member.GetAsync("/v1/projects");

        Assert.DoesNotContain(secret, listed.ToJsonString(), StringComparison.Ordinal);
        Assert.NotNull((await owner.GetJsonAsync($"/v1/keys/{keyId}"))["last_used_at"]);
        var error = await HttpJson.ErrorAsync(after, 401);
        Assert.Contains("revoked", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_key_is_refused_and_expiry_must_be_in_the_future()
    {
        await using var server = await TestServer.StartAsync();
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);

        using var past = await owner.PostAsJsonAsync("/v1/keys", new { name = "old", roles = new[] { "viewer" }, expires_at = DateTimeOffset.UtcNow.AddMinutes(-1) });
        var soon = await owner.PostJsonAsync("/v1/keys", new { name = "soon", roles = new[] { "viewer" }, expires_at = DateTimeOffset.UtcNow.AddSeconds(1) });
        await Task.Delay(1500);
        using var client = server.Client(soon["key"]!.GetValue<string>());
        using var after = await client.GetAsync("/v1/projects");

        Assert.Equal("expires_at", (await HttpJson.ErrorAsync(past, 400))["param"]!.GetValue<string>());
        Assert.Contains("expired", (await HttpJson.ErrorAsync(after, 401))["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Roles_cannot_be_escalated_beyond_the_callers_own()
    {
        await using var server = await TestServer.StartAsync();
        var (_, adminKey) = await server.CreateTenantAsync("acme", "admin");
        using var admin = server.Client(adminKey);

        using var ownerKey = await admin.PostAsJsonAsync("/v1/keys", new { name = "x", roles = new[] { "owner" } });
        using var fleetKey = await admin.PostAsJsonAsync("/v1/keys", new { name = "x", roles = new[] { "fleet-admin" } });
        using var ownerMember = await admin.PostAsJsonAsync("/v1/members", new { email = "boss@example.com", role = "owner" });
        using var unknown = await admin.PostAsJsonAsync("/v1/keys", new { name = "x", roles = new[] { "root" } });
        using var elsewhere = await admin.PostAsJsonAsync("/v1/keys", new { name = "x", roles = new[] { "viewer" }, org_id = "org_internal" });

        await HttpJson.ErrorAsync(ownerKey, 403);
        await HttpJson.ErrorAsync(fleetKey, 403);
        await HttpJson.ErrorAsync(ownerMember, 403);
        Assert.Equal("roles", (await HttpJson.ErrorAsync(unknown, 400))["param"]!.GetValue<string>());
        await HttpJson.ErrorAsync(elsewhere, 403);
    }

    [Fact]
    public async Task An_org_keeps_its_last_owner()
    {
        await using var server = await TestServer.StartAsync();
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        var boss = await owner.PostJsonAsync("/v1/members", new { email = "boss@example.com", role = "owner" });
        var id = boss["id"]!.GetValue<string>();

        using var demote = await owner.PatchAsJsonAsync($"/v1/members/{id}", new { role = "viewer" });
        using var remove = await owner.DeleteAsync($"/v1/members/{id}");
        await owner.PostJsonAsync("/v1/members", new { email = "second@example.com", role = "owner" });
        using var removeNow = await owner.DeleteAsync($"/v1/members/{id}");

        Assert.Equal("last_owner", (await HttpJson.ErrorAsync(demote, 409))["code"]!.GetValue<string>());
        await HttpJson.ErrorAsync(remove, 409);
        Assert.Equal(HttpStatusCode.OK, removeNow.StatusCode);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Names_are_unique_and_a_project_with_live_keys_cannot_be_deleted(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        var project = await owner.PostJsonAsync("/v1/projects", new { name = "web" });
        var projectId = project["id"]!.GetValue<string>();
        var key = await owner.PostJsonAsync("/v1/keys", new { name = "k", roles = new[] { "member" }, project_id = projectId });

        using var duplicate = await owner.PostAsJsonAsync("/v1/projects", new { name = "web" });
        using var duplicateOrg = await server.Admin().PostAsJsonAsync("/v1/orgs", new { name = "acme" });
        using var blocked = await owner.DeleteAsync($"/v1/projects/{projectId}");
        await owner.PostJsonAsync($"/v1/keys/{key["api_key"]!["id"]}/revoke", new { }, HttpStatusCode.OK);
        using var deleted = await owner.DeleteAsync($"/v1/projects/{projectId}");
        using var gone = await owner.GetAsync($"/v1/projects/{projectId}");

        Assert.Equal("name_taken", (await HttpJson.ErrorAsync(duplicate, 409))["code"]!.GetValue<string>());
        await HttpJson.ErrorAsync(duplicateOrg, 409);
        Assert.Equal("project_not_empty", (await HttpJson.ErrorAsync(blocked, 409))["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        await HttpJson.ErrorAsync(gone, 404);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Lists_page_with_limit_and_after_cursors(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        var created = new List<string>();
        for (var i = 0; i < 7; i++)
            created.Add((await owner.PostJsonAsync("/v1/projects", new { name = $"p{i}" }))["id"]!.GetValue<string>());

        var seen = new List<string>();
        string? after = null;
        var pages = 0;
        do
        {
            var page = await owner.GetJsonAsync("/v1/projects?limit=3" + (after is null ? "" : "&after=" + after));
            seen.AddRange(page["data"]!.AsArray().Select(p => p!["id"]!.GetValue<string>()));
            after = page["has_more"]!.GetValue<bool>() ? page["last_id"]!.GetValue<string>() : null;
            pages++;
        }
        while (after is not null);
        using var bad = await owner.GetAsync("/v1/projects?limit=0");

        Assert.Equal(created, seen);
        Assert.Equal(3, pages);
        Assert.Equal("limit", (await HttpJson.ErrorAsync(bad, 400))["param"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task An_idempotency_key_replays_the_first_response_and_refuses_another_body(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);

        async Task<HttpResponseMessage> Post(object body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/projects") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", "create-web-1");
            return await owner.SendAsync(request);
        }

        using var first = await Post(new { name = "web" });
        using var again = await Post(new { name = "web" });
        using var other = await Post(new { name = "api" });
        var list = await owner.GetJsonAsync("/v1/projects");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(JsonNode.Parse(await first.Content.ReadAsStringAsync())!["id"]!.ToString(),
            JsonNode.Parse(await again.Content.ReadAsStringAsync())!["id"]!.ToString());
        Assert.Equal("idempotency_key_reused", (await HttpJson.ErrorAsync(other, 409))["code"]!.GetValue<string>());
        Assert.Single(list["data"]!.AsArray());
    }

    [Theory]
    [InlineData(StoreProvider.Sqlite)]
    [InlineData(StoreProvider.Postgres)]
    public async Task After_a_crash_a_repeat_learns_the_request_took_effect_or_runs_it_once(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        async Task<HttpResponseMessage> Post(string key, string body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/projects") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("Idempotency-Key", key);
            return await owner.SendAsync(request);
        }

        // A request that completes: its claim was stamped applied by the transaction that created the project.
        using var first = await Post("k1", """{"name":"web"}""");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        await using (var db = server.Database.Open())
            Assert.NotNull((await db.IdempotencyRecords.SingleAsync(r => r.OrgId == orgId && r.Key == "k1")).AppliedAt);

        // Its holder, another replica, has the response yet to store (its store was away): a repeat is asked to wait for it.
        await using (var db = server.Database.Open())
            await db.IdempotencyRecords.Where(r => r.Key == "k1").ExecuteUpdateAsync(s => s
                .SetProperty(r => r.StatusCode, 0).SetProperty(r => r.Body, Array.Empty<byte>()).SetProperty(r => r.ClaimedBy, "replica-b#alive"));
        using var early = await Post("k1", """{"name":"web"}""");
        Assert.Equal("idempotency_key_in_use", (await HttpJson.ErrorAsync(early, 409))["code"]!.GetValue<string>());

        // The server died after that commit and before it stored the response: the repeat is told, and runs nothing.
        await using (var db = server.Database.Open())
            await db.IdempotencyRecords.Where(r => r.Key == "k1").ExecuteUpdateAsync(s => s.SetProperty(r => r.ClaimedBy, $"{server.Settings.ReplicaId}#an-earlier-run"));
        using var repeat = await Post("k1", """{"name":"web"}""");
        Assert.Equal("idempotency_key_applied", (await HttpJson.ErrorAsync(repeat, 409))["code"]!.GetValue<string>());

        // An earlier run of this replica died holding a claim before anything was committed: the repeat runs it, once.
        var body = """{"name":"api"}""";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"POST /v1/projects\n{body}")));
        await using (var db = server.Database.Open())
        {
            db.IdempotencyRecords.Add(new IdempotencyRow
            {
                OrgId = orgId, Key = "k2", RequestHash = hash, Body = [], CreatedAt = DateTimeOffset.UtcNow, ClaimedBy = $"{server.Settings.ReplicaId}#an-earlier-run",
            });
            await db.SaveChangesAsync();
        }
        using var takeover = await Post("k2", body);
        using var replay = await Post("k2", body);

        Assert.Equal(HttpStatusCode.Created, takeover.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        var names = (await owner.GetJsonAsync("/v1/projects"))["data"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).Order().ToList();
        Assert.Equal(["api", "web"], names);
    }

    [Fact]
    public async Task A_response_the_store_refused_for_a_moment_is_stored_when_it_answers_again_and_replayed_to_a_repeat()
    {
        await using var server = await TestServer.StartAsync(StoreProvider.Postgres);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        // The first three writes of a stored response are refused; the project it is for was committed before them.
        var refused = await RefusedWrites.ArmAsync(server.Database, "refused_responses", "UPDATE", "idempotency_records", times: 3, when: "NEW.status_code <> 0");
        async Task<HttpResponseMessage> Post() =>
            await owner.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/projects")
            {
                Content = new StringContent("""{"name":"web"}""", Encoding.UTF8, "application/json"),
                Headers = { { "Idempotency-Key", "k1" } },
            });

        using var first = await Post();
        using var repeat = await Post();

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal("true", repeat.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(JsonNode.Parse(await first.Content.ReadAsStringAsync())!["id"]!.ToString(), JsonNode.Parse(await repeat.Content.ReadAsStringAsync())!["id"]!.ToString());
        Assert.Single((await owner.GetJsonAsync("/v1/projects"))["data"]!.AsArray());
        Assert.Equal(4, await refused.TriedAsync());
    }

    [Fact]
    public async Task Concurrent_requests_with_one_idempotency_key_create_one_object()
    {
        await using var server = await TestServer.StartAsync(StoreProvider.Postgres);
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/projects") { Content = JsonContent.Create(new { name = "web" }) };
            request.Headers.Add("Idempotency-Key", "race");
            using var response = await owner.SendAsync(request);
            return (int)response.StatusCode;
        }));

        Assert.All(responses, s => Assert.Contains(s, new[] { 201, 409 }));
        Assert.Contains(201, responses);
        Assert.Single((await owner.GetJsonAsync("/v1/projects"))["data"]!.AsArray());
    }
}
