using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Server.Tests.Jobs;

/// <summary>
/// Jobs end to end on the local runtime: real processes started by the scheduler loop, their logs,
/// cancel, and a spot job preempted by an internal one with its notice measured.
/// </summary>
public sealed class JobRunTests
{
    private static Task<TestServer> StartAsync(int gpus, TimeSpan grace) => TestServer.StartAsync(fleetYaml: TestFleets.LocalBox(gpus), configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        LeaseTtl = TimeSpan.FromSeconds(3),
        Scheduler = new SchedulerConfig
        {
            Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => grace),
            SpotMinimumRunTime = TimeSpan.Zero,
        },
    });

    private static bool In(JsonObject job, string state) => job["state"]!.GetValue<string>() == state;

    [Fact]
    public async Task A_job_runs_on_its_gpus_writes_logs_and_succeeds_with_every_transition_recorded()
    {
        await using var server = await StartAsync(2, TimeSpan.FromSeconds(2));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        var job = await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, gpus_per_node = 2,
            command = new[] { "/bin/sh", "-c", "echo hello from $HEADROOM_JOB_ID; echo gpus=$CUDA_VISIBLE_DEVICES; echo $GREETING" },
            env = new Dictionary<string, string> { ["GREETING"] = "bonjour" },
        });
        var id = job["id"]!.GetValue<string>();
        var done = await owner.WaitForJobAsync(id, j => In(j, "succeeded") || In(j, "failed"));
        var logs = await owner.GetStringAsync($"/v1/jobs/{id}/logs");
        var events = await owner.GetJsonAsync($"/v1/jobs/{id}/events");

        Assert.Equal("succeeded", done["state"]!.GetValue<string>());
        Assert.Equal(0, done["exit_code"]!.GetValue<int>());
        Assert.Equal("box-1", done["placement"]![0]!["node"]!.GetValue<string>());
        Assert.Contains($"hello from {id}", logs, StringComparison.Ordinal);
        Assert.Contains("gpus=0,1", logs, StringComparison.Ordinal);
        Assert.Contains("bonjour", logs, StringComparison.Ordinal);
        Assert.Equal(["queued", "scheduled", "starting", "running", "succeeded"], events["data"]!.AsArray().Select(e => e!["to_state"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_failing_job_fails_with_its_exit_code_and_follow_streams_its_logs_until_the_end()
    {
        await using var server = await StartAsync(1, TimeSpan.FromSeconds(2));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        var id = (await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, command = new[] { "/bin/sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.3; done; exit 3" },
        }))["id"]!.GetValue<string>();
        var followed = await owner.GetStringAsync($"/v1/jobs/{id}/logs?follow=true");
        var done = await owner.WaitForJobAsync(id, j => In(j, "failed"));

        Assert.Contains("step 1", followed, StringComparison.Ordinal);
        Assert.Contains("step 3", followed, StringComparison.Ordinal);
        Assert.Equal(3, done["exit_code"]!.GetValue<int>());
        Assert.Equal("exit code 3", done["state_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_running_job_is_cancelled_and_its_process_stopped()
    {
        await using var server = await StartAsync(1, TimeSpan.FromSeconds(2));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var id = (await owner.PostJsonAsync("/v1/jobs", new { project_id = project, command = new[] { "sleep", "60" } }))["id"]!.GetValue<string>();
        await owner.WaitForJobAsync(id, j => In(j, "running"));

        var asked = await owner.PostJsonAsync($"/v1/jobs/{id}/cancel", new { }, HttpStatusCode.OK);
        var done = await owner.WaitForJobAsync(id, j => In(j, "cancelled"), seconds: 10);

        Assert.True(asked["cancel_requested"]!.GetValue<bool>());
        Assert.NotNull(done["ended_at"]);
    }

    [Fact]
    public async Task Fair_share_lets_an_org_without_recent_use_go_before_one_that_just_used_the_gpus()
    {
        await using var server = await StartAsync(1, TimeSpan.FromSeconds(2));
        var (_, keyA) = await server.CreateTenantAsync("busy");
        var (_, keyB) = await server.CreateTenantAsync("idle");
        using var a = server.Client(keyA);
        using var b = server.Client(keyB);
        var projectA = (await a.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var projectB = (await b.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        // Org A uses the GPU, and its use is metered into its ledger.
        var used = (await a.PostJsonAsync("/v1/jobs", new { project_id = projectA, command = new[] { "sleep", "1" } }))["id"]!.GetValue<string>();
        await a.WaitForJobAsync(used, j => In(j, "succeeded"));
        var metered = DateTime.UtcNow.AddSeconds(20);
        while ((await a.GetJsonAsync("/v1/usage/events"))["data"]!.AsArray().Count == 0)
        {
            Assert.True(DateTime.UtcNow < metered, "org A's GPU time was not metered");
            await Task.Delay(150);
        }

        // While a blocker holds the GPU, A queues a job, then B; when the GPU frees, B goes first.
        var blocker = (await a.PostJsonAsync("/v1/jobs", new { project_id = projectA, command = new[] { "sleep", "60" } }))["id"]!.GetValue<string>();
        await a.WaitForJobAsync(blocker, j => In(j, "running"));
        var jobA = (await a.PostJsonAsync("/v1/jobs", new { project_id = projectA, command = new[] { "true" } }))["id"]!.GetValue<string>();
        await Task.Delay(50);
        var jobB = (await b.PostJsonAsync("/v1/jobs", new { project_id = projectB, command = new[] { "true" } }))["id"]!.GetValue<string>();
        await a.PostJsonAsync($"/v1/jobs/{blocker}/cancel", new { }, HttpStatusCode.OK);
        var doneA = await a.WaitForJobAsync(jobA, j => In(j, "succeeded"));
        var doneB = await b.WaitForJobAsync(jobB, j => In(j, "succeeded"));

        Assert.True(doneB["started_at"]!.GetValue<DateTimeOffset>() < doneA["started_at"]!.GetValue<DateTimeOffset>(),
            $"B started {doneB["started_at"]}, A started {doneA["started_at"]}");
    }

    [Fact]
    public async Task An_internal_job_preempts_a_spot_job_which_gets_its_notice_then_resumes_from_its_checkpoint()
    {
        var grace = TimeSpan.FromSeconds(2);
        await using var server = await StartAsync(1, grace);
        using var cast = await server.PreemptionCastAsync();
        var (tenant, admin, project, internalProject) = cast;

        // Attempt 1 counts itself in the checkpoint, records when the notice arrives and beats until it is killed;
        // attempt 2 finds the checkpoint and finishes.
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            n=$(cat "$dir/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$dir/count"
            if [ "$n" -ge 2 ]; then echo "resumed at attempt $HEADROOM_ATTEMPT"; exit 0; fi
            trap 'date +%s.%N > "$dir/notice.tmp"; mv "$dir/notice.tmp" "$dir/notice"; cp "$HEADROOM_PREEMPT_AT_FILE" "$dir/deadline"' TERM
            while :; do date +%s.%N > "$dir/alive.tmp"; mv "$dir/alive.tmp" "$dir/alive"; sleep 0.05; done
            """;
        var spot = (await tenant.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, tier = "spot", checkpoint = "requeue", command = new[] { "/bin/sh", "-c", script },
        }))["id"]!.GetValue<string>();
        await tenant.WaitForJobAsync(spot, j => In(j, "running"));
        await Task.Delay(300);

        var urgent = (await admin.PostJsonAsync("/v1/jobs", new
        {
            project_id = internalProject, tier = "internal", command = new[] { "/bin/sh", "-c", "echo internal work" },
        }))["id"]!.GetValue<string>();
        var internalDone = await admin.WaitForJobAsync(urgent, j => In(j, "succeeded"));
        var spotDone = await tenant.WaitForJobAsync(spot, j => In(j, "succeeded"));
        var events = (await tenant.GetJsonAsync($"/v1/jobs/{spot}/events"))["data"]!.AsArray().Select(e => e!).ToList();
        var checkpoints = Path.Combine(server.Settings.JobsDir, "checkpoints", spot);
        var noticeAt = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "notice")), CultureInfo.InvariantCulture);
        var lastAlive = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "alive")), CultureInfo.InvariantCulture);
        var deadline = DateTimeOffset.Parse((await File.ReadAllTextAsync(Path.Combine(checkpoints, "deadline"))).Trim(), CultureInfo.InvariantCulture);

        Assert.Equal(2, spotDone["attempt"]!.GetValue<int>());
        Assert.Contains("resumed at attempt 2", await tenant.GetStringAsync($"/v1/jobs/{spot}/logs"), StringComparison.Ordinal);
        Assert.Contains(events, e => e["reason"]!.GetValue<string>().StartsWith($"notice: preempted for {urgent}", StringComparison.Ordinal));
        Assert.Contains(events, e => e["to_state"]!.GetValue<string>() == "preempted");
        Assert.True(internalDone["started_at"]!.GetValue<DateTimeOffset>() >= deadline.AddMilliseconds(-1),
            $"internal started {internalDone["started_at"]} before the spot job's deadline {deadline:O}");
        // The workload kept running for the whole grace period after its signal.
        Assert.True(lastAlive - noticeAt >= grace.TotalSeconds - 0.3, $"killed {lastAlive - noticeAt:F2} s after the notice; grace is {grace.TotalSeconds} s");
    }

    [Fact]
    public async Task Twenty_spot_jobs_preempted_at_once_each_keep_running_for_the_whole_grace_after_their_signal()
    {
        const int count = 20;
        var grace = TimeSpan.FromSeconds(3);
        await using var server = await StartAsync(count, grace);
        using var cast = await server.PreemptionCastAsync();
        var (tenant, admin, project, internalProject) = cast;

        // Each records when its signal arrives and beats every 0.2 s until it is killed.
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            trap 'date +%s.%N > "$dir/notice.tmp"; mv "$dir/notice.tmp" "$dir/notice"' TERM
            while :; do date +%s.%N > "$dir/alive.tmp"; mv "$dir/alive.tmp" "$dir/alive"; sleep 0.2; done
            """;
        var spots = new List<string>();
        for (var i = 0; i < count; i++)
        {
            spots.Add((await tenant.PostJsonAsync("/v1/jobs", new { project_id = project, tier = "spot", command = new[] { "/bin/sh", "-c", script } }))["id"]!.GetValue<string>());
        }
        foreach (var spot in spots)
            await tenant.WaitForJobAsync(spot, j => In(j, "running"), seconds: 60);
        await Task.Delay(500);

        for (var i = 0; i < count; i++)
            await admin.PostJsonAsync("/v1/jobs", new { project_id = internalProject, tier = "internal", command = new[] { "/bin/sh", "-c", "echo internal work" } });

        var gaps = new List<double>();
        foreach (var spot in spots)
        {
            await tenant.WaitForJobAsync(spot, j => In(j, "preempted"), seconds: 60);
            var checkpoints = Path.Combine(server.Settings.JobsDir, "checkpoints", spot);
            var noticeAt = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "notice")), CultureInfo.InvariantCulture);
            var lastAlive = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "alive")), CultureInfo.InvariantCulture);
            gaps.Add(lastAlive - noticeAt);
        }

        // Alive at its last beat, so killed later still: at most one beat (0.2 s) short of the grace, never more.
        Assert.Equal(count, gaps.Count);
        Assert.All(gaps, gap => Assert.True(gap >= grace.TotalSeconds - 0.25, $"a job was killed {gap:F2} s after its signal; grace is {grace.TotalSeconds} s (all: {string.Join(", ", gaps.Select(g => g.ToString("F2", CultureInfo.InvariantCulture)))})"));
    }
}
