using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Hosting;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Store.Jobs;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Billing;

/// <summary>
/// October 2026 on a hand-set clock: prices change mid-month, spot prices move with utilization, and the invoice issued
/// at the close splits every event exactly, is stored once and reads the same as JSON, CSV and HTML.
/// </summary>
public sealed class InvoiceTests
{
    internal static readonly DateTimeOffset October = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Loops wait an hour, so the test drives every pass itself.</summary>
    internal static HeadroomSettings Quiet(HeadroomSettings s) => s with { SchedulerPeriod = TimeSpan.FromHours(1) };

    internal static object Draft(DateTimeOffset effectiveFrom, string onDemand) => new
    {
        effective_from = effectiveFrom,
        currency = "USD",
        gpu_rates = new[]
        {
            new { gpu_model = "h100-80gb", tier = "on-demand", region = "us-east", per_gpu_hour = onDemand },
            new { gpu_model = "a100-80gb", tier = "spot", region = "eu-west", per_gpu_hour = "2.00" },
        },
        token_rates = Array.Empty<object>(),
    };

    /// <summary>
    /// Prices: on-demand H100 2.50 from Oct 1, 3.00 from Oct 15 12:00; spot A100 base 2.00, published 1.00 (idle) on
    /// Oct 1 and 3.00 (full) on Oct 10. Usage of org acme: 2 H100s over the price change, 1 A100 spot over the spot
    /// move, 1 H100 over the month's end. Returns the org id and an owner key.
    /// </summary>
    internal static async Task<(string OrgId, string Key)> OctoberAsync(TestServer server, ManualClock clock)
    {
        using var admin = server.Admin();
        var (orgId, key) = await server.CreateTenantAsync("acme");
        await admin.PostJsonAsync("/v1/prices", Draft(October, "2.50"));
        await admin.PostJsonAsync("/v1/prices", Draft(October.AddDays(14).AddHours(12), "3.00"));

        var pricer = server.Services.GetRequiredService<SpotPricer>();
        clock.Now = October;
        Assert.Equal(1, await pricer.PublishAsync(default));
        await using (var db = server.Database.Open())
        {
            db.Jobs.Add(new JobRow
            {
                Id = "job_fill", OrgId = orgId, ProjectId = "prj_fill", Name = "fill", Tier = "spot", State = "running", Spec = "{}",
                Placement = """[{"node":"euw1-a100-01","gpus":[0,1,2,3],"gpu_milli":1000}]""", Attempt = 1, CreatedAt = October, UpdatedAt = October,
            });
            await db.SaveChangesAsync();
        }
        clock.Now = October.AddDays(9);
        Assert.Equal(1, await pricer.PublishAsync(default));
        clock.Now = October.AddDays(9).AddSeconds(5);
        Assert.Equal(0, await pricer.PublishAsync(default));
        await using (var db = server.Database.Open())
            await db.Jobs.Where(j => j.Id == "job_fill").ExecuteUpdateAsync(s => s.SetProperty(j => j.State, "succeeded"));

        var writer = server.Services.GetRequiredService<UsageWriter>();
        var change = October.AddDays(14).AddHours(12);
        await writer.AppendAsync(UsageEvent.GpuTime("job_a:1", orgId, "prj_a", 2000, Tier.OnDemand, "h100-80gb", "us-east", change.AddHours(-1), change.AddHours(1)), default);
        await writer.AppendAsync(UsageEvent.GpuTime("job_s:1", orgId, "prj_a", 1000, Tier.Spot, "a100-80gb", "eu-west", October.AddDays(9).AddHours(-1), October.AddDays(9).AddHours(1)), default);
        var november = October.AddMonths(1);
        await writer.AppendAsync(UsageEvent.GpuTime("job_b:1", orgId, "prj_b", 1000, Tier.OnDemand, "h100-80gb", "us-east", november.AddHours(-1), november.AddHours(1)), default);
        return (orgId, key);
    }

