using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Tests.Billing;

/// <summary>Budgets through the API, the guard's leases under concurrency, alerts and their signed webhooks, and the hard limit on jobs.</summary>
public sealed class BudgetTests
{
    private static readonly DateTimeOffset October = InvoiceTests.October;

    private static decimal D(JsonNode? node) => decimal.Parse(node!.GetValue<string>(), CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Budgets_are_created_changed_listed_and_deleted_per_org_and_project_and_bad_input_changes_nothing(StoreProvider provider)
    {
        await using var server = await TestServer.StartAsync(provider, InvoiceTests.Quiet);
        var (_, key) = await server.CreateTenantAsync("acme");
        var (_, otherKey) = await server.CreateTenantAsync("globex");
        using var owner = server.Client(key);
        using var other = server.Client(otherKey);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "train" }))["id"]!.GetValue<string>();
        using var scoped = server.Client(await TestServer.CreateKeyAsync(owner, null, ["admin"], project));

        var org = await owner.PostJsonAsync("/v1/budgets", new { name = "all of acme", limit = "1000.00", hard_limit = true });
        var forProject = await scoped.PostJsonAsync("/v1/budgets", new
        {
            limit = "50", alert_percents = new[] { 25, 90 }, webhook_url = "https://hooks.example/budget", webhook_secret = "0123456789abcdef0123",
        });
        var id = org["id"]!.GetValue<string>();
        var patched = await (await owner.PatchAsJsonAsync($"/v1/budgets/{id}", new { limit = "1500.5", alert_percents = new[] { 80 } })).Content.ReadFromJsonAsync<JsonObject>();
        var badLimit = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/budgets", new { limit = "-1" }), 400);
        var tooPrecise = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/budgets", new { limit = "1.00000000001" }), 400);
        var badPercents = await HttpJson.ErrorAsync(await owner.PatchAsJsonAsync($"/v1/budgets/{id}", new { alert_percents = new[] { 80, 50 } }), 400);
        var noSecret = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/budgets", new { limit = "1", webhook_url = "https://hooks.example/x" }), 400);
        var badUrl = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/budgets", new { limit = "1", webhook_url = "file:///etc/passwd", webhook_secret = "0123456789abcdef" }), 400);
        var badPeriod = await HttpJson.ErrorAsync(await owner.PostAsJsonAsync("/v1/budgets", new { limit = "1", period = "week" }), 400);
        var foreignProject = await HttpJson.ErrorAsync(await other.PostAsJsonAsync("/v1/budgets", new { limit = "1", project_id = project }), 400);
        var all = await owner.GetJsonAsync("/v1/budgets");
        var seenByScoped = await scoped.GetJsonAsync("/v1/budgets");
        var foreignGet = await other.GetAsync($"/v1/budgets/{id}");
        var foreignDelete = await other.DeleteAsync($"/v1/budgets/{id}");
        var deleted = await owner.DeleteAsync($"/v1/budgets/{id}");
        var gone = await owner.GetAsync($"/v1/budgets/{id}");

        Assert.Equal(("1000.0000000000", true, "month"), (org["limit"]!.GetValue<string>(), org["hard_limit"]!.GetValue<bool>(), org["period"]!.GetValue<string>()));
        Assert.Equal([50, 80, 100], org["alert_percents"]!.AsArray().Select(p => p!.GetValue<int>()));
        Assert.Equal(0m, D(org["current"]!["spent"]));
        Assert.Equal(project, forProject["project_id"]!.GetValue<string>());
        Assert.True(forProject["webhook_secret_set"]!.GetValue<bool>());
        Assert.DoesNotContain("0123456789abcdef0123", forProject.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(1500.5m, D(patched!["limit"]));
        Assert.Equal([80], patched["alert_percents"]!.AsArray().Select(p => p!.GetValue<int>()));
        Assert.Equal(("limit", "limit", "alert_percents[1]"), (badLimit["param"]!.GetValue<string>(), tooPrecise["param"]!.GetValue<string>(), badPercents["param"]!.GetValue<string>()));
        Assert.Equal(("webhook_secret", "webhook_url", "period"), (noSecret["param"]!.GetValue<string>(), badUrl["param"]!.GetValue<string>(), badPeriod["param"]!.GetValue<string>()));
        Assert.Equal("project_id", foreignProject["param"]!.GetValue<string>());
        Assert.Equal(2, all["data"]!.AsArray().Count);
        Assert.Equal(forProject["id"]!.GetValue<string>(), Assert.Single(seenByScoped["data"]!.AsArray())!["id"]!.GetValue<string>());
        Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (foreignGet.StatusCode, foreignDelete.StatusCode));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NotFound), (deleted.StatusCode, gone.StatusCode));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Sixty_four_parallel_reservations_never_pass_a_hard_limit_and_settling_twice_changes_nothing(StoreProvider provider)
    {
        // Mid-month, so the hour the leases age stays in the same period.
        var clock = new ManualClock(October.AddDays(40));
        await using var server = await TestServer.StartAsync(provider, InvoiceTests.Quiet, time: clock);
        var (orgId, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "serve" }))["id"]!.GetValue<string>();
        // The org's budget is the tighter: 10 leases of 1.00; the project's own (soft) budget counts along.
        var orgBudget = (await owner.PostJsonAsync("/v1/budgets", new { limit = "10.00", hard_limit = true }))["id"]!.GetValue<string>();
        var projectBudget = (await owner.PostJsonAsync("/v1/budgets", new { limit = "5.00", project_id = project }))["id"]!.GetValue<string>();
        var guard = server.Services.GetRequiredService<BudgetGuard>();

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => guard.ReserveAsync(orgId, project, 1.00m, default))));
        var granted = results.Where(r => r.Granted).ToList();
        var refused = results.Where(r => !r.Granted).ToList();
        var full = await owner.GetJsonAsync($"/v1/budgets/{orgBudget}");
        var first = await guard.SettleAsync(granted[0].Lease!, 0.25m, default);
        var twice = await guard.SettleAsync(granted[0].Lease!, 0.25m, default);
        var unknown = await guard.SettleAsync(new BudgetGuardLease("bl_missing", 1m), 1m, default);
        var afterSettle = await owner.GetJsonAsync($"/v1/budgets/{orgBudget}");
        var projectView = await owner.GetJsonAsync($"/v1/budgets/{projectBudget}");
        var again = await guard.ReserveAsync(orgId, project, 0.75m, default);
        var tooMuch = await guard.ReserveAsync(orgId, project, 0.01m, default);
        var negative = await guard.ReserveAsync(orgId, project, -1m, default);
        var otherProject = await guard.ReserveAsync(orgId, null, 0.01m, default);
        // Nine leases and the 0.75 one are never settled: an hour on, the budget loop gives their room back.
        await server.Services.GetRequiredService<BudgetWatch>().WatchAsync(default);
        var stillHeld = await owner.GetJsonAsync($"/v1/budgets/{orgBudget}");
        clock.Now += BudgetWatch.LeaseLifetime + TimeSpan.FromSeconds(1);
        await server.Services.GetRequiredService<BudgetWatch>().WatchAsync(default);
        var released = await owner.GetJsonAsync($"/v1/budgets/{orgBudget}");

        Assert.Equal(10, granted.Count);
        Assert.All(refused, r => Assert.Equal((BudgetRefusalReason.HardLimit, orgBudget), (r.Refusal!.Value, r.BudgetId)));
        Assert.Equal((10m, 0m), (D(full["current"]!["reserved"]), D(full["current"]!["available"])));
        Assert.Equal((true, false, false), (first, twice, unknown));
        Assert.Equal((0.25m, 9m, 0.75m), (D(afterSettle["current"]!["spent"]), D(afterSettle["current"]!["reserved"]), D(afterSettle["current"]!["available"])));
        Assert.Equal((0.25m, 9m), (D(projectView["current"]!["spent"]), D(projectView["current"]!["reserved"])));
        Assert.True(again.Granted);
        Assert.Equal(BudgetRefusalReason.HardLimit, tooMuch.Refusal);
        Assert.Equal(BudgetRefusalReason.InvalidAmount, negative.Refusal);
        Assert.Equal(BudgetRefusalReason.HardLimit, otherProject.Refusal);
        Assert.Equal(9.75m, D(stillHeld["current"]!["reserved"]));
        // The ledger is the spend: the 0.25 settled without a usage event behind it is replaced by the ledger's figure, 0.
        Assert.Equal((0m, 0m), (D(released["current"]!["reserved"]), D(released["current"]!["spent"])));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Crossed_thresholds_are_recorded_once_and_posted_signed_with_retries_and_a_spent_hard_limit_refuses_new_jobs(StoreProvider provider)
    {
        var clock = new ManualClock(October.AddDays(-1));
        // The receiver listens on loopback, which webhooks reach only when the operator allows private networks.
        await using var server = await TestServer.StartAsync(
            provider, s => InvoiceTests.Quiet(s) with { WebhooksToPrivateNetworks = true }, FleetTests.TwoRegionFleet, clock);
        await using var receiver = await Receiver.StartAsync(failFirst: 1);
        var (orgId, key) = await InvoiceTests.OctoberAsync(server, clock);
        using var owner = server.Client(key);
        clock.Now = October.AddDays(20);
        const string secret = "whsec-0123456789abcdef";
        // October's usage in the ledger comes to 18.00: 72 % of the limit.
        var budget = await owner.PostJsonAsync("/v1/budgets", new
        {
            name = "october", limit = "25.00", alert_percents = new[] { 50, 70, 90 }, hard_limit = true, webhook_url = receiver.Url, webhook_secret = secret,
        });
        var id = budget["id"]!.GetValue<string>();
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "jobs" }))["id"]!.GetValue<string>();
        var job = new { project_id = project, command = new[] { "true" }, gpu_model = "a100-80gb", tier = "spot" };
        var watch = server.Services.GetRequiredService<BudgetWatch>();
        var hooks = server.Services.GetRequiredService<BudgetWebhooks>();

        var firstWatch = await watch.WatchAsync(default);
        var secondWatch = await watch.WatchAsync(default);
        var firstDelivery = await hooks.DeliverAsync(default);
        var tooEarly = await hooks.DeliverAsync(default);
        clock.Now += BudgetWebhooks.Backoff(1);
        var retried = await hooks.DeliverAsync(default);
        var events = await owner.GetJsonAsync($"/v1/budgets/{id}/events");
        var beforeLimit = await owner.PostAsJsonAsync("/v1/jobs", job);

        await server.Services.GetRequiredService<UsageWriter>().AppendAsync(
            UsageEvent.GpuTime("job_big:1", orgId, "prj_a", 8000, Tier.OnDemand, "h100-80gb", "us-east", October.AddDays(19), October.AddDays(19).AddHours(1)), default);
        var thirdWatch = await watch.WatchAsync(default);
        var atLimit = await owner.PostAsJsonAsync("/v1/jobs", job);
        var view = await owner.GetJsonAsync($"/v1/budgets/{id}");
        // A refusal is not kept under its Idempotency-Key: once the limit is raised the same request goes through.
        HttpRequestMessage Keyed() => new(HttpMethod.Post, "/v1/jobs") { Content = JsonContent.Create(job), Headers = { { "Idempotency-Key", "after-limit" } } };
        using var keyedRefused = await owner.SendAsync(Keyed());
        (await owner.PatchAsJsonAsync($"/v1/budgets/{id}", new { limit = "100" })).EnsureSuccessStatusCode().Dispose();
        using var keyedAdmitted = await owner.SendAsync(Keyed());

        Assert.Equal((2, 0), (firstWatch, secondWatch));
        Assert.Equal((1, 0, 1), (firstDelivery, tooEarly, retried));
        var list = events["data"]!.AsArray().Select(e => e!).ToList();
        Assert.Equal([50, 70], list.Select(e => e["percent"]!.GetValue<int>()).Order());
        Assert.All(list, e => Assert.Equal(("budget.threshold_crossed", "delivered", 18m), (e["type"]!.GetValue<string>(), e["delivery"]!.GetValue<string>(), D(e["spent"]))));
        Assert.Equal(3, list.Sum(e => e["attempts"]!.GetValue<int>()));
        Assert.Equal(3, receiver.Received.Count);
        Assert.All(receiver.Received, r => Assert.Equal(BudgetWebhooks.Sign(secret, DateTimeOffset.FromUnixTimeSeconds(long.Parse(r.Signature.Split(',')[0][2..], CultureInfo.InvariantCulture)), r.Body), r.Signature));
        Assert.Contains(receiver.Received, r => r.Body.Contains("\"percent\":70", StringComparison.Ordinal) && r.EventId.StartsWith("bev_", StringComparison.Ordinal));
        Assert.All(receiver.Received, r => Assert.DoesNotContain("delivery", r.Body, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Created, beforeLimit.StatusCode);

        Assert.Equal(1, thirdWatch);
        var refusal = await HttpJson.ErrorAsync(atLimit, 429);
        Assert.Equal(("insufficient_quota", "insufficient_quota"), (refusal["type"]!.GetValue<string>(), refusal["code"]!.GetValue<string>()));
        Assert.Contains(id, refusal["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(long.Parse(atLimit.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture) > 0);
        Assert.Equal(42m, D(view["current"]!["spent"]));
        Assert.Equal((HttpStatusCode.TooManyRequests, HttpStatusCode.Created), (keyedRefused.StatusCode, keyedAdmitted.StatusCode));
        // The job admitted before the limit is still queued: the limit refuses new work and deletes nothing.
        var admitted = (await beforeLimit.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        Assert.Equal("queued", (await owner.GetJsonAsync($"/v1/jobs/{admitted}"))["state"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.20.0.1", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("fe80::1", false)]
    public void Webhooks_reach_only_public_addresses_by_default(string address, bool isPublic) =>
        Assert.Equal(isPublic, WebhookAddresses.IsPublic(System.Net.IPAddress.Parse(address)));

    [Fact]
    public async Task A_webhook_to_loopback_is_refused_without_connecting_unless_the_operator_allows_it()
    {
        await using var receiver = await Receiver.StartAsync(failFirst: 0);
        using var closed = new HttpClient(WebhookAddresses.Handler(allowPrivate: false));
        using var open = new HttpClient(WebhookAddresses.Handler(allowPrivate: true));

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => closed.PostAsync(receiver.Url, new StringContent("{}")));
        using var allowed = await open.PostAsync(receiver.Url, new StringContent("{}"));

        Assert.Contains("webhooks_to_private_networks", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Single(receiver.Received);
    }

    [Fact]
    public void Stored_budget_codes_are_frozen()
    {
        Assert.Equal(["none", "pending", "delivered", "failed"], [BudgetWebhooks.None, BudgetWebhooks.Pending, BudgetWebhooks.Delivered, BudgetWebhooks.Failed]);
        Assert.Equal("budget.threshold_crossed", BudgetWatch.ThresholdCrossed);
        Assert.Equal("month", BudgetForms.Month);
        // Integer units of 10⁻¹⁰: changing the scale would reinterpret every stored limit and spend.
        Assert.Equal((1L, 25_000_000_000L, 1.5m), (BudgetUnits.From(0.0000000001m), BudgetUnits.From(2.5m), BudgetUnits.ToMoney(15_000_000_000L)));
        Assert.Equal(BudgetUnits.From(0.0000000001m), BudgetUnits.From(0.00000000001m));
    }

    /// <summary>A webhook receiver on loopback that answers 500 to its first requests, then 204, and keeps what it got.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _failuresLeft;

        private Receiver(WebApplication app, int failFirst)
        {
            _app = app;
            _failuresLeft = failFirst;
        }

        public string Url { get; private set; } = "";
        public ConcurrentQueue<(string Signature, string EventId, string Body)> Received { get; } = new();

        public static async Task<Receiver> StartAsync(int failFirst)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var receiver = new Receiver(app, failFirst);
            app.MapPost("/hook", async (HttpContext http) =>
            {
                using var reader = new StreamReader(http.Request.Body);
                receiver.Received.Enqueue((http.Request.Headers[BudgetWebhooks.SignatureHeader].ToString(), http.Request.Headers["Headroom-Event-Id"].ToString(), await reader.ReadToEndAsync()));
                return Interlocked.Decrement(ref receiver._failuresLeft) >= 0 ? Results.StatusCode(500) : Results.NoContent();
            });
            await app.StartAsync();
            receiver.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
            return receiver;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
