using System.Net;
using System.Net.Http.Json;
using Headroom.Server.Tests.Infrastructure;

namespace Headroom.Server.Tests.Jobs;

/// <summary>The job API's contract: what is refused (400 naming the field, nothing queued), what is kept, who sees it.</summary>
public sealed class JobApiTests(JobApiTests.Fixture fixture) : IClassFixture<JobApiTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public TestServer Server { get; private set; } = null!;
        public string Key { get; private set; } = "";
        public string ProjectId { get; private set; } = "";

        public async Task InitializeAsync()
        {
            Server = await TestServer.StartAsync(fleetYaml: FleetTests.TwoRegionFleet);
            (_, Key) = await Server.CreateTenantAsync("acme");
            using var owner = Server.Client(Key);
            ProjectId = (await owner.PostJsonAsync("/v1/projects", new { name = "train" }))["id"]!.GetValue<string>();
        }

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }

    public static TheoryData<string, string, string> BadSpecs => new()
    {
        { "zero GPUs", """{"command":["true"],"gpus_per_node":0}""", "gpus_per_node" },
        { "unknown GPU model", """{"command":["true"],"gpu_model":"h900-1tb"}""", "gpu_model" },
        { "more GPUs than any node has", """{"command":["true"],"gpu_model":"a100-80gb","gpus_per_node":16}""", "gpus_per_node" },
        { "negative duration", """{"command":["true"],"max_duration_seconds":-5}""", "max_duration_seconds" },
        { "unknown project", """{"command":["true"],"project_id":"prj_nope"}""", "project_id" },
        { "no command", """{"gpus_per_node":1}""", "command" },
        { "unknown tier", """{"command":["true"],"tier":"gold"}""", "tier" },
        { "internal tier from a tenant", """{"command":["true"],"tier":"internal"}""", "tier" },
        { "fractional share of several GPUs", """{"command":["true"],"gpus_per_node":2,"gpu_milli":500}""", "gpu_milli" },
        { "unknown region", """{"command":["true"],"region":"mars-1"}""", "region" },
        { "a larger gang than the fleet", """{"command":["true"],"gpu_model":"h200-141gb","node_count":2}""", "node_count" },
        { "reserved variables", """{"command":["true"],"env":{"CUDA_VISIBLE_DEVICES":"0"}}""", "env" },
        { "unknown checkpoint policy", """{"command":["true"],"checkpoint":"sometimes"}""", "checkpoint" },
        { "a field a caller may not set", """{"command":["true"],"state":"running"}""", "state" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public async Task A_bad_spec_is_refused_with_a_400_naming_the_field_and_nothing_is_queued(string _, string spec, string field)
    {
        using var owner = fixture.Server.Client(fixture.Key);
        var body = spec.Contains("project_id", StringComparison.Ordinal) ? spec : spec.Insert(1, $"\"project_id\":\"{fixture.ProjectId}\",");
        var before = (await owner.GetJsonAsync("/v1/jobs?limit=100"))["data"]!.AsArray().Count;

        using var response = await owner.PostAsync("/v1/jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var status = (int)response.StatusCode;
        var error = await HttpJson.ErrorAsync(response, status is 422 ? 422 : 400);
        Assert.Equal(field, error["param"]!.GetValue<string>());
        Assert.Equal(before, (await owner.GetJsonAsync("/v1/jobs?limit=100"))["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_submitted_job_is_queued_with_its_spec_events_and_an_audit_record()
    {
        using var owner = fixture.Server.Client(fixture.Key);

        var job = await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = fixture.ProjectId, name = "finetune", command = new[] { "python", "train.py", "--epochs", "3" },
            env = new Dictionary<string, string> { ["WANDB_MODE"] = "offline" }, gpu_model = "h100-80gb", gpus_per_node = 8, node_count = 2,
            tier = "spot", checkpoint = "requeue", max_duration_seconds = 3600,
        });
        var id = job["id"]!.GetValue<string>();
        var events = await owner.GetJsonAsync($"/v1/jobs/{id}/events");
        var listed = await owner.GetJsonAsync("/v1/jobs?tier=spot&state=queued");
        var named = (await owner.GetJsonAsync("/v1/jobs?name=finetune"))["data"]!.AsArray();
        var audit = await owner.GetJsonAsync($"/v1/audit?target={id}");

        Assert.StartsWith("job_", id, StringComparison.Ordinal);
        Assert.Equal("queued", job["state"]!.GetValue<string>());
        Assert.Equal(1, job["attempt"]!.GetValue<int>());
        Assert.Equal(8, job["spec"]!["gpus_per_node"]!.GetValue<int>());
        Assert.Equal("requeue", job["spec"]!["checkpoint"]!.GetValue<string>());
        Assert.Equal("queued", Assert.Single(events["data"]!.AsArray())!["to_state"]!.GetValue<string>());
        Assert.Contains(listed["data"]!.AsArray(), j => j!["id"]!.GetValue<string>() == id);
        Assert.Contains(named, j => j!["id"]!.GetValue<string>() == id);
        Assert.All(named, j => Assert.Equal("finetune", j!["name"]!.GetValue<string>()));
        Assert.Equal("jobs.create", Assert.Single(audit["data"]!.AsArray())!["action"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_job_only_undriven_nodes_could_run_says_so_with_its_queue_position()
    {
        using var owner = fixture.Server.Client(fixture.Key);
        // The H100 nodes of this fleet are Slurm's, and this server has no slurm settings.
        var id = (await owner.PostJsonAsync("/v1/jobs", new { project_id = fixture.ProjectId, command = new[] { "true" }, gpu_model = "h100-80gb" }))["id"]!.GetValue<string>();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        System.Text.Json.Nodes.JsonObject job;
        do
        {
            await Task.Delay(200);
            job = await owner.GetJsonAsync($"/v1/jobs/{id}");
        }
        while (job["queue_position"] is null && DateTime.UtcNow < deadline);

        Assert.Equal("queued", job["state"]!.GetValue<string>());
        Assert.True(job["queue_position"]!.GetValue<int>() >= 1);
        var reason = Assert.Single(job["pending_reasons"]!.AsArray(), r => r!["code"]!.GetValue<string>() == "runtime-unavailable")!;
        Assert.Contains("2 matching node(s) are run by slurm", reason["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("once the settings have a slurm section", reason["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_queued_job_cancels_at_once_and_a_finished_one_cannot_be_cancelled_again()
    {
        using var owner = fixture.Server.Client(fixture.Key);
        var job = await owner.PostJsonAsync("/v1/jobs", new { project_id = fixture.ProjectId, command = new[] { "true" }, gpu_model = "h200-141gb", gpus_per_node = 8 });
        var id = job["id"]!.GetValue<string>();

        var cancelled = await owner.PostJsonAsync($"/v1/jobs/{id}/cancel", new { }, HttpStatusCode.OK);
        using var again = await owner.PostAsJsonAsync($"/v1/jobs/{id}/cancel", new { });

        Assert.Equal("cancelled", cancelled["state"]!.GetValue<string>());
        Assert.NotNull(cancelled["ended_at"]);
        Assert.Equal("job_finished", (await HttpJson.ErrorAsync(again, 409))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_project_scoped_key_sees_and_submits_only_in_its_project()
    {
        using var owner = fixture.Server.Client(fixture.Key);
        var other = (await owner.PostJsonAsync("/v1/projects", new { name = "other" }))["id"]!.GetValue<string>();
        var hidden = await owner.PostJsonAsync("/v1/jobs", new { project_id = other, command = new[] { "true" } });
        var scopedKey = await TestServer.CreateKeyAsync(owner, null, ["member"], fixture.ProjectId);
        using var scoped = fixture.Server.Client(scopedKey);

        var own = await scoped.PostJsonAsync("/v1/jobs", new { command = new[] { "true" } });
        using var elsewhere = await scoped.PostAsJsonAsync("/v1/jobs", new { project_id = other, command = new[] { "true" } });
        using var peek = await scoped.GetAsync($"/v1/jobs/{hidden["id"]}");
        var list = await scoped.GetJsonAsync("/v1/jobs?limit=100");

        Assert.Equal(fixture.ProjectId, own["project_id"]!.GetValue<string>());
        await HttpJson.ErrorAsync(elsewhere, 400);
        await HttpJson.ErrorAsync(peek, 404);
        Assert.All(list["data"]!.AsArray(), j => Assert.Equal(fixture.ProjectId, j!["project_id"]!.GetValue<string>()));
    }
}
