using Headroom.Core.Chains;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Audit;
using Headroom.Server.Audit;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Tests;

public sealed class AuditTests
{
    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Every_mutation_and_failed_sign_in_is_recorded_in_the_right_orgs_chain(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        var project = await owner.PostJsonAsync("/v1/projects", new { name = "web" });
        using var refused = await owner.PostAsJsonAsync("/v1/projects", new { name = "BAD NAME" });
        await owner.GetJsonAsync("/v1/projects");
        // A genuine key id with a wrong secret: recorded in that key's org.
        using var forged = server.Client(ownerKey[..^4] + "aaaa");
        using var forgedResponse = await forged.GetAsync("/v1/projects");

        var log = await owner.GetJsonAsync("/v1/audit?order=asc");
        var records = log["data"]!.AsArray().Select(r => r!).ToList();

        Assert.Equal(["projects.create", "projects.create", "auth.failed"], records.Select(r => r["action"]!.GetValue<string>()));
        Assert.Equal(project["id"]!.GetValue<string>(), records[0]["target"]!.GetValue<string>());
        Assert.Equal(("success", 201), (records[0]["result"]!.GetValue<string>(), records[0]["status_code"]!.GetValue<int>()));
        Assert.Equal(("failure", 400), (records[1]["result"]!.GetValue<string>(), records[1]["status_code"]!.GetValue<int>()));
        Assert.Equal("anonymous", records[2]["actor"]!.GetValue<string>());
        Assert.Equal([1L, 2L, 3L], records.Select(r => r["seq"]!.GetValue<long>()));
        Assert.All(records, r => Assert.Equal(orgId, r["org_id"]!.GetValue<string>()));
        Assert.All(records, r => Assert.StartsWith("req_", r["request_id"]!.GetValue<string>(), StringComparison.Ordinal));
        Assert.Equal(records[0]["hash"]!.GetValue<string>(), records[1]["prev_hash"]!.GetValue<string>());
        Assert.Empty(await VerifyAsync(server.Database, orgId));
    }

    [Fact]
    public async Task A_record_the_store_refused_for_a_moment_is_appended_when_it_answers_again_before_the_response()
    {
        await using var server = await TestServer.StartAsync(StoreProvider.Postgres);
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        // The next three audit appends are refused, after the project is committed.
        var refused = await RefusedWrites.ArmAsync(server.Database, "refused_appends", "INSERT", "audit_records", times: 3);

        using var response = await owner.PostAsJsonAsync("/v1/projects", new { name = "web" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        var record = Assert.Single((await owner.GetJsonAsync($"/v1/audit?target={id}"))["data"]!.AsArray())!;
        Assert.Equal(("projects.create", 201), (record["action"]!.GetValue<string>(), record["status_code"]!.GetValue<int>()));
        Assert.Equal(4, await refused.TriedAsync());
        Assert.Empty(await VerifyAsync(server.Database, orgId));
    }

    [Fact]
    public async Task Concurrent_appends_from_many_requests_keep_one_unbroken_chain()
    {
        await using var server = await TestServer.StartAsync(StoreProvider.Postgres);
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);

        await Task.WhenAll(Enumerable.Range(0, 24).Select(async i =>
        {
            using var response = await owner.PostAsJsonAsync("/v1/projects", new { name = $"p{i}" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }));

        await using var db = server.Database.Open();
        var seqs = await db.AuditRecords.Where(r => r.OrgId == orgId).OrderBy(r => r.Seq).Select(r => r.Seq).ToListAsync();
        Assert.Equal(Enumerable.Range(1, 24).Select(i => (long)i), seqs);
        Assert.Empty(await VerifyAsync(server.Database, orgId));
    }

    [Fact]
    public async Task An_edited_or_deleted_row_is_found_by_verification()
    {
        await using var server = await TestServer.StartAsync();
        var (orgId, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        for (var i = 0; i < 5; i++)
            await owner.PostJsonAsync("/v1/projects", new { name = $"p{i}" });

        await using (var db = server.Database.Open())
        {
            await db.AuditRecords.Where(r => r.OrgId == orgId && r.Seq == 2).ExecuteUpdateAsync(s => s.SetProperty(r => r.Actor, "someone-else"));
            await db.AuditRecords.Where(r => r.OrgId == orgId && r.Seq == 4).ExecuteDeleteAsync();
        }
        var findings = await VerifyAsync(server.Database, orgId);

        Assert.Contains(findings, f => f.Seq == 2 && f.Kind == ChainFindingKind.Edited);
        Assert.Contains(findings, f => f.Kind == ChainFindingKind.Deleted);
    }

    [Fact]
    public async Task The_log_exports_as_ocsf_api_activity_and_as_cef()
    {
        await using var server = await TestServer.StartAsync();
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        await owner.PostJsonAsync("/v1/projects", new { name = "web" });
        await owner.PostJsonAsync("/v1/members", new { email = "a@b.example", role = "viewer" });

        var ocsf = (await owner.GetStringAsync("/v1/audit/export?format=ocsf")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var cef = (await owner.GetStringAsync("/v1/audit/export?format=cef")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var bad = await owner.GetAsync("/v1/audit/export?format=xml");

        Assert.Equal(2, ocsf.Length);
        var first = JsonNode.Parse(ocsf[0])!;
        Assert.Equal(6003, first["class_uid"]!.GetValue<int>());
        Assert.Equal(600301, first["type_uid"]!.GetValue<int>());
        Assert.Equal("projects.create", first["api"]!["operation"]!.GetValue<string>());
        Assert.Equal(2, cef.Length);
        Assert.All(cef, line => Assert.StartsWith("CEF:0|Headroom|Headroom|", line, StringComparison.Ordinal));
        Assert.Equal("format", (await HttpJson.ErrorAsync(bad, 400))["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Lists_filter_and_page_by_sequence()
    {
        await using var server = await TestServer.StartAsync();
        var (_, ownerKey) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(ownerKey);
        for (var i = 0; i < 5; i++)
            await owner.PostJsonAsync("/v1/projects", new { name = $"p{i}" });
        await owner.PostJsonAsync("/v1/members", new { email = "a@b.example", role = "viewer" });

        var newest = await owner.GetJsonAsync("/v1/audit?limit=2");
        var next = await owner.GetJsonAsync($"/v1/audit?limit=2&after={newest["last_id"]}");
        var members = await owner.GetJsonAsync("/v1/audit?action=members.create");
        using var badTime = await owner.GetAsync("/v1/audit?from=yesterday");

        Assert.Equal([6L, 5L], newest["data"]!.AsArray().Select(r => r!["seq"]!.GetValue<long>()));
        Assert.Equal([4L, 3L], next["data"]!.AsArray().Select(r => r!["seq"]!.GetValue<long>()));
        Assert.Single(members["data"]!.AsArray());
        await HttpJson.ErrorAsync(badTime, 400);
    }

    private static async Task<List<AuditFinding>> VerifyAsync(Database database, string orgId)
    {
        await using var db = database.Open();
        var rows = await db.AuditRecords.AsNoTracking().Where(r => r.OrgId == orgId).OrderBy(r => r.Seq).ToListAsync();
        return [.. AuditChain.Verify(orgId, rows.Select(AuditRows.ToRecord))];
    }
}
