using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

using Headroom.Tests;

namespace Headroom.Server.Tests.Infrastructure;

/// <summary>
/// A real control-plane replica on a loopback port (Kestrel, the real store), with the admin key of
/// the operator's org. Tests talk to it over HTTP like any client.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly WebApplication _app;

    private TestServer(TempDirectory dir, WebApplication app, HeadroomSettings settings, string adminKey, Uri address)
    {
        _dir = dir;
        _app = app;
        Settings = settings;
        AdminKey = adminKey;
        Address = address;
    }

    public HeadroomSettings Settings { get; }
    public string AdminKey { get; }
    public Uri Address { get; }
    public IServiceProvider Services => _app.Services;
    public Database Database => _app.Services.GetRequiredService<Database>();

    public static async Task<TestServer> StartAsync(
        StoreProvider provider = StoreProvider.Sqlite,
        Func<HeadroomSettings, HeadroomSettings>? configure = null,
        string? fleetYaml = null,
        TimeProvider? time = null,
        Action<ILoggingBuilder>? logging = null)
    {
        var dir = new TempDirectory();
        string? fleetFile = null;
        if (fleetYaml is not null)
        {
            fleetFile = Path.Combine(dir.Path, "fleet.yaml");
            await File.WriteAllTextAsync(fleetFile, fleetYaml);
        }
        var settings = new HeadroomSettings
        {
            DataDir = dir.Path,
            Listen = "127.0.0.1",
            Port = 0,
            Database = await TestDatabases.CreateAsync(provider, dir.Path),
            FleetFile = fleetFile,
        };
        settings = configure?.Invoke(settings) ?? settings;
        var app = HeadroomHost.Build(settings, time, logging: l =>
        {
            l.SetMinimumLevel(LogLevel.Warning);
            logging?.Invoke(l);
        });
        // A fresh store yields the admin key; a restarted one left it in the data directory.
        var key = await HeadroomHost.PrepareAsync(app, CancellationToken.None)
            ?? (await File.ReadAllTextAsync(settings.AdminKeyPath)).Trim();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(dir, app, settings, key, new Uri(address));
    }

    public HttpClient Client(string? key = null)
    {
        var client = new HttpClient { BaseAddress = Address };
        if (key is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public HttpClient Admin() => Client(AdminKey);

    /// <summary>Creates an org through the API and a key in it with the given roles; returns (org id, key).</summary>
    public async Task<(string OrgId, string Key)> CreateTenantAsync(string name, params string[] roles)
    {
        using var admin = Admin();
        var org = await admin.PostJsonAsync("/v1/orgs", new { name });
        var orgId = org["id"]!.GetValue<string>();
        var key = await CreateKeyAsync(admin, orgId, roles.Length == 0 ? ["owner"] : roles);
        return (orgId, key);
    }

    /// <summary>The cast of a preemption test: a tenant with a project for spot work, and the operator with one for internal work.</summary>
    public async Task<PreemptionCast> PreemptionCastAsync()
    {
        var (_, key) = await CreateTenantAsync("acme");
        var tenant = Client(key);
        var admin = Admin();
        var project = (await tenant.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var internalProject = (await admin.PostJsonAsync("/v1/projects", new { name = "training" }))["id"]!.GetValue<string>();
        return new PreemptionCast(tenant, admin, project, internalProject);
    }

    public static async Task<string> CreateKeyAsync(HttpClient client, string? orgId, string[] roles, string? projectId = null)
    {
        var created = await client.PostJsonAsync("/v1/keys", new { name = "test key", roles, org_id = orgId, project_id = projectId });
        return created["key"]!.GetValue<string>();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>The system clock moved by an offset the test sets: timers still run in real time, "now" jumps ahead.</summary>
public sealed class ShiftedTime : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    /// <summary>Moves "now" to <paramref name="target"/> (never backwards).</summary>
    public void JumpTo(DateTimeOffset target)
    {
        var gap = target - GetUtcNow();
        if (gap > TimeSpan.Zero)
            Advance(gap);
    }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));
}

public static class HttpJson
{
    /// <summary>Polls <c>GET /v1/jobs/{id}</c> until <paramref name="until"/> holds; fails naming the job's state after <paramref name="seconds"/>.</summary>
    public static async Task<JsonObject> WaitForJobAsync(this HttpClient client, string jobId, Func<JsonObject, bool> until, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var job = await client.GetJsonAsync($"/v1/jobs/{jobId}");
            if (until(job))
                return job;
            if (DateTime.UtcNow >= deadline)
            {
                // Its history says how it got there (an extra attempt, a preemption nobody expected).
                var events = (await client.GetJsonAsync($"/v1/jobs/{jobId}/events"))["data"]!.AsArray()
                    .Select(e => $"{e!["time"]} attempt {e["attempt"]}: {e["from_state"]} -> {e["to_state"]} ({e["reason"]})");
                Assert.Fail($"job {jobId} is still {job["state"]} ({job["state_reason"]}): {job}\nevents:\n{string.Join("\n", events)}");
            }
            await Task.Delay(150);
        }
    }

    /// <summary>
    /// Publishes a price sheet with one token rate (and an optional batch discount), taking effect on the second after
    /// next, and returns once it is in force.
    /// </summary>
    public static async Task PublishTokenRatesAsync(this HttpClient admin, string model, string inputPerMillion, string outputPerMillion, string? batchDiscount = null)
    {
        var effective = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2);
        var sheet = new JsonObject
        {
            ["effective_from"] = effective,
            ["currency"] = "USD",
            ["gpu_rates"] = new JsonArray(),
            ["token_rates"] = new JsonArray(new JsonObject { ["model"] = model, ["input_per_million"] = inputPerMillion, ["output_per_million"] = outputPerMillion }),
        };
        if (batchDiscount is not null)
            sheet["batch_discount"] = batchDiscount;
        await admin.PostJsonAsync("/v1/prices", sheet);
        while (DateTimeOffset.UtcNow < effective.AddMilliseconds(200))
            await Task.Delay(100);
    }

    public static async Task<JsonObject> PostJsonAsync(this HttpClient client, string path, object body, System.Net.HttpStatusCode expect = System.Net.HttpStatusCode.Created)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        return await ReadAsync(response, expect);
    }

    public static async Task<JsonObject> PatchJsonAsync(this HttpClient client, string path, object body, System.Net.HttpStatusCode expect = System.Net.HttpStatusCode.OK)
    {
        using var response = await client.PatchAsJsonAsync(path, body);
        return await ReadAsync(response, expect);
    }

    public static async Task<JsonObject> GetJsonAsync(this HttpClient client, string path, System.Net.HttpStatusCode expect = System.Net.HttpStatusCode.OK)
    {
        using var response = await client.GetAsync(path);
        return await ReadAsync(response, expect);
    }

    public static async Task<JsonObject> ReadAsync(HttpResponseMessage response, System.Net.HttpStatusCode expect)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expect, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}, expected {(int)expect}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public static async Task<JsonObject> ErrorAsync(HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"answered {(int)response.StatusCode}, expected {status}: {text}");
        var error = JsonNode.Parse(text)!["error"]!.AsObject();
        Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
        Assert.False(string.IsNullOrEmpty(error["type"]!.GetValue<string>()));
        return error;
    }

    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

public sealed record PreemptionCast(HttpClient Tenant, HttpClient Admin, string Project, string InternalProject) : IDisposable
{
    public void Dispose()
    {
        Tenant.Dispose();
        Admin.Dispose();
    }
}
