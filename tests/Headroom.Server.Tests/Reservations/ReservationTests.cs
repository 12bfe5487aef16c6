using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Reservations;

/// <summary>
/// Quotes priced from the sheet, purchases paid up front and never overbooked (also when bought at once), the refund
/// rule, capacity ahead, and reserved jobs held to their block.
/// </summary>
public sealed class ReservationTests
{
    private static readonly Pool Local = new("local", "h100-80gb");

    /// <summary>
    /// The first whole hour at least 10 s after <paramref name="now"/>: a price sheet published "now" takes effect 2 s
    /// later (<see cref="PublishAsync"/>), and a block starting on the hour just before that has no price (CI ran one at
    /// 08:59:59).
    /// </summary>
    private static DateTimeOffset NextHour(DateTimeOffset now)
    {
        var margin = now.AddSeconds(10);
        return new DateTimeOffset(margin.UtcTicks - (margin.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero).AddHours(1);
    }

    private static Task<TestServer> StartAsync(StoreProvider provider, int gpus, int guarantee = 0, TimeProvider? time = null) =>
        TestServer.StartAsync(provider, fleetYaml: TestFleets.LocalBox(gpus), time: time, configure: s => s with
        {
            SchedulerPeriod = TimeSpan.FromMilliseconds(200),
            InternalGuarantees = guarantee > 0 ? ImmutableDictionary<Pool, int>.Empty.Add(Local, guarantee) : ImmutableDictionary<Pool, int>.Empty,
        });

    /// <summary>Publishes a reserved (and on-demand) rate in force from the next whole second, and optionally a second rate later.</summary>
    private static async Task PublishAsync(HttpClient admin, DateTimeOffset now, string reserved = "2.00", (DateTimeOffset At, string Rate)? change = null)
    {
        var first = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() + 2);
        await admin.PostJsonAsync("/v1/prices", Sheet(first, reserved));
        if (change is { } c)
            await admin.PostJsonAsync("/v1/prices", Sheet(c.At, c.Rate));
    }

    private static object Sheet(DateTimeOffset from, string reserved) => new
    {
        effective_from = from, currency = "USD", token_rates = Array.Empty<object>(),
        gpu_rates = new[]
        {
            new { gpu_model = "h100-80gb", tier = "reserved", region = "local", per_gpu_hour = reserved },
            new { gpu_model = "h100-80gb", tier = "on-demand", region = "local", per_gpu_hour = "4.00" },
        },
    };

    private static object Quote(DateTimeOffset start, int gpus = 1, long hours = 1, string tier = "reserved") =>
        new { gpu_model = "h100-80gb", region = "local", gpu_count = gpus, tier, start, duration_hours = hours };

    private static async Task<(HttpClient Owner, string Org, string Project)> TenantAsync(TestServer server, string name = "acme")
    {
        var (org, key) = await server.CreateTenantAsync(name);
        var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        return (owner, org, project);
    }

    private static async Task<JsonObject> BuyAsync(HttpClient owner, string project, DateTimeOffset start, int gpus = 1, long hours = 1)
    {
        var quote = await owner.PostJsonAsync("/v1/quotes", Quote(start, gpus, hours));
        return await owner.PostJsonAsync("/v1/reservations", new { quote_id = quote["id"]!.GetValue<string>(), project_id = project });
    }

