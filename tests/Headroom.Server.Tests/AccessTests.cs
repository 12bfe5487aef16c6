using System.Net;
using System.Text;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Microsoft.Extensions.DependencyInjection;
using Headroom.Server.Tests.Infrastructure;

namespace Headroom.Server.Tests;

/// <summary>
/// The permission matrix, cell by cell over HTTP, and isolation between orgs: every /v1 endpoint is
/// called by every role, by a foreign org's owner with this org's ids, and by a revoked key.
/// </summary>
public sealed class AccessTests(AccessTests.World world) : IClassFixture<AccessTests.World>
{
    public sealed class World : IAsyncLifetime
    {
        public TestServer Server { get; private set; } = null!;
        public Dictionary<Role, string> Keys { get; } = [];
        public string OrgA { get; private set; } = "";
        public string OwnerA { get; private set; } = "";
        public string OwnerB { get; private set; } = "";
        public string RevokedKey { get; private set; } = "";
        public Dictionary<string, string> IdsOfA { get; } = [];

        public async Task InitializeAsync()
        {
            Server = await TestServer.StartAsync(fleetYaml: FleetTests.TwoRegionFleet);
            (OrgA, OwnerA) = await Server.CreateTenantAsync("acme");
            (_, OwnerB) = await Server.CreateTenantAsync("globex");
            using var owner = Server.Client(OwnerA);
            foreach (var role in new[] { Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing })
                Keys[role] = await TestServer.CreateKeyAsync(owner, null, [role.Code()]);
            using var admin = Server.Admin();
            Keys[Role.FleetAdmin] = await TestServer.CreateKeyAsync(admin, null, ["fleet-admin"]);

            IdsOfA["orgs"] = OrgA;
            IdsOfA["projects"] = (await owner.PostJsonAsync("/v1/projects", new { name = "secret-project" }))["id"]!.GetValue<string>();
            IdsOfA["members"] = (await owner.PostJsonAsync("/v1/members", new { email = "ceo@acme.example", role = "owner" }))["id"]!.GetValue<string>();
            var key = await owner.PostJsonAsync("/v1/keys", new { name = "doomed", roles = new[] { "admin" } });
            IdsOfA["keys"] = key["api_key"]!["id"]!.GetValue<string>();
            RevokedKey = key["key"]!.GetValue<string>();
            await owner.PostJsonAsync($"/v1/keys/{IdsOfA["keys"]}/revoke", new { }, HttpStatusCode.OK);
            IdsOfA["fleet"] = "use1-h100-01";
            // Before the job: the invoice below is issued while the job has not started.
            IdsOfA["deployments"] = (await owner.PostJsonAsync("/v1/deployments", new
            {
                model = "secret-model", project_id = IdsOfA["projects"], url = "http://127.0.0.1:9/v1",
            }))["id"]!.GetValue<string>();
            IdsOfA["jobs"] = (await owner.PostJsonAsync("/v1/jobs", new
            {
                project_id = IdsOfA["projects"], command = new[] { "sleep", "1" }, gpu_model = "a100-80gb", tier = "spot",
            }))["id"]!.GetValue<string>();
            // A bought block, so its id is walked too: a reserved rate from the next second, a block from the next hour.
            var now = DateTimeOffset.UtcNow;
            await admin.PostJsonAsync("/v1/prices", new
            {
                effective_from = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() + 2), currency = "USD", token_rates = Array.Empty<object>(),
                gpu_rates = new[] { new { gpu_model = "a100-80gb", tier = "reserved", region = "eu-west", per_gpu_hour = "1.00" } },
            });
            var quote = await owner.PostJsonAsync("/v1/quotes", new
            {
                // The hour after the rate takes effect (published at 08:59:59, a block at 09:00 would have no price).
                gpu_model = "a100-80gb", region = "eu-west", gpu_count = 1, duration_hours = 1,
                start = new DateTimeOffset(now.AddSeconds(10).UtcTicks - (now.AddSeconds(10).UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero).AddHours(1),
            });
            IdsOfA["reservations"] = (await owner.PostJsonAsync("/v1/reservations", new
            {
                quote_id = quote["id"]!.GetValue<string>(), project_id = IdsOfA["projects"],
            }))["id"]!.GetValue<string>();
            IdsOfA["budgets"] = (await owner.PostJsonAsync("/v1/budgets", new { name = "secret-budget", limit = "100" }))["id"]!.GetValue<string>();
            using (var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { new StringContent("not a request\n"), "file", "secret.jsonl" } })
            using (var uploaded = await owner.PostAsync("/v1/files", form))
                IdsOfA["files"] = (await HttpJson.ReadAsync(uploaded, HttpStatusCode.OK))["id"]!.GetValue<string>();
            // A batch of a bad file fails at once: its id is walked without a job to run.
            IdsOfA["batches"] = (await owner.PostJsonAsync("/v1/batches", new { input_file_id = IdsOfA["files"], endpoint = "/v1/embeddings", completion_window = "24h" },
                HttpStatusCode.OK))["id"]!.GetValue<string>();
            // An invoice of a closed month: one usage event in it, then the issue the leader loop would do.
            var september = BillingPeriod.Month(2026, 9);
            await Server.Services.GetRequiredService<UsageWriter>().AppendAsync(UsageEvent.GpuTime(
                "job_old:1", OrgA, IdsOfA["projects"], 1000, Tier.Spot, "a100-80gb", "eu-west", september.Start, september.Start.AddHours(1)), default);
            // The job above may have run and ended by now (a busy machine): meter it, so its usage is not pending.
            await Server.Services.GetRequiredService<JobMeter>().MeterAsync(default);
            var issued = await Server.Services.GetRequiredService<Invoicer>().IssueAsync(OrgA, september, default);
            Assert.True(issued.Row is not null, $"the September invoice was not issued: {issued.Outcome}");
            IdsOfA["invoices"] = issued.Row!.Id;
        }

