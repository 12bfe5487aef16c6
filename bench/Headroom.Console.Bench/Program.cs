using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Billing;
using Headroom.Store.Jobs;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Console page times on a 10,000-job SQLite store. In order: start a real replica (Kestrel, SQLite, one local node with
// 4 GPUs) in a temp directory; seed N jobs (default 10,000), each with its state changes, spread over the last 25 days,
// straight into the store, and let the server's job meter write their usage entries; sign in through the console's form like a browser; then GET
// each page R times (default 50, after 3 warm-ups) and print p50/p99/max per page. Times are measured at the client over
// loopback, so they include the server's whole render (its own /v1 calls too) plus a little HTTP overhead: an upper
// bound of the server time.
//   dotnet bench/Headroom.Console.Bench/bin/Release/net10.0/Headroom.Console.Bench.dll [jobs] [repeats]
var jobs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
var repeats = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50;
var dir = Directory.CreateTempSubdirectory("headroom-console-bench-").FullName;
try
{
    var fleet = Path.Combine(dir, "fleet.yaml");
    await File.WriteAllTextAsync(fleet, """
        version: 1
        regions:
          - name: local
            clusters:
              - name: box
                runtime: local
                nodes:
                  - name: box-1
                    gpu_model: h100-80gb
                    gpu_count: 4
                    cpu_millicores: 8000
                    memory_mib: 16384
        """);
    var settings = new HeadroomSettings
    {
        DataDir = dir, Listen = "127.0.0.1", Port = 0, FleetFile = fleet,
        Database = StoreConnection.SqliteFile(Path.Combine(dir, "headroom.db")),
    };
    await using var app = HeadroomHost.Build(settings, logging: l => l.SetMinimumLevel(LogLevel.Warning));
    var adminKey = await HeadroomHost.PrepareAsync(app, CancellationToken.None) ?? throw new InvalidOperationException("no admin key");
    await app.StartAsync();
    var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    using var api = new HttpClient { BaseAddress = address };
    api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
    var orgId = (await api.GetFromJsonAsync<JsonNode>("/v1/orgs"))!["data"]![0]!["id"]!.GetValue<string>();
    var projects = new List<string>();
    foreach (var name in new[] { "research", "serving", "evals" })
        projects.Add((await (await api.PostAsJsonAsync("/v1/projects", new { name })).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>());
    // A price sheet in force since before the first job, as on a fleet that has been selling: the API publishes only
    // future versions, so this one is written to the store (the same draft JSON the API stores).
    await using (var db = app.Services.GetRequiredService<Database>().Open())
    {
        var since = DateTimeOffset.UtcNow.AddDays(-30);
        db.PriceSheetVersions.Add(new PriceSheetVersionRow
        {
            Number = 1, EffectiveFrom = since, Currency = "USD", PublishedAt = since, PublishedBy = "bench",
            Draft = $$"""
                {"effective_from":"{{since:yyyy-MM-dd'T'HH:mm:ss'Z'}}","currency":"USD","token_rates":[],"batch_discount":null,"spot":null,
                 "gpu_rates":[{"gpu_model":"h100-80gb","tier":"on-demand","region":"local","per_gpu_hour":"2.50"},
                              {"gpu_model":"h100-80gb","tier":"spot","region":"local","per_gpu_hour":"1.10"}]}
                """,
        });
        await db.SaveChangesAsync();
    }

    var seedClock = Stopwatch.StartNew();
    var database = app.Services.GetRequiredService<Database>();
    var firstJob = await SeedAsync(database, orgId, projects, jobs);
    // The server's own job meter turns each ended attempt into a usage entry on the org's hash-chained ledger.
    while (true)
    {
        await using var db = database.Open();
        if (await db.UsageEntries.CountAsync() >= jobs)
            break;
        await Task.Delay(500);
    }
    Console.WriteLine($"Seeded {jobs:N0} jobs and {jobs * 3:N0} job events, metered into {jobs:N0} usage entries, in {seedClock.Elapsed.TotalSeconds:0.0} s");

    using var browser = await SignInAsync(address, adminKey);
    string[] pages =
    [
        "/", "/jobs", "/jobs?state=succeeded", $"/jobs/{firstJob}", "/jobs/new", "/usage", "/invoices", "/prices", "/prices/publish", "/reservations",
        "/playground", "/keys", "/members", "/audit", "/fleet", "/economics",
    ];
    Console.WriteLine($"{"page",-40} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"first ms",9}  (n = {repeats}; first: the first request, before the warm-ups)");
    foreach (var page in pages)
        await TimeAsync(browser, page, page.Replace(firstJob, "{id}", StringComparison.Ordinal), repeats);
    // The API calls behind the pages that make the most, timed alone with the operator's key.
    string[] calls =
    [
        "/v1/orgs?limit=100", "/v1/projects?limit=100", "/v1/jobs?state=running&limit=100", "/v1/jobs?limit=50",
        "/v1/usage?group_by=meter", "/v1/usage?group_by=day,project,meter", "/v1/invoices/upcoming", "/v1/operator/economics",
    ];
    foreach (var call in calls)
        await TimeAsync(api, call, "API " + call, repeats);
    // Cold: one more usage entry appended before each request, so no answer computed before it may be reused.
    var seq = 2_000_000L;
    async Task GrowLedgerAsync()
    {
        await using var db = database.Open();
        var at = DateTimeOffset.UtcNow.AddMinutes(-5);
        db.UsageEntries.Add(new UsageEntryRow
        {
            Id = $"bench:{seq}", OrgId = orgId, Seq = seq++, ProjectId = projects[0], Meter = "gpu_seconds", Quantity = 1000, Tier = "on-demand",
            GpuModel = "h100-80gb", Region = "local", Start = at, End = at.AddMinutes(1), RecordedAt = at.AddMinutes(1), PrevHash = "bench", Hash = "bench",
        });
        await db.SaveChangesAsync();
    }
    foreach (var page in new[] { "/", "/usage", "/invoices", "/economics" })
        await TimeAsync(browser, page, page + " (ledger grown)", repeats, GrowLedgerAsync);
    foreach (var call in new[] { "/v1/usage?group_by=meter", "/v1/invoices/upcoming", "/v1/operator/economics" })
        await TimeAsync(api, call, "API " + call + " (ledger grown)", repeats, GrowLedgerAsync);
    await app.StopAsync();
}
finally
{
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    Directory.Delete(dir, recursive: true);
}

static async Task TimeAsync(HttpClient client, string path, string label, int repeats, Func<Task>? before = null)
{
    var times = new List<double>();
    var first = 0.0;
    for (var i = 0; i < repeats + 3; i++)
    {
        if (before is not null)
            await before();
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        clock.Stop();
        var alert = body.Contains("role=\"alert\"", StringComparison.Ordinal);
        if (response.StatusCode != HttpStatusCode.OK || alert)
            throw new InvalidOperationException($"{path} answered {(int)response.StatusCode}{(alert ? " with an error on the page" : "")}");
        if (i == 0)
            first = clock.Elapsed.TotalMilliseconds;
        if (i >= 3)
            times.Add(clock.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"{label,-40} {Percentile(times, 0.50),8:0.0} {Percentile(times, 0.99),8:0.0} {times[^1],8:0.0} {first,9:0.0}");
}

static double Percentile(List<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

// Ended jobs only (succeeded, failed, cancelled), so the scheduler has nothing to start; each with queued → running →
// its end, the running event carrying the placement the meter prices. Ids sort by creation, as the API's do.
static async Task<string> SeedAsync(Database database, string orgId, List<string> projects, int count)
{
    var now = DateTimeOffset.UtcNow;
    var random = new Random(42);
    string[] ends = ["succeeded", "succeeded", "succeeded", "failed", "cancelled"];
    string[] tiers = ["on-demand"];
    string? first = null;
    const int batch = 1000;
    for (var start = 0; start < count; start += batch)
    {
        await using var db = database.Open();
        for (var i = start; i < Math.Min(count, start + batch); i++)
        {
            var created = now.AddDays(-25) + TimeSpan.FromSeconds(25.0 * 86400 * i / count);
            var began = created.AddSeconds(random.Next(1, 120));
            var ended = began.AddSeconds(random.Next(30, 7200));
            var gpus = random.Next(1, 5);
            var id = "job_" + i.ToString("D26", CultureInfo.InvariantCulture);
            first ??= id;
            var project = projects[i % projects.Count];
            var tier = tiers[i % tiers.Length];
            var end = ends[i % ends.Length];
            db.Jobs.Add(new JobRow
            {
                Id = id, OrgId = orgId, ProjectId = project, Name = $"train-{i}", Tier = tier, State = end,
                Spec = $$"""{"command":["/bin/sleep","60"],"env":{},"gpus_per_node":{{gpus}},"gpu_milli":1000,"node_count":1,"gpu_models":[],"cpu_milli":0,"memory_mib":0,"region":null,"max_duration_seconds":null,"checkpoint":"none","reservation_id":null}""",
                Attempt = 1, Runtime = "local", StateReason = end, ExitCode = end == "succeeded" ? 0 : 1,
                CreatedAt = created, StartedAt = began, EndedAt = ended, UpdatedAt = ended, Version = 3,
            });
            var placement = $$"""[{"node":"box-1","gpus":[{{string.Join(",", Enumerable.Range(0, gpus))}}],"gpu_milli":1000}]""";
            db.JobEvents.Add(new JobEventRow { JobId = id, OrgId = orgId, Attempt = 1, Time = created, FromState = "", ToState = "queued", Reason = "submitted" });
            db.JobEvents.Add(new JobEventRow { JobId = id, OrgId = orgId, Attempt = 1, Time = began, FromState = "queued", ToState = "running", Reason = "running (attempt 1)", Placement = placement });
            db.JobEvents.Add(new JobEventRow { JobId = id, OrgId = orgId, Attempt = 1, Time = ended, FromState = "running", ToState = end, Reason = end });
        }
        await db.SaveChangesAsync();
    }
    return first!;
}

// The console's sign-in form, posted as a browser does: its antiforgery token and cookie, then the session cookie.
static async Task<HttpClient> SignInAsync(Uri address, string key)
{
    var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = address };
    var form = await browser.GetStringAsync("/signin");
    var token = Regex.Match(form, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
    using var response = await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
    {
        ["_handler"] = "signin", ["__RequestVerificationToken"] = token, ["Key"] = key,
    }));
    if (response.StatusCode != HttpStatusCode.Redirect)
        throw new InvalidOperationException($"Sign-in answered {(int)response.StatusCode}");
    return browser;
}