    private static decimal Dec(JsonNode? node) => decimal.Parse(node!.GetValue<string>(), CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_quote_is_priced_from_the_sheet_exactly_per_slice_across_a_price_change(StoreProvider provider)
    {
        await using var server = await StartAsync(provider, gpus: 4);
        using var admin = server.Admin();
        var (owner, _, _) = await TenantAsync(server);
        var start = NextHour(DateTimeOffset.UtcNow);
        await PublishAsync(admin, DateTimeOffset.UtcNow, "2.00", (start.AddMinutes(30), "3.00"));

        var quote = await owner.PostJsonAsync("/v1/quotes", Quote(start, gpus: 2, hours: 2));
        var onDemand = await owner.PostJsonAsync("/v1/quotes", Quote(start, gpus: 2, hours: 2, tier: "on-demand"));
        owner.Dispose();

        // 2 GPUs × 0.5 h × 2.00 + 2 GPUs × 1.5 h × 3.00.
        Assert.Equal(11m, Dec(quote["price"]));
        Assert.Equal(["2.00", "3.00"], quote["slices"]!.AsArray().Select(s => s!["per_gpu_hour"]!.GetValue<string>()));
        Assert.Equal([2m, 9m], quote["slices"]!.AsArray().Select(s => Dec(s!["amount"])));
        Assert.True(quote["available"]!.GetValue<bool>());
        Assert.True(quote["purchasable"]!.GetValue<bool>());
        Assert.Equal(start.AddHours(2), quote["end"]!.GetValue<DateTimeOffset>());
        Assert.Equal(TimeSpan.FromMinutes(15), quote["expires_at"]!.GetValue<DateTimeOffset>() - quote["created_at"]!.GetValue<DateTimeOffset>());
        Assert.Equal((16m, false), (Dec(onDemand["price"]), onDemand["purchasable"]!.GetValue<bool>()));
    }

    public static TheoryData<string, Func<DateTimeOffset, object>, string> BadQuotes => new()
    {
        { "start in the past", h => Quote(h.AddHours(-2)), "start" },
        { "start not on the hour", h => Quote(h.AddMinutes(30)), "start" },
        { "a day not from midnight", h => Quote(h.Hour == 0 ? h.AddHours(1) : h, hours: 24), "start" },
        { "more than a day, not whole days", h => Quote(h.AddDays(2).Date, hours: 30), "duration_hours" },
        { "zero GPUs", h => Quote(h, gpus: 0), "gpu_count" },
        { "negative GPUs", h => Quote(h, gpus: -3), "gpu_count" },
        { "zero hours", h => Quote(h, hours: 0), "duration_hours" },
        { "negative hours", h => Quote(h, hours: -1), "duration_hours" },
        { "unknown GPU model", h => new { gpu_model = "z9-1gb", region = "local", gpu_count = 1, start = h, duration_hours = 1 }, "gpu_model" },
        { "unknown region", h => new { gpu_model = "h100-80gb", region = "mars", gpu_count = 1, start = h, duration_hours = 1 }, "region" },
        { "internal tier", h => Quote(h, tier: "internal"), "tier" },
        { "no start", h => new { gpu_model = "h100-80gb", region = "local", gpu_count = 1, duration_hours = 1 }, "start" },
    };

    [Theory]
    [MemberData(nameof(BadQuotes))]
    public async Task A_bad_quote_is_a_400_naming_the_field_and_stores_nothing(string because, Func<DateTimeOffset, object> body, string field)
    {
        await using var server = await StartAsync(StoreProvider.Sqlite, gpus: 4);
        using var admin = server.Admin();
        var (owner, _, _) = await TenantAsync(server);
        await PublishAsync(admin, DateTimeOffset.UtcNow);

        var error = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/quotes", body(NextHour(DateTimeOffset.UtcNow))), 400);
        owner.Dispose();

        Assert.True(field == error["param"]?.GetValue<string>(), $"{because}: {error}");
        await using var db = server.Database.Open();
        Assert.Equal(0, await db.Quotes.CountAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_purchase_is_charged_up_front_an_overbooking_one_is_409_and_cancelling_refunds_by_the_rule(StoreProvider provider)
    {
        // 4 GPUs, 1 kept for internal work: 3 can be reserved at any instant.
        await using var server = await StartAsync(provider, gpus: 4, guarantee: 1);
        using var admin = server.Admin();
        var (owner, org, project) = await TenantAsync(server);
        using var _ = owner;
        var now = DateTimeOffset.UtcNow;
        await PublishAsync(admin, now, "2.50");
        var later = NextHour(now).AddHours(26); // more than 24 h ahead: full refund
        var soon = NextHour(now); // within 24 h: no refund

        var quoteA = await owner.PostJsonAsync("/v1/quotes", Quote(later, gpus: 2, hours: 2));
        using var first = new HttpRequestMessage(HttpMethod.Post, "/v1/reservations") { Content = JsonContent.Create(new { quote_id = quoteA["id"]!.GetValue<string>(), project_id = project }) };
        first.Headers.Add("Idempotency-Key", "buy-a");
        var a = await HttpJson.ReadAsync(await owner.SendAsync(first), HttpStatusCode.Created);
        using var replay = new HttpRequestMessage(HttpMethod.Post, "/v1/reservations") { Content = JsonContent.Create(new { quote_id = quoteA["id"]!.GetValue<string>(), project_id = project }) };
        replay.Headers.Add("Idempotency-Key", "buy-a");
        var replayed = await HttpJson.ReadAsync(await owner.SendAsync(replay), HttpStatusCode.Created);
        var again = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/reservations", new { quote_id = quoteA["id"]!.GetValue<string>(), project_id = project }), 409);
        var quoteB = await owner.PostJsonAsync("/v1/quotes", Quote(later.AddHours(1), gpus: 2, hours: 2));
        var overbooked = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/reservations", new { quote_id = quoteB["id"]!.GetValue<string>(), project_id = project }), 409);
        var c = await BuyAsync(owner, project, later.AddHours(1), gpus: 1, hours: 2);
        var d = await BuyAsync(owner, project, soon, gpus: 3);
        var capacity = await owner.GetJsonAsync("/v1/capacity?region=local&gpu_model=h100-80gb");

        var cancelA = await owner.PostJsonAsync($"/v1/reservations/{a["id"]}/cancel", new { }, HttpStatusCode.OK);
        var cancelAAgain = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync($"/v1/reservations/{a["id"]}/cancel", new { }), 409);
        var cancelD = await owner.PostJsonAsync($"/v1/reservations/{d["id"]}/cancel", new { }, HttpStatusCode.OK);
        var afterCancel = await owner.PostJsonAsync("/v1/quotes", Quote(later, gpus: 2, hours: 1));
        var list = await owner.GetJsonAsync("/v1/reservations");
        await using var db = server.Database.Open();
        var ledger = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == org).OrderBy(u => u.Seq).ToListAsync();

        Assert.Equal((10m, "scheduled"), (Dec(a["price"]), a["status"]!.GetValue<string>())); // 2 × 2 h × 2.50
        Assert.Equal(a["id"]!.ToString(), replayed["id"]!.ToString());
        Assert.Equal("quote_used", again["code"]!.GetValue<string>());
        Assert.False(quoteB["available"]!.GetValue<bool>());
        Assert.Equal(("capacity_unavailable", "quote_id"), (overbooked["code"]!.GetValue<string>(), overbooked["param"]!.GetValue<string>()));
        Assert.Equal(5m, Dec(c["price"]));
        var pool = capacity["data"]!.AsArray().Single()!;
        Assert.Equal((4, 1), (pool["total_gpus"]!.GetValue<int>(), pool["internal_guarantee_gpus"]!.GetValue<int>()));
        var day = pool["days"]!.AsArray().Single(x => x!["date"]!.GetValue<string>() == later.AddHours(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))!;
        Assert.Equal(3, day["reserved_gpus"]!.GetValue<int>()); // A and C overlap from later + 1 h
        Assert.Equal(0, day["sellable"]!["reserved"]!.GetValue<int>());
        Assert.Equal(("cancelled", 10m), (cancelA["status"]!.GetValue<string>(), Dec(cancelA["refund"])));
        Assert.Equal("reservation_cancelled", cancelAAgain["code"]!.GetValue<string>());
        Assert.Equal(0m, Dec(cancelD["refund"]));
        Assert.True(afterCancel["available"]!.GetValue<bool>()); // A's GPUs are free again
        Assert.Equal(3, list["data"]!.AsArray().Count);
        Assert.Equal([(a["id"]!.ToString(), 100_000_000_000L), (c["id"]!.ToString(), 50_000_000_000L), (d["id"]!.ToString(), 75_000_000_000L), ($"{a["id"]}:refund", -100_000_000_000L)],
            ledger.Select(e => (e.Id, e.Quantity)));
        Assert.All(ledger, e => Assert.Equal(Meter.Reservation.ToCode(), e.Meter));
        var usage = await owner.GetJsonAsync($"/v1/usage?group_by=meter&from={Uri.EscapeDataString(now.AddDays(-1).Date.ToString("yyyy-MM-ddT00:00:00Z", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(now.AddDays(2).Date.ToString("yyyy-MM-ddT00:00:00Z", CultureInfo.InvariantCulture))}");
        Assert.Equal(12.5m, Dec(Assert.Single(usage["data"]!.AsArray())!["amount"])); // 10 + 5 + 7.5 − 10
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Sixteen_purchases_at_once_for_a_pool_that_fits_three_admit_exactly_three(StoreProvider provider)
    {
        await using var server = await StartAsync(provider, gpus: 3);
        using var admin = server.Admin();
        var (owner, org, project) = await TenantAsync(server);
        using var _ = owner;
        await PublishAsync(admin, DateTimeOffset.UtcNow);
        var start = NextHour(DateTimeOffset.UtcNow).AddHours(3);
        var quotes = new List<string>();
        for (var i = 0; i < 16; i++)
            quotes.Add((await owner.PostJsonAsync("/v1/quotes", Quote(start.AddHours(i % 2), gpus: 1, hours: 2)))["id"]!.GetValue<string>());

        using var gate = new SemaphoreSlim(0);
        var buys = quotes.Select(async q =>
        {
            await gate.WaitAsync();
            using var response = await owner.PostAsJsonAsync("/v1/reservations", new { quote_id = q, project_id = project });
            return (int)response.StatusCode;
        }).ToList();
        gate.Release(16);
        var statuses = await Task.WhenAll(buys);

        Assert.Equal(3, statuses.Count(s => s == 201));
        Assert.Equal(13, statuses.Count(s => s == 409));
        await using var db = server.Database.Open();
        Assert.Equal(3, await db.Reservations.CountAsync());
        Assert.Equal(3, await db.UsageEntries.CountAsync(u => u.OrgId == org));
    }

    [Fact]
    public async Task A_reserved_job_runs_only_inside_its_reservation()
    {
        var time = new ShiftedTime();
        await using var server = await StartAsync(StoreProvider.Sqlite, gpus: 2, time: time);
        using var admin = server.Admin();
        var (owner, _, project) = await TenantAsync(server);
        using var _ = owner;
        var (globex, _, globexProject) = await TenantAsync(server, "globex");
        using var __ = globex;
        await PublishAsync(admin, time.GetUtcNow());
        var start = NextHour(time.GetUtcNow());
        var block = await BuyAsync(owner, project, start, gpus: 1);
        var id = block["id"]!.GetValue<string>();

        var noReservation = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/jobs", new { project_id = project, command = new[] { "sleep", "1" }, tier = "reserved" }), 400);
        var foreign = await HttpJson.ErrorAsync(await globex.PostAsJsonAsync("/v1/jobs", new { project_id = globexProject, command = new[] { "sleep", "1" }, tier = "reserved", reservation_id = id }), 400);
        var tooBig = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/jobs", new { project_id = project, command = new[] { "sleep", "1" }, tier = "reserved", reservation_id = id, gpus_per_node = 2 }), 400);
        var job = await owner.PostJsonAsync("/v1/jobs", new { project_id = project, command = new[] { "sleep", "600" }, tier = "reserved", reservation_id = id });
        var jobId = job["id"]!.GetValue<string>();
        var before = await owner.WaitForJobAsync(jobId, j => j["pending_reasons"]!.AsArray().Count > 0);
        var later = (await BuyAsync(owner, project, start.AddHours(2), gpus: 1))["id"]!.GetValue<string>();
        var orphan = await owner.PostJsonAsync("/v1/jobs", new { project_id = project, command = new[] { "sleep", "1" }, tier = "reserved", reservation_id = later });
        await owner.PostJsonAsync($"/v1/reservations/{later}/cancel", new { }, HttpStatusCode.OK);
        var orphaned = await owner.WaitForJobAsync(orphan["id"]!.GetValue<string>(), j => j["state"]!.GetValue<string>() == "failed");

        time.JumpTo(start.AddMinutes(1));
        var inside = await owner.WaitForJobAsync(jobId, j => j["state"]!.GetValue<string>() == "running");
        time.JumpTo(start.AddHours(1).AddSeconds(1));
        var after = await owner.WaitForJobAsync(jobId, j => j["state"]!.GetValue<string>() == "failed");

        Assert.Equal(["reservation_id", "reservation_id", "gpus_per_node"], new[] { noReservation, foreign, tooBig }.Select(e => e["param"]!.GetValue<string>()));
        Assert.Equal("queued", before["state"]!.GetValue<string>());
        Assert.Equal("reservation", before["pending_reasons"]![0]!["code"]!.GetValue<string>());
        Assert.Equal(id, inside["spec"]!["reservation_id"]!.GetValue<string>());
        Assert.StartsWith("its reservation ended", after["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("its reservation ended or was cancelled", orphaned["state_reason"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Operator_economics_add_up_to_the_rated_ledger(StoreProvider provider)
    {
        await using var server = await StartAsync(provider, gpus: 4);
        using var admin = server.Admin();
        var (owner, org, project) = await TenantAsync(server);
        using var _ = owner;
        var now = DateTimeOffset.UtcNow;
        await PublishAsync(admin, now, "2.00");
        var block = await BuyAsync(owner, project, NextHour(now), gpus: 2, hours: 3); // 12.00, paid now
        var hour = NextHour(now);
        var writer = server.Services.GetRequiredService<UsageWriter>();
        // 1 GPU on-demand for two hours at 4.00, across a bucket bound; the internal org's own work, not charged.
        await writer.AppendAsync(UsageEvent.GpuTime("job_od:1", org, project, 1000, Tier.OnDemand, "h100-80gb", "local", hour, hour.AddHours(2)), default);
        await writer.AppendAsync(UsageEvent.GpuTime("job_int:1", Headroom.Server.Identity.Bootstrap.InternalOrgId, "prj_ops", 1000, Tier.Internal, "h100-80gb", "local", hour, hour.AddHours(1)), default);
        var from = hour.AddHours(-2);
        var to = hour.AddHours(4);
        string Q(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("yyyy-MM-ddTHH:00:00Z", CultureInfo.InvariantCulture));

        var economics = await admin.GetJsonAsync($"/v1/operator/economics?step=hour&from={Q(from)}&to={Q(to)}");
        var usage = await owner.GetJsonAsync($"/v1/usage?from={Q(from)}&to={Q(to)}");
        var denied = await owner.GetAsync($"/v1/operator/economics?step=hour&from={Q(from)}&to={Q(to)}");

        var buckets = economics["buckets"]!.AsArray();
        Assert.Equal(6, buckets.Count);
        Assert.Equal(20m, Dec(economics["revenue"])); // 12 up front + 8 on-demand
        Assert.Equal(Dec(Assert.Single(usage["data"]!.AsArray())!["amount"]), Dec(economics["revenue"]));
        Assert.Equal(Dec(economics["revenue"]), buckets.Sum(b => Dec(b!["revenue"])));
        var first = buckets[2]!["pools"]![0]!; // [hour, hour + 1)
        var tiers = first["tiers"]!.AsArray().ToDictionary(t => t!["tier"]!.GetValue<string>());
        Assert.Equal((4m, 0.25m), (Dec(first["capacity_gpu_hours"]), Dec(first["internal_share"])));
        Assert.Equal((2m, 0m), (Dec(tiers["reserved"]!["gpu_hours_sold"]), Dec(tiers["reserved"]!["gpu_hours_used"])));
        Assert.Equal((1m, 4m), (Dec(tiers["on-demand"]!["gpu_hours_used"]), Dec(tiers["on-demand"]!["revenue"])));
        Assert.Equal(0m, Dec(first["idle_gpu_hours"])); // 4 − 1 internal − 1 on-demand − 2 reserved
        Assert.Equal(12m, Dec(block["price"]));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
    }
}