        public async Task DisposeAsync() => await Server.DisposeAsync();

        public string IdFor(Route route) => IdsOfA[route.Pattern.Split('/')[2]];
    }

    [Fact]
    public void Every_v1_endpoint_declares_the_permission_it_needs()
    {
        var routes = Route.All(world.Server);

        Assert.NotEmpty(routes);
        Assert.All(routes, r => Assert.True(Enum.IsDefined(r.Permission), $"{r} has no RequireAccess"));
        Assert.All(routes, r => Assert.False(string.IsNullOrEmpty(r.Name), $"{r} has no name (its audit action)"));
    }

    public static TheoryData<Role> AllRoles => new() { Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing, Role.FleetAdmin };

    [Theory]
    [MemberData(nameof(AllRoles))]
    public async Task Each_role_gets_exactly_what_the_matrix_grants(Role role)
    {
        using var client = world.Server.Client(world.Keys[role]);
        var wrong = new List<string>();
        foreach (var route in Route.All(world.Server))
        {
            // Ids that do not exist: an allowed caller gets a 4xx from the handler, never 401 or 403.
            using var response = await client.SendAsync(route.Request("zz_missing"));
            var allowed = PermissionMatrix.Allows(new HashSet<Role> { role }, route.Permission);
            var status = (int)response.StatusCode;
            if (allowed ? status is 401 or 403 or >= 500 : status != 403)
                wrong.Add($"{route}: {status} ({(allowed ? "allowed" : "denied")} by the matrix) {await response.Content.ReadAsStringAsync()}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public async Task A_foreign_orgs_owner_sees_nothing_of_this_org_and_changes_nothing()
    {
        using var foreign = world.Server.Client(world.OwnerB);
        using var owner = world.Server.Client(world.OwnerA);
        var before = await SnapshotAsync(owner);
        var secrets = world.IdsOfA.Where(kv => kv.Key != "fleet").Select(kv => kv.Value).Append("secret-project").Append("ceo@acme.example").ToList();
        var leaks = new List<string>();

        foreach (var route in Route.All(world.Server))
        {
            var hasId = route.Pattern.Contains("{id}", StringComparison.Ordinal);
            var id = hasId ? world.IdFor(route) : "";
            using var response = await foreign.SendAsync(route.Request(id));
            var body = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            // The error may repeat the id the caller sent; anything else of this org's is a leak.
            if (secrets.FirstOrDefault(s => s != id && body.Contains(s, StringComparison.Ordinal)) is { } leaked)
                leaks.Add($"{route}: body names {leaked}");
            // Another org's object answers exactly like a missing one; fleet nodes are the operator's.
            if (hasId && route.Permission is not (Permission.FleetRead or Permission.FleetManage) && status != 404)
                leaks.Add($"{route}: {status}, expected 404: {body}");
            if (status >= 500)
                leaks.Add($"{route}: {status}");
        }

        Assert.True(leaks.Count == 0, string.Join("\n", leaks));
        Assert.Equal(before, await SnapshotAsync(owner));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_everywhere()
    {
        using var revoked = world.Server.Client(world.RevokedKey);
        foreach (var route in Route.All(world.Server))
        {
            using var response = await revoked.SendAsync(route.Request("zz_missing"));
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{route}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task No_credentials_and_garbage_credentials_are_refused_everywhere()
    {
        using var anonymous = world.Server.Client();
        using var garbage = world.Server.Client("hr_" + new string('x', 53));
        foreach (var route in Route.All(world.Server))
        {
            using var a = await anonymous.SendAsync(route.Request("zz_missing"));
            using var g = await garbage.SendAsync(route.Request("zz_missing"));
            await HttpJson.ErrorAsync(a, 401);
            await HttpJson.ErrorAsync(g, 401);
        }
    }

    [Fact]
    public void The_documented_matrix_is_the_enforced_one()
    {
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "permissions.md"));

        Assert.Contains(MatrixTable(), doc, StringComparison.Ordinal);
    }

    /// <summary>The permission table exactly as docs/permissions.md must print it.</summary>
    internal static string MatrixTable()
    {
        Role[] roles = [Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing, Role.FleetAdmin];
        var sb = new StringBuilder();
        sb.Append("| permission |").AppendJoin("", roles.Select(r => $" {r.Code()} |")).Append('\n');
        sb.Append("| --- |").AppendJoin("", roles.Select(_ => " :-: |")).Append('\n');
        foreach (var permission in Enum.GetValues<Permission>())
        {
            sb.Append($"| {permission} |");
            foreach (var role in roles)
                sb.Append(PermissionMatrix.RolesFor(permission).Contains(role) ? " ✓ |" : "   |");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static async Task<string> SnapshotAsync(HttpClient owner)
    {
        var parts = new List<string>();
        foreach (var path in new[] { "/v1/projects", "/v1/members", "/v1/keys", $"/v1/orgs" })
        {
            var page = await owner.GetJsonAsync(path + "?limit=100");
            parts.Add(string.Join(",", page["data"]!.AsArray().Select(o => o!.ToJsonString())));
        }
        // last_used_at moves as the owner key itself is used; everything else must be unchanged.
        return System.Text.RegularExpressions.Regex.Replace(string.Join("\n", parts), "\"last_used_at\":\"[^\"]*\"", "");
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Headroom.slnx).");
    }
}