    private static decimal D(JsonNode? node) => decimal.Parse(node!.GetValue<string>(), CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Spot_prices_are_published_when_they_move_and_listed_by_pool_page_by_page(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (_, key) = await OctoberAsync(server, clock);
        using var tenant = server.Client(key);

        var first = await tenant.GetJsonAsync("/v1/prices/history?region=eu-west&gpu_model=a100-80gb&limit=1");
        var second = await tenant.GetJsonAsync($"/v1/prices/history?region=eu-west&limit=1&after={first["last_id"]!.GetValue<string>()}");
        var none = await tenant.GetJsonAsync("/v1/prices/history?region=us-east");
        var windowed = await tenant.GetJsonAsync("/v1/prices/history?from=2026-10-05T00:00:00Z&to=2026-10-11T00:00:00Z");
        var badCursor = await HttpJson.ErrorAsync(await tenant.GetAsync("/v1/prices/history?after=yesterday"), 400);

        Assert.True(first["has_more"]!.GetValue<bool>());
        var p1 = first["data"]![0]!;
        Assert.Equal(("1", 0L, 4000L, 1), (p1["per_gpu_hour"]!.GetValue<string>(), p1["used_milli_gpus"]!.GetValue<long>(), p1["total_milli_gpus"]!.GetValue<long>(), p1["sheet_version"]!.GetValue<int>()));
        Assert.Equal(October, p1["time"]!.GetValue<DateTimeOffset>());
        var p2 = second["data"]![0]!;
        Assert.Equal(3.00m, D(p2["per_gpu_hour"]));
        Assert.Equal(4000L, p2["used_milli_gpus"]!.GetValue<long>());
        Assert.False(second["has_more"]!.GetValue<bool>());
        Assert.Empty(none["data"]!.AsArray());
        Assert.Equal(October.AddDays(9), Assert.Single(windowed["data"]!.AsArray())!["time"]!.GetValue<DateTimeOffset>());
        Assert.Equal("after", badCursor["param"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_closed_month_is_invoiced_once_with_every_price_change_split_exactly(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        var (_, otherKey) = await server.CreateTenantAsync("globex");
        using var tenant = server.Client(key);
        using var other = server.Client(otherKey);
        var issuer = server.Services.GetRequiredService<InvoiceIssuer>();
        var invoicer = server.Services.GetRequiredService<Invoicer>();

        clock.Now = October.AddDays(20);
        var open = await invoicer.IssueAsync(orgId, Core.Pricing.BillingPeriod.MonthOf(October), default);
        // A job that ran in October and still holds GPUs holds the invoice back until it is metered.
        await using (var db = server.Database.Open())
        {
            db.Jobs.Add(new JobRow
            {
                Id = "job_long", OrgId = orgId, ProjectId = "prj_a", Name = "long", Tier = "on-demand", State = "running", Spec = "{}",
                Attempt = 1, CreatedAt = October, UpdatedAt = October, StartedAt = October.AddDays(30),
            });
            await db.SaveChangesAsync();
        }
        clock.Now = October.AddMonths(1).AddMinutes(5);
        var heldBack = await issuer.IssueDueAsync(default);
        await using (var db = server.Database.Open())
            await db.Jobs.Where(j => j.Id == "job_long").ExecuteUpdateAsync(s => s.SetProperty(j => j.State, "succeeded"));
        var issued = await issuer.IssueDueAsync(default);
        var again = await issuer.IssueDueAsync(default);

        var list = await tenant.GetJsonAsync("/v1/invoices");
        var id = list["data"]![0]!["id"]!.GetValue<string>();
        var invoice = await tenant.GetJsonAsync($"/v1/invoices/{id}");
        var draft = await tenant.GetJsonAsync("/v1/invoices/upcoming");
        var foreign = await other.GetAsync($"/v1/invoices/{id}");
        var foreignList = await other.GetJsonAsync("/v1/invoices");
        var badFormat = await HttpJson.ErrorAsync(await tenant.GetAsync($"/v1/invoices/{id}?format=pdf"), 400);
        using var scoped = server.Client(await TestServer.CreateKeyAsync(tenant, null, ["billing"], (await tenant.PostJsonAsync("/v1/projects", new { name = "pp-one" }))["id"]!.GetValue<string>()));
        var scopedList = await scoped.GetAsync("/v1/invoices");

        Assert.Equal(IssueOutcome.PeriodOpen, open.Outcome);
        Assert.Equal((0, 1, 0), (heldBack, issued, again));
        Assert.Equal("issued", invoice["status"]!.GetValue<string>());
        Assert.Equal(October, invoice["period_start"]!.GetValue<DateTimeOffset>());
        var lines = invoice["lines"]!.AsArray().Select(l => (
            l!["project_id"]!.GetValue<string>(), l["tier"]!.GetValue<string>(), D(l["unit_price"]), l["quantity"]!.GetValue<long>(), D(l["amount"]))).ToList();
        Assert.Equal(
            [("prj_a", "spot", 1.00m, 3_600_000L, 1.00m), ("prj_a", "spot", 3.00m, 3_600_000L, 3.00m),
             ("prj_a", "on-demand", 2.50m, 7_200_000L, 5.00m), ("prj_a", "on-demand", 3.00m, 7_200_000L, 6.00m),
             ("prj_b", "on-demand", 3.00m, 3_600_000L, 3.00m)],
            lines);
        Assert.Equal((18.00m, 18.00m, 0m), (D(invoice["subtotal"]), D(invoice["total"]), D(invoice["rounding"])));
        Assert.Equal(3, invoice["events"]!["count"]!.GetValue<int>());
        Assert.Equal(64, invoice["events"]!["hash"]!.GetValue<string>().Length);
        Assert.Equal("18.00", list["data"]![0]!["total"]!.GetValue<string>());
        Assert.Single(list["data"]!.AsArray());

        Assert.Equal("draft", draft["status"]!.GetValue<string>());
        Assert.Null(draft["id"]);
        Assert.Equal(3.00m, D(draft["total"]));
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Empty(foreignList["data"]!.AsArray());
        Assert.Equal("format", badFormat["param"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, scopedList.StatusCode);

        // The period's raw events, as one download.
        using var jsonl = await tenant.GetAsync("/v1/usage/events?format=jsonl&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z");
        var downloaded = (await jsonl.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        var afterOctober = await tenant.GetJsonAsync("/v1/usage/events?from=2026-11-01T00:00:30Z");
        Assert.Equal("application/jsonl", jsonl.Content.Headers.ContentType!.MediaType);
        Assert.Equal(["job_a:1", "job_s:1", "job_b:1"], downloaded.Select(e => e["id"]!.GetValue<string>()));
        Assert.Equal(invoice["events"]!["hash"]!.GetValue<string>(), Invoicer.EventsHash(downloaded.Select(e => e["hash"]!.GetValue<string>())));
        Assert.Equal("job_b:1", Assert.Single(afterOctober["data"]!.AsArray())!["id"]!.GetValue<string>());

        var (count, findings) = await VerifyAsync(server, orgId);
        Assert.Equal(1, count);
        Assert.Empty(findings);
    }

    [Fact]
    public async Task The_csv_and_html_views_carry_the_same_figures_and_escape_every_value()
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(StoreProvider.Sqlite, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        clock.Now = October.AddMonths(1).AddMinutes(5);
        await server.Services.GetRequiredService<InvoiceIssuer>().IssueDueAsync(default);
        using var tenant = server.Client(key);
        var id = (await tenant.GetJsonAsync("/v1/invoices"))["data"]![0]!["id"]!.GetValue<string>();

        using var csvResponse = await tenant.GetAsync($"/v1/invoices/{id}?format=csv");
        var csv = await csvResponse.Content.ReadAsStringAsync();
        using var htmlResponse = await tenant.GetAsync($"/v1/invoices/{id}?format=html");
        var html = await htmlResponse.Content.ReadAsStringAsync();
        var hostile = new InvoiceView("inv_x", orgId, "issued", October, October.AddMonths(1), "USD",
            [new InvoiceLineView("<script>alert(1)</script>", "gpu_seconds", "spot", "=cmd|'/c calc'!A1", "a,\"b\"", null, false, "1", "gpu_hour", 1, "0.0000002778")],
            [], "0.0000002778", "0.0000000000", "-0.0000002778", "0.00", [], new InvoiceEventsView(1, 1, "", ""), October.AddMonths(1));

        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType!.MediaType);
        Assert.Equal($"{id}.csv", csvResponse.Content.Headers.ContentDisposition!.FileName!.Trim('"'));
        Assert.Contains("default-src 'none'", htmlResponse.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("project_id,meter,tier,gpu_model,region,model,batch,unit_price,unit,quantity,amount", rows[0]);
        Assert.Equal("prj_a,gpu_seconds,on-demand,h100-80gb,us-east,,false,2.50,gpu_hour,7200000,5.0000000000", rows[3]);
        Assert.Equal("prj_a,gpu_seconds,spot,a100-80gb,eu-west,,false,1,gpu_hour,3600000,1.0000000000", rows[1]);
        Assert.Equal(18.00m, rows[1..6].Sum(r => decimal.Parse(r.Split(',')[^1], CultureInfo.InvariantCulture)));
        Assert.Equal("total,,,,,,,,,,18.00", rows[^1]);
        Assert.Equal("text/html", htmlResponse.Content.Headers.ContentType!.MediaType);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("18.00", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", InvoiceRendering.Html(hostile), StringComparison.Ordinal);
        Assert.DoesNotContain("src=", InvoiceRendering.Html(hostile), StringComparison.Ordinal);
        var hostileCsv = InvoiceRendering.Csv(hostile).Split("\r\n")[1];
        Assert.Equal("<script>alert(1)</script>,gpu_seconds,spot,'=cmd|'/c calc'!A1,\"a,\"\"b\"\"\",,false,1,gpu_hour,1,0.0000002778", hostileCsv);
        Assert.Contains("rounding,,,,,,,,,,-0.0000002778", InvoiceRendering.Csv(hostile), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Verify_reports_an_edited_deleted_or_inserted_event_and_an_edited_invoice_line(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, _) = await OctoberAsync(server, clock);
        clock.Now = October.AddMonths(1).AddMinutes(5);
        await server.Services.GetRequiredService<InvoiceIssuer>().IssueDueAsync(default);

        var clean = await VerifyAsync(server, orgId);
        await using (var db = server.Database.Open())
            await db.UsageEntries.Where(u => u.Id == "job_a:1").ExecuteUpdateAsync(s => s.SetProperty(u => u.Quantity, 1000));
        var edited = await VerifyAsync(server, orgId);
        await using (var db = server.Database.Open())
        {
            await db.UsageEntries.Where(u => u.Id == "job_a:1").ExecuteUpdateAsync(s => s.SetProperty(u => u.Quantity, 2000));
            await db.UsageEntries.Where(u => u.Id == "job_s:1").ExecuteDeleteAsync();
        }
        var deleted = await VerifyAsync(server, orgId);
        await using (var db = server.Database.Open())
        {
            var copy = await db.UsageEntries.AsNoTracking().SingleAsync(u => u.Id == "job_b:1");
            // Slipped in before the first entry, inside what the invoice covers.
            copy.Id = "job_c:1";
            copy.Seq = 0;
            db.UsageEntries.Add(copy);
            await db.SaveChangesAsync();
        }
        var inserted = await VerifyAsync(server, orgId);
        await using (var db = server.Database.Open())
        {
            await db.UsageEntries.Where(u => u.Id == "job_c:1").ExecuteDeleteAsync();
            var row = await db.Invoices.SingleAsync();
            row.Document = row.Document.Replace("\"amount\":\"6.0000000000\"", "\"amount\":\"5.0000000000\"", StringComparison.Ordinal);
            await db.SaveChangesAsync();
        }
        var lineEdited = await VerifyAsync(server, orgId);

        Assert.Empty(clean.Findings);
        Assert.Equal(["AmountDiffers", "QuantityDiffers", "SubtotalDiffers", "TotalDiffers"], Kinds(edited));
        Assert.Contains("EventsChanged", Kinds(deleted));
        Assert.Contains("UnexpectedLine", Kinds(deleted));
        Assert.Contains("EventsChanged", Kinds(inserted));
        Assert.Contains("QuantityDiffers", Kinds(inserted));
        Assert.Contains("AmountDiffers", Kinds(lineEdited));
        Assert.Contains("SubtotalDiffers", Kinds(lineEdited));
        Assert.Contains(lineEdited.Findings, f => f.Line is { } line && line.Contains("3.00/gpu_hour", StringComparison.Ordinal) && f.Kind == "AmountDiffers");
    }

    private static IReadOnlyList<string> Kinds((int, IReadOnlyList<InvoiceFinding> Findings) result) =>
        [.. result.Findings.Select(f => f.Kind).Distinct().Order(StringComparer.Ordinal)];

    internal static async Task<(int Count, IReadOnlyList<InvoiceFinding> Findings)> VerifyAsync(TestServer server, string orgId)
    {
        await using var db = server.Database.Open();
        return await InvoiceCheck.VerifyAsync(db, orgId, default);
    }
}
