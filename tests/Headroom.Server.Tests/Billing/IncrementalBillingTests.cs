using System.Globalization;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Operator;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.Extensions.DependencyInjection;
using static Headroom.Server.Tests.Billing.InvoiceTests;

namespace Headroom.Server.Tests.Billing;

/// <summary>
/// The usage report, the draft invoice and the operator's economics, extended by the entries appended since the last
/// answer (the ledger is append-only), are exactly the answers computed from scratch; a price change recomputes them.
/// The October of <see cref="InvoiceTests.OctoberAsync"/>: a list price change mid-month, spot prices that move, two projects.
/// A new spot point after all the spot usage counted extends them with the new point; one inside it recomputes.
/// </summary>
public sealed class IncrementalBillingTests
{
    private static readonly string[] Reports =
    [
        "/v1/usage",
        "/v1/usage?group_by=project,meter",
        "/v1/usage?group_by=day,project,meter,tier,gpu_model,region,model,api_key",
        "/v1/usage?group_by=meter&from=2026-10-10T00:00:00Z&to=2026-10-25T00:00:00Z",
    ];

    /// <summary>Step <paramref name="step"/>'s appends: GPU time of several tiers, pools and projects (over the price change, over the month's end), tokens with no rate (estimated ones too), an up-front charge.</summary>
    private static UsageEvent[] Appends(string orgId, int step)
    {
        var at = October.AddDays(12 + step).AddHours(step);
        return
        [
            UsageEvent.GpuTime($"inc_{step}_od:1", orgId, step % 2 == 0 ? "prj_a" : "prj_c", 1000 * (step + 1), Tier.OnDemand, "h100-80gb", "us-east",
                October.AddDays(14).AddHours(10 + step), October.AddDays(14).AddHours(14 + step).AddSeconds(17)),
            UsageEvent.GpuTime($"inc_{step}_spot:1", orgId, "prj_b", 500, Tier.Spot, "a100-80gb", "eu-west", October.AddDays(8 + step), October.AddDays(10 + step).AddMinutes(7)),
            UsageEvent.GpuTime($"inc_{step}_late:1", orgId, "prj_b", 1000, Tier.OnDemand, "h100-80gb", "us-east", October.AddMonths(1).AddHours(-3 - step), October.AddMonths(1).AddHours(2)),
            UsageEvent.Tokens($"inc_{step}_in", orgId, "prj_a", Meter.InputTokens, 1234 * (step + 1), "llama-3-8b", at, apiKeyId: $"key_{step % 2}"),
            UsageEvent.Tokens($"inc_{step}_out", orgId, "prj_c", Meter.OutputTokens, 777, "llama-3-8b", at.AddMinutes(1)) with { Estimated = true },
            UsageEvent.Prepaid($"inc_{step}_block", orgId, "prj_a", 12.3456789m * (step + 1), "h100-80gb", "us-east", at),
        ];
    }

    /// <summary>Every answer as the caller sees it: the reports and the draft invoice.</summary>
    private static async Task<List<string>> AnswersAsync(HttpClient tenant)
    {
        var answers = new List<string>();
        foreach (var report in Reports)
            answers.Add((await tenant.GetJsonAsync(report)).ToJsonString());
        answers.Add((await tenant.GetJsonAsync("/v1/invoices/upcoming")).ToJsonString());
        return answers;
    }

    private static async Task<List<string>> FromScratchAsync(TestServer server, HttpClient tenant)
    {
        server.Services.GetRequiredService<UsageReportCache>().Clear();
        server.Services.GetRequiredService<DraftInvoiceCache>().Clear();
        return await AnswersAsync(tenant);
    }

