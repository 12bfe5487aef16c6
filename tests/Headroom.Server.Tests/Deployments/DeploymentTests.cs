using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Server.Deployments;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Tests;

namespace Headroom.Server.Tests.Deployments;

/// <summary>
/// Deployments end to end on the local runtime: replicas are real processes (tests/…/mock_upstream.py, an
/// OpenAI-compatible server) started as jobs, routed to through /v1/chat/completions, scaled, killed and drained.
/// </summary>
public sealed class DeploymentTests
{
    private static readonly string Mock = Path.Combine(AppContext.BaseDirectory, "Deployments", "mock_upstream.py");

    private static Task<TestServer> StartAsync(StoreProvider provider) => TestServer.StartAsync(provider, fleetYaml: TestFleets.LocalBox(4), configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        LeaseTtl = TimeSpan.FromSeconds(3),
        Deployments = new DeploymentSettings
        {
            SyncPeriod = TimeSpan.FromMilliseconds(200),
            DrainTimeout = TimeSpan.FromSeconds(10),
            ScaleDownDelay = TimeSpan.FromHours(1),
            RestartBackoff = TimeSpan.FromSeconds(1),
        },
    });

    private static async Task<(HttpClient Owner, string Project)> TenantAsync(TestServer server, string name)
    {
        var (_, key) = await server.CreateTenantAsync(name);
        var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "serving" }))["id"]!.GetValue<string>();
        return (owner, project);
    }

    private static async Task<JsonObject> WaitAsync(HttpClient client, string id, Func<JsonObject, bool> until, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var deployment = await client.GetJsonAsync($"/v1/deployments/{id}");
            if (until(deployment))
                return deployment;
            Assert.True(DateTime.UtcNow < deadline, $"deployment {id} never got there: {deployment}");
            await Task.Delay(200);
        }
    }

    private static int Ready(JsonObject d) => d["ready_replicas"]!.GetValue<int>();

    private static async Task<string> ChatAsync(HttpClient client, string model, string content = "hi")
    {
        using var response = await client.PostAsJsonAsync("/v1/chat/completions", new { model, messages = new[] { new { role = "user", content } } });
        var body = await HttpJson.ReadAsync(response, HttpStatusCode.OK);
        return body["choices"]![0]!["message"]!["content"]!.GetValue<string>();
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task Replicas_start_as_jobs_share_the_calls_survive_a_kill_scale_and_drain_on_delete(StoreProvider provider)
    {
        await using var server = await StartAsync(provider);
        var (owner, project) = await TenantAsync(server, "acme");
        using var _ = owner;

        var created = await owner.PostJsonAsync("/v1/deployments", new
        {
            model = "mock-chat", project_id = project, billing = "dedicated", gpu_milli = 250,
            command = new[] { "python3", Mock, "{port}", "{upstream_model}" }, min_replicas = 2, max_replicas = 3,
        });
        var id = created["id"]!.GetValue<string>();
        Assert.Equal("active", created["state"]!.GetValue<string>());
        var ready = await WaitAsync(owner, id, d => Ready(d) == 2);
        var replicas = ready["replicas"]!.AsArray().Select(r => r!["job_id"]!.GetValue<string>()).ToList();
        Assert.All(ready["replicas"]!.AsArray(), r => Assert.StartsWith("http://127.0.0.1:", r!["url"]!.GetValue<string>(), StringComparison.Ordinal));

        // Replica jobs are the owner's jobs, linked to the deployment.
        var job = await owner.GetJsonAsync($"/v1/jobs/{replicas[0]}");
        Assert.Equal(id, job["spec"]!["deployment_id"]!.GetValue<string>());
        Assert.Equal("running", job["state"]!.GetValue<string>());

        // Least outstanding: four slow calls at once land two on each replica.
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => ChatAsync(owner, "mock-chat", "sleep:1")));
        Assert.Equal(2, answers.Count(a => a == "replica " + replicas[0]));
        Assert.Equal(2, answers.Count(a => a == "replica " + replicas[1]));

        // A replica killed: it leaves the rotation, and calls keep succeeding on the other.
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(server.Settings.JobsDir, replicas[0], "attempt-1", "workload"))).Split(' ')[0]);
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        for (var i = 0; i < 6; i++)
            Assert.Equal("replica " + replicas[1], await ChatAsync(owner, "mock-chat"));
        await owner.WaitForJobAsync(replicas[0], j => j["state"]!.GetValue<string>() == "failed");
        await WaitAsync(owner, id, d => d["replicas"]!.AsArray().All(r => r!["job_id"]!.GetValue<string>() != replicas[0]));

        // The failed replica is replaced; scaling to min 3 starts a third; scaling to max 1 drains two.
        await WaitAsync(owner, id, d => Ready(d) == 2);
        using (var scaled = await owner.PatchAsJsonAsync($"/v1/deployments/{id}", new { min_replicas = 3 }))
            await HttpJson.ReadAsync(scaled, HttpStatusCode.OK);
        var three = await WaitAsync(owner, id, d => Ready(d) == 3);
        Assert.Equal("below-min", three["scale"]!["reason"]!.GetValue<string>());
        using (var down = await owner.PatchAsJsonAsync($"/v1/deployments/{id}", new { min_replicas = 1, max_replicas = 1 }))
            await HttpJson.ReadAsync(down, HttpStatusCode.OK);
        var one = await WaitAsync(owner, id, d => d["desired_replicas"]!.GetValue<int>() == 1 && d["replicas"]!.AsArray().Count == 1);
        var last = one["replicas"]![0]!["job_id"]!.GetValue<string>();
        Assert.Equal("replica " + last, await ChatAsync(owner, "mock-chat"));

        // Delete drains: a call in flight finishes, then the replica job is stopped and the model is gone.
        var inFlight = ChatAsync(owner, "mock-chat", "sleep:1.5");
        await Task.Delay(300);
        using (var deleted = await owner.DeleteAsync($"/v1/deployments/{id}"))
            Assert.Equal("deleting", (await HttpJson.ReadAsync(deleted, HttpStatusCode.Accepted))["state"]!.GetValue<string>());
        Assert.Equal("replica " + last, await inFlight);
        await WaitAsync(owner, id, d => d["state"]!.GetValue<string>() == "deleted");
        Assert.Equal("cancelled", (await owner.GetJsonAsync($"/v1/jobs/{last}"))["state"]!.GetValue<string>());
        // Every routing table forgets the model within a sync period.
        var forgotten = DateTime.UtcNow.AddSeconds(10);
        while ((await owner.GetJsonAsync("/v1/models"))["data"]!.AsArray().Any(m => m!["id"]!.GetValue<string>() == "mock-chat"))
        {
            Assert.True(DateTime.UtcNow < forgotten, "the deleted deployment's model is still listed");
            await Task.Delay(100);
        }
        using var gone = await owner.PostAsJsonAsync("/v1/chat/completions", new { model = "mock-chat", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);

        // Dedicated: the replicas' GPU time is the project's usage, and their tokens are listed at price 0.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var events = (await owner.GetJsonAsync("/v1/usage/events?limit=100"))["data"]!.AsArray();
            var gpu = events.Where(e => e!["meter"]!.GetValue<string>() == "gpu_seconds" && e["project_id"]!.GetValue<string>() == project).ToList();
            if (gpu.Count >= 3 && events.Any(e => e!["meter"]!.GetValue<string>() == "input_tokens"))
            {
                Assert.All(events.Where(e => e!["meter"]!.GetValue<string>() == "input_tokens"), e => Assert.Equal("on-demand", e!["tier"]!.GetValue<string>()));
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"no GPU-second usage for the replicas: {events}");
            await Task.Delay(250);
        }
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task An_external_url_is_served_without_replicas_and_another_org_cannot_see_or_touch_it(StoreProvider provider)
    {
        await using var server = await StartAsync(provider);
        var (owner, project) = await TenantAsync(server, "acme");
        var (stranger, _) = await TenantAsync(server, "globex");
        using var a = owner;
        using var b = stranger;
        var port = FreePort();
        using var upstream = System.Diagnostics.Process.Start("python3", [Mock, port.ToString(System.Globalization.CultureInfo.InvariantCulture), "ext-model"]);
        try
        {
            var id = (await owner.PostJsonAsync("/v1/deployments", new { model = "external", project_id = project, url = $"http://127.0.0.1:{port}/v1", upstream_model = "ext-model" }))["id"]!.GetValue<string>();
            await WaitAsync(owner, id, d => Ready(d) == 1, 30);
            Assert.Equal("replica replica", await ChatAsync(owner, "external"));

            await stranger.GetJsonAsync($"/v1/deployments/{id}", HttpStatusCode.NotFound);
            Assert.DoesNotContain((await stranger.GetJsonAsync("/v1/deployments"))["data"]!.AsArray(), d => d!["id"]!.GetValue<string>() == id);
            using (var patch = await stranger.PatchAsJsonAsync($"/v1/deployments/{id}", new { max_replicas = 2 }))
                Assert.Equal(HttpStatusCode.NotFound, patch.StatusCode);
            using (var delete = await stranger.DeleteAsync($"/v1/deployments/{id}"))
                Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
            using (var call = await stranger.PostAsJsonAsync("/v1/chat/completions", new { model = "external", messages = new[] { new { role = "user", content = "hi" } } }))
                Assert.Equal(HttpStatusCode.NotFound, call.StatusCode);
            Assert.DoesNotContain((await stranger.GetJsonAsync("/v1/models"))["data"]!.AsArray(), m => m!["id"]!.GetValue<string>() == "external");

            // The operator's serverless deployment is the shared catalog: every org sees and calls it, none but the operator changes it.
            using var admin = server.Admin();
            var catalog = (await admin.PostJsonAsync("/v1/projects", new { name = "catalog" }))["id"]!.GetValue<string>();
            var shared = (await admin.PostJsonAsync("/v1/deployments", new { model = "shared", project_id = catalog, billing = "serverless", url = $"http://127.0.0.1:{port}/v1", upstream_model = "ext-model" }))["id"]!.GetValue<string>();
            await WaitAsync(admin, shared, d => Ready(d) == 1, 30);
            Assert.Equal("replica replica", await ChatAsync(stranger, "shared"));
            Assert.Equal("serverless", (await stranger.GetJsonAsync($"/v1/deployments/{shared}"))["billing"]!.GetValue<string>());
            using (var patch = await stranger.PatchAsJsonAsync($"/v1/deployments/{shared}", new { max_replicas = 2 }))
                Assert.Equal(HttpStatusCode.NotFound, patch.StatusCode);

            // The in-process model is a read-only system deployment.
            var list = (await owner.GetJsonAsync("/v1/deployments"))["data"]!.AsArray();
            var system = list.Single(d => d!["system"]!.GetValue<bool>())!;
            Assert.Equal("in-process", system["engine"]!.GetValue<string>());
            using (var touch = await owner.DeleteAsync($"/v1/deployments/{system["id"]!.GetValue<string>()}"))
                Assert.Equal(HttpStatusCode.Conflict, touch.StatusCode);

            using (var deleted = await owner.DeleteAsync($"/v1/deployments/{id}"))
                Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
            await WaitAsync(owner, id, d => d["state"]!.GetValue<string>() == "deleted", 30);
        }
        finally
        {
            upstream!.Kill();
        }
    }

    public static TheoryData<string, string> BadSpecs => new()
    {
        { """{"model":"m","min_replicas":3,"max_replicas":2,"command":["x"]}""", "min_replicas" },
        { """{"model":"m","engine":"tgi-magic","command":["x"]}""", "engine" },
        { """{"model":"m","engine":"in-process","command":["x"]}""", "engine" },
        { """{"model":"m","gpu_model":"tpu-v9","command":["x"]}""", "gpu_model" },
        { """{"model":"m","gpus_per_replica":-1,"command":["x"]}""", "gpus_per_replica" },
        { """{"model":"m"}""", "command" },
        { """{"model":"m","command":[]}""", "command" },
        { """{"model":"m","url":"ftp://x"}""", "url" },
        { """{"model":"m","url":"http://x/v1","min_replicas":2}""", "url" },
        { """{"command":["x"]}""", "model" },
        { """{"model":"m","billing":"serverless","command":["x"]}""", "billing" },
        { """{"model":"m","region":"mars","command":["x"]}""", "region" },
        { """{"model":"m","gpus_per_replica":9,"command":["x"]}""", "gpus_per_replica" },
        { """{"model":"m","tier":"internal","command":["x"]}""", "tier" },
        { """{"model":"all-minilm-l6-v2","command":["x"]}""", "model" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public async Task A_bad_spec_is_refused_naming_its_field_and_nothing_is_created(string body, string param)
    {
        await using var server = await StartAsync(StoreProvider.Sqlite);
        var (owner, project) = await TenantAsync(server, "acme");
        using var _ = owner;
        var json = JsonNode.Parse(body)!.AsObject();
        json["project_id"] = project;
        using var response = await owner.PostAsync("/v1/deployments", new StringContent(json.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));

        var error = await HttpJson.ErrorAsync(response, param == "model" && body.Contains("minilm", StringComparison.Ordinal) ? 409 : 400);
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.DoesNotContain((await owner.GetJsonAsync("/v1/deployments"))["data"]!.AsArray(), d => !d!["system"]!.GetValue<bool>());
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
