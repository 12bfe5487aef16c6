using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Net.Http.Json;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Billing;

/// <summary>Publishing price sheet versions, and the tenant's usage priced, grouped and downloadable raw.</summary>
public sealed class PriceAndUsageTests
{
    /// <summary>A whole second an hour or more ahead: a new version may only take effect in the future.</summary>
    private static DateTimeOffset Ahead(int hours) =>
        DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).AddHours(hours);

    private static object Draft(DateTimeOffset effectiveFrom, string perGpuHour = "2.50", string tier = "on-demand") => new
    {
        effective_from = effectiveFrom,
        currency = "USD",
        gpu_rates = new[] { new { gpu_model = "h100-80gb", tier, region = "local", per_gpu_hour = perGpuHour } },
        token_rates = new[] { new { model = "llama-3-8b", input_per_million = "0.10", output_per_million = "0.20" } },
        batch_discount = "0.5",
    };

    private static decimal Amount(JsonNode row) => decimal.Parse(row["amount"]!.GetValue<string>(), CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task The_operator_publishes_versions_that_never_change_and_bad_drafts_are_refused_naming_the_path(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        using var admin = server.Admin();
        var (_, key) = await server.CreateTenantAsync("acme");
        using var tenant = server.Client(key);
        var first = Ahead(1);

        var empty = await tenant.GetJsonAsync("/v1/prices");
        var published = await admin.PostJsonAsync("/v1/prices", Draft(first));
        var v1 = (await tenant.GetJsonAsync("/v1/prices"))["versions"]![0]!.ToJsonString();
        var negative = await HttpJson.ErrorAsync(await admin.PostAsJsonAsync("/v1/prices", Draft(first.AddHours(1), perGpuHour: "-1")), 400);
        var badTier = await HttpJson.ErrorAsync(await admin.PostAsJsonAsync("/v1/prices", Draft(first.AddHours(1), tier: "gold")), 400);
        var notANumber = await HttpJson.ErrorAsync(await admin.PostAsJsonAsync("/v1/prices", Draft(first.AddHours(1), perGpuHour: "cheap")), 400);
        var past = await HttpJson.ErrorAsync(await admin.PostAsJsonAsync("/v1/prices", Draft(Ahead(-1))), 400);
        var notAfterLatest = await HttpJson.ErrorAsync(await admin.PostAsJsonAsync("/v1/prices", Draft(first)), 400);
        var byTenant = await tenant.PostAsJsonAsync("/v1/prices", Draft(first.AddHours(1)));
        await admin.PostJsonAsync("/v1/prices", Draft(first.AddHours(2), perGpuHour: "3.00"));
        var sheet = await tenant.GetJsonAsync("/v1/prices");

        Assert.Empty(empty["versions"]!.AsArray());
        Assert.Null(empty["in_force"]);
        Assert.Equal(1, published["versions"]![0]!["version"]!.GetValue<int>());
        Assert.Equal("gpu_rates[0].per_gpu_hour", negative["param"]!.GetValue<string>());
        Assert.Equal("gpu_rates[0].tier", badTier["param"]!.GetValue<string>());
        Assert.Equal("gpu_rates[0].per_gpu_hour", notANumber["param"]!.GetValue<string>());
        Assert.Equal("effective_from", past["param"]!.GetValue<string>());
        Assert.Equal("effective_from", notAfterLatest["param"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, byTenant.StatusCode);
        Assert.Equal([1, 2], sheet["versions"]!.AsArray().Select(v => v!["version"]!.GetValue<int>()));
        Assert.Equal(v1, sheet["versions"]![0]!.ToJsonString());
        Assert.Equal("2.50", sheet["versions"]![0]!["gpu_rates"]![0]!["per_gpu_hour"]!.GetValue<string>());
        Assert.Equal("USD", sheet["currency"]!.GetValue<string>());
        Assert.Null(sheet["in_force"]);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Usage_is_grouped_and_priced_and_without_a_price_sheet_it_is_quantities_without_amounts(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        using var admin = server.Admin();
        var (orgId, key) = await server.CreateTenantAsync("acme");
        var (otherOrg, otherKey) = await server.CreateTenantAsync("globex");
        using var tenant = server.Client(key);
        using var other = server.Client(otherKey);
        var from = Ahead(1);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        // Project a: 2 GPUs for an hour; project b: 1 GPU for 30 minutes, preempted after 20 (10 minutes of notice).
        await writer.AppendAsync(UsageEvent.GpuTime("job_a:1", orgId, "prj_a", 2000, Tier.OnDemand, "h100-80gb", "local", from, from.AddHours(1)), default);
        await writer.AppendAsync(UsageEvent.GpuTime("job_b:1", orgId, "prj_b", 1000, Tier.OnDemand, "h100-80gb", "local", from.AddHours(1), from.AddMinutes(90), from.AddMinutes(80)), default);
        await writer.AppendAsync(UsageEvent.GpuTime("job_x:1", otherOrg, "prj_x", 1000, Tier.OnDemand, "h100-80gb", "local", from, from.AddHours(1)), default);
        var range = $"from={Uri.EscapeDataString(from.AddDays(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture))}" +
            $"&to={Uri.EscapeDataString(from.AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture))}";

        var unpriced = await tenant.GetJsonAsync($"/v1/usage?group_by=project,meter&{range}");
        await admin.PostJsonAsync("/v1/prices", Draft(from));
        var priced = await tenant.GetJsonAsync($"/v1/usage?group_by=project,meter&{range}");
        var total = await tenant.GetJsonAsync($"/v1/usage?{range}");
        var byDay = await tenant.GetJsonAsync($"/v1/usage?group_by=day,meter&{range}");
        var badGroup = await HttpJson.ErrorAsync(await tenant.GetAsync($"/v1/usage?group_by=colour&{range}"), 400);
        var backwards = await HttpJson.ErrorAsync(await tenant.GetAsync($"/v1/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z"), 400);

        Assert.False(unpriced["priced"]!.GetValue<bool>());
        Assert.Contains("No price sheet", unpriced["note"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(unpriced["data"]!.AsArray());
        Assert.Equal([("prj_a", 7_200_000L), ("prj_b", 1_200_000L)],
            unpriced["unpriced"]!.AsArray().Select(r => (r!["project_id"]!.GetValue<string>(), r["quantity"]!.GetValue<long>())));
        Assert.All(unpriced["unpriced"]!.AsArray(), r => Assert.Null(r!["amount"]));

        Assert.True(priced["priced"]!.GetValue<bool>());
        Assert.Empty(priced["unpriced"]!.AsArray());
        var rows = priced["data"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(["prj_a", "prj_b"], rows.Select(r => r["project_id"]!.GetValue<string>()));
        Assert.Equal(["gpu_seconds", "gpu_seconds"], rows.Select(r => r["meter"]!.GetValue<string>()));
        Assert.Equal([7_200_000L, 1_200_000L], rows.Select(r => r["quantity"]!.GetValue<long>()));
        Assert.Equal([5.00m, 0.8333333333m], rows.Select(Amount));
        Assert.Equal("USD", priced["currency"]!.GetValue<string>());
        var all = Assert.Single(total["data"]!.AsArray());
        Assert.Equal(5.8333333333m, Amount(all!));
        Assert.Null(all!["quantity"]);
        Assert.Equal(8_400_000L, byDay["data"]!.AsArray().Sum(r => r!["quantity"]!.GetValue<long>()));
        Assert.Equal("group_by", badGroup["param"]!.GetValue<string>());
        Assert.Equal("to", backwards["param"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_report_asked_again_is_the_same_until_the_ledger_grows_and_then_counts_the_new_usage(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (orgId, key) = await server.CreateTenantAsync("acme");
        using var tenant = server.Client(key);
        var from = Ahead(1);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        await writer.AppendAsync(UsageEvent.GpuTime("job_a:1", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "local", from, from.AddHours(1)), default);
        var range = $"group_by=project,meter&from={Uri.EscapeDataString(from.AddDays(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture))}" +
            $"&to={Uri.EscapeDataString(from.AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture))}";
        static long Quantity(System.Text.Json.Nodes.JsonNode report) => report["unpriced"]!.AsArray().Sum(r => r!["quantity"]!.GetValue<long>());

        var first = await tenant.GetJsonAsync($"/v1/usage?{range}");
        var again = await tenant.GetJsonAsync($"/v1/usage?{range}");
        await writer.AppendAsync(UsageEvent.GpuTime("job_b:1", orgId, "prj_b", 1000, Tier.OnDemand, "h100-80gb", "local", from, from.AddMinutes(30)), default);
        var grown = await tenant.GetJsonAsync($"/v1/usage?{range}");

        Assert.Equal(3_600_000L, Quantity(first));
        Assert.Equal(first.ToJsonString(), again.ToJsonString());
        Assert.Equal(5_400_000L, Quantity(grown));
        Assert.Equal(["prj_a", "prj_b"], grown["unpriced"]!.AsArray().Select(r => r!["project_id"]!.GetValue<string>()));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_tenant_downloads_its_own_raw_ledger_page_by_page_and_its_chain_verifies(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var (orgId, key) = await server.CreateTenantAsync("acme");
        var (otherOrg, otherKey) = await server.CreateTenantAsync("globex");
        using var tenant = server.Client(key);
        using var other = server.Client(otherKey);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        var t0 = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        var project = (await tenant.PostJsonAsync("/v1/projects", new { name = "scoped" }))["id"]!.GetValue<string>();
        for (var i = 0; i < 5; i++)
            await writer.AppendAsync(UsageEvent.GpuTime($"job_{i}:1", orgId, "prj_a", 1000, Tier.Spot, "h100-80gb", "local", t0.AddHours(i), t0.AddHours(i + 1), t0.AddHours(i).AddMinutes(30)), default);
        await writer.AppendAsync(UsageEvent.GpuTime("job_s:1", orgId, project, 1000, Tier.OnDemand, "h100-80gb", "local", t0, t0.AddHours(1)), default);
        using var scoped = server.Client(await TestServer.CreateKeyAsync(tenant, null, ["billing"], project));

        var pages = new List<JsonObject>();
        string? after = null;
        do
        {
            pages.Add(await tenant.GetJsonAsync($"/v1/usage/events?limit=2{(after is null ? "" : "&after=" + after)}"));
            after = pages[^1]["has_more"]!.GetValue<bool>() ? pages[^1]["last_id"]!.GetValue<string>() : null;
        }
        while (after is not null);
        var entries = pages.SelectMany(p => p["data"]!.AsArray()).Select(e => new LedgerEntry(
            e!["seq"]!.GetValue<long>(),
            new UsageEvent(e["id"]!.GetValue<string>(), e["org_id"]!.GetValue<string>(), e["project_id"]!.GetValue<string>(), Meter.GpuSeconds,
                e["quantity"]!.GetValue<long>(), new UsageDimensions(e["tier"]!.GetValue<string>() == "spot" ? Tier.Spot : Tier.OnDemand, e["gpu_model"]!.GetValue<string>(), e["region"]!.GetValue<string>()),
                e["start"]!.GetValue<DateTimeOffset>(), e["end"]!.GetValue<DateTimeOffset>(), e["not_charged_from"]?.GetValue<DateTimeOffset>()),
            e["recorded_at"]!.GetValue<DateTimeOffset>(), e["prev_hash"]!.GetValue<string>(), e["hash"]!.GetValue<string>())).ToList();
        var foreign = await other.GetJsonAsync("/v1/usage/events");
        var ownProject = await scoped.GetJsonAsync("/v1/usage/events");
        var ownUsage = await scoped.GetJsonAsync("/v1/usage?group_by=project&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z");

        Assert.Equal(3, pages.Count);
        Assert.Equal([1L, 2, 3, 4, 5, 6], entries.Select(e => e.Seq));
        Assert.Empty(UsageLedger.Verify(orgId, entries));
        Assert.Equal(["job_s:1"], ownProject["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
        Assert.Equal([project], ownUsage["unpriced"]!.AsArray().Select(r => r!["project_id"]!.GetValue<string>()));
        Assert.Empty(foreign["data"]!.AsArray());
        Assert.NotEqual(orgId, otherOrg);
    }
}