    private static (long Recomputed, long Extended) Counts(TestServer server)
    {
        var reports = server.Services.GetRequiredService<UsageReportCache>().Counts;
        var drafts = server.Services.GetRequiredService<DraftInvoiceCache>().Counts;
        return (reports.Recomputed + drafts.Recomputed, reports.Extended + drafts.Extended);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_report_and_a_draft_extended_by_each_append_equal_the_ones_computed_from_scratch(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        clock.Now = October.AddDays(20);
        using var tenant = server.Client(key);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        await AnswersAsync(tenant);

        var answers = new List<List<string>>();
        for (var step = 0; step < 4; step++)
        {
            // One append, then several at once, before each round of answers.
            foreach (var usage in Appends(orgId, step).Take(step == 0 ? 1 : 6))
                await writer.AppendAsync(usage, default);
            var before = Counts(server);
            var extended = await AnswersAsync(tenant);
            var again = await AnswersAsync(tenant);
            var after = Counts(server);
            var scratch = await FromScratchAsync(server, tenant);

            Assert.Equal((before.Recomputed, before.Extended + Reports.Length + 1), after);
            Assert.Equal(scratch, extended);
            Assert.Equal(extended, again);
            answers.Add(extended);
        }

        // The appends show: every round's answers differ from the last, and the last draft counts every event of October.
        Assert.All(answers.Zip(answers.Skip(1)), p => Assert.All(p.First.Zip(p.Second), a => Assert.NotEqual(a.First, a.Second)));
        var draft = JsonNode.Parse(answers[^1][^1])!;
        Assert.Equal(3 + 1 + (3 * 6), draft["events"]!["count"]!.GetValue<int>());
        Assert.Contains(draft["problems"]!.AsArray(), p => p!["event_id"]!.GetValue<string>() == "inc_3_out");
        Assert.Contains(draft["lines"]!.AsArray(), l => l!["project_id"]!.GetValue<string>() == "prj_c" && l["unit_price"]!.GetValue<string>() == "3.00");
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_new_price_sheet_version_recomputes_the_report_and_the_draft_and_splits_what_was_already_counted(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        clock.Now = October.AddDays(19);
        using var tenant = server.Client(key);
        using var admin = server.Admin();
        var writer = server.Services.GetRequiredService<UsageWriter>();
        // A day of one H100 from Oct 20 12:00, counted at 3.00 while that is the last version.
        var day = October.AddDays(19).AddHours(12);
        await writer.AppendAsync(UsageEvent.GpuTime("job_day:1", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "us-east", day, day.AddDays(1)), default);
        var counted = JsonNode.Parse((await AnswersAsync(tenant))[^1])!;

        // From Oct 21 00:00, 4.00: the day already counted is now half at 3.00 and half at 4.00.
        await admin.PostJsonAsync("/v1/prices", Draft(October.AddDays(20), "4.00"));
        await writer.AppendAsync(UsageEvent.GpuTime("job_next:1", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "us-east", day.AddDays(1), day.AddDays(1).AddHours(1)), default);
        var before = Counts(server);
        var repriced = await AnswersAsync(tenant);
        var after = Counts(server);
        var scratch = await FromScratchAsync(server, tenant);

        Assert.Equal((before.Recomputed + Reports.Length + 1, before.Extended), after);
        Assert.Equal(scratch, repriced);
        static long Quantity(JsonNode draft, string price) => draft["lines"]!.AsArray()
            .Where(l => l!["project_id"]!.GetValue<string>() == "prj_a" && l["tier"]!.GetValue<string>() == "on-demand" && l["unit_price"]!.GetValue<string>() == price)
            .Sum(l => l!["quantity"]!.GetValue<long>());
        var draft = JsonNode.Parse(repriced[^1])!;
        Assert.Equal(0L, Quantity(counted, "4.00"));
        Assert.Equal(Quantity(counted, "3.00") - (12 * 3_600_000L), Quantity(draft, "3.00"));
        Assert.Equal(13 * 3_600_000L, Quantity(draft, "4.00"));
    }

    private static readonly SpotPool EuA100 = new("eu-west", "a100-80gb");

    /// <summary>A spot point of eu-west a100-80gb as the spot pricer stores it, at <paramref name="time"/>.</summary>
    private static async Task PublishSpotAsync(TestServer server, DateTimeOffset time, decimal perGpuHour)
    {
        await using var db = server.Database.Open();
        db.SpotPricePoints.Add(SpotPoints.ToRow(new SpotPricePoint(time, EuA100, perGpuHour, 2000, 4000, 2)));
        await db.SaveChangesAsync();
    }

    /// <summary>The milli-GPU-seconds of the draft's spot lines at <paramref name="price"/>.</summary>
    private static long SpotQuantity(string draft, decimal price) => JsonNode.Parse(draft)!["lines"]!.AsArray()
        .Where(l => l!["tier"]?.GetValue<string>() == "spot" && decimal.Parse(l["unit_price"]!.GetValue<string>(), CultureInfo.InvariantCulture) == price)
        .Sum(l => l!["quantity"]!.GetValue<long>());

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_spot_point_after_all_the_spot_usage_counted_extends_the_report_and_the_draft_and_prices_the_new_usage_with_it(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        clock.Now = October.AddDays(20);
        using var tenant = server.Client(key);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        // Spot usage to Oct 12 12:00 (at 3.00 from Oct 9), and GPU time running into November, counted.
        await writer.AppendAsync(UsageEvent.GpuTime("spot_1:1", orgId, "prj_b", 1000, Tier.Spot, "a100-80gb", "eu-west",
            October.AddDays(9).AddHours(2), October.AddDays(11).AddHours(12)), default);
        var counted = await AnswersAsync(tenant);

        // A move on Oct 15 to 2.00: it prices only usage from then on, so what was counted stands as it is.
        await PublishSpotAsync(server, October.AddDays(14), 2.00m);
        var before = Counts(server);
        Assert.Equal(counted, await AnswersAsync(tenant));
        Assert.Equal(before, Counts(server));

        // Then spot usage across the move (a day at 3.00, a day at 2.00) and more of the other kinds.
        await writer.AppendAsync(UsageEvent.GpuTime("spot_2:1", orgId, "prj_b", 1000, Tier.Spot, "a100-80gb", "eu-west",
            October.AddDays(13), October.AddDays(15)), default);
        foreach (var usage in Appends(orgId, 1))
            await writer.AppendAsync(usage, default);
        var extended = await AnswersAsync(tenant);
        var after = Counts(server);
        var scratch = await FromScratchAsync(server, tenant);

        Assert.Equal((before.Recomputed, before.Extended + Reports.Length + 1), after);
        Assert.Equal(scratch, extended);
        Assert.Equal(0L, SpotQuantity(counted[^1], 2.00m));
        Assert.Equal(24 * 3_600_000L, SpotQuantity(extended[^1], 2.00m));
        Assert.Equal(SpotQuantity(counted[^1], 3.00m) + (24 * 3_600_000L) + (2 * 24 * 60 * 500 * 60L) + (7 * 60 * 500L), SpotQuantity(extended[^1], 3.00m));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_spot_point_inside_spot_usage_already_counted_recomputes_the_report_and_the_draft_and_splits_it(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, key) = await OctoberAsync(server, clock);
        clock.Now = October.AddDays(20);
        using var tenant = server.Client(key);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        await writer.AppendAsync(UsageEvent.GpuTime("spot_1:1", orgId, "prj_b", 1000, Tier.Spot, "a100-80gb", "eu-west",
            October.AddDays(9).AddHours(2), October.AddDays(11).AddHours(12)), default);
        var counted = await AnswersAsync(tenant);

        // A move at Oct 11 12:00, a day before that usage ends: the day already counted at 3.00 is now at 2.00.
        await PublishSpotAsync(server, October.AddDays(10).AddHours(12), 2.00m);
        await writer.AppendAsync(UsageEvent.GpuTime("od_1:1", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "us-east",
            October.AddDays(15), October.AddDays(15).AddHours(3)), default);
        var before = Counts(server);
        var repriced = await AnswersAsync(tenant);
        var after = Counts(server);
        var scratch = await FromScratchAsync(server, tenant);

        Assert.Equal((before.Recomputed + Reports.Length + 1, before.Extended), after);
        Assert.Equal(scratch, repriced);
        Assert.Equal(0L, SpotQuantity(counted[^1], 2.00m));
        Assert.Equal(24 * 3_600_000L, SpotQuantity(repriced[^1], 2.00m));
        Assert.Equal(SpotQuantity(counted[^1], 3.00m) - (24 * 3_600_000L), SpotQuantity(repriced[^1], 3.00m));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Operator_economics_extended_by_appends_in_several_orgs_equal_the_economics_computed_from_scratch(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        await using var server = await TestServer.StartAsync(provider, Quiet, FleetTests.TwoRegionFleet, clock);
        var (orgId, _) = await OctoberAsync(server, clock);
        var (otherOrg, _) = await server.CreateTenantAsync("globex");
        clock.Now = October.AddDays(20);
        using var admin = server.Admin();
        var writer = server.Services.GetRequiredService<UsageWriter>();
        var economics = server.Services.GetRequiredService<EconomicsCache>();
        string[] windows = ["/v1/operator/economics?step=day&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z", "/v1/operator/economics?step=hour&from=2026-10-14T00:00:00Z&to=2026-10-16T00:00:00Z"];
        async Task<List<string>> AskAsync()
        {
            var answers = new List<string>();
            foreach (var window in windows)
                answers.Add((await admin.GetJsonAsync(window)).ToJsonString());
            return answers;
        }
        await AskAsync();

        var previous = new List<string>();
        for (var step = 0; step < 3; step++)
        {
            foreach (var usage in Appends(orgId, step).Concat(Appends(otherOrg, step).Take(step + 1)))
                await writer.AppendAsync(usage, default);
            await writer.AppendAsync(UsageEvent.GpuTime($"int_{step}:1", Identity.Bootstrap.InternalOrgId, "prj_ops", 2000, Tier.Internal, "h100-80gb", "us-east",
                October.AddDays(14).AddHours(step), October.AddDays(15).AddHours(step).AddSeconds(1)), default);
            var before = economics.Counts;
            var extended = await AskAsync();
            var after = economics.Counts;
            economics.Clear();
            var scratch = await AskAsync();

            Assert.Equal((before.Recomputed, before.Extended + windows.Length), after);
            Assert.Equal(scratch, extended);
            Assert.All(previous.Zip(extended), p => Assert.NotEqual(p.First, p.Second));
            previous = extended;
        }

        // A new price sheet version recomputes.
        await admin.PostJsonAsync("/v1/prices", Draft(October.AddDays(25), "4.00"));
        var counts = economics.Counts;
        var repriced = await AskAsync();
        Assert.Equal((counts.Recomputed + windows.Length, counts.Extended), economics.Counts);
        economics.Clear();
        Assert.Equal(await AskAsync(), repriced);
        Assert.NotEqual("0", JsonNode.Parse(repriced[0])!["revenue"]!.GetValue<string>());
    }
}
