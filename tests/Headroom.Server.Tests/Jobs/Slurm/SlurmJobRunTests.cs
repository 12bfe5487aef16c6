using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Headroom.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Tests.Jobs.Slurm;

/// <summary>
/// Jobs end to end through the API on a real Slurm cluster: the scheduler loop places them on the fleet's Slurm
/// nodes and the slurm runtime submits, observes, cancels and preempts them. Each test has a Slurm node of its own
/// (gpu-node1..4), so a job one leaves behind never blocks another, and a node taken down comes back before the next.
/// </summary>
public sealed class SlurmJobRunTests
{

    private static async Task<string> WaitForLogAsync(HttpClient client, string jobId, string text, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var logs = await client.GetStringAsync($"/v1/jobs/{jobId}/logs");
            if (logs.Contains(text, StringComparison.Ordinal))
                return logs;
            Assert.True(DateTime.UtcNow < deadline, $"the logs of {jobId} never showed '{text}'; they hold:\n{logs}");
            await Task.Delay(150);
        }
    }

    private static bool In(JsonObject job, string state) => job["state"]!.GetValue<string>() == state;

    private static async Task<long> SlurmJobIdAsync(TestServer server, string jobId)
    {
        await using var db = server.Database.Open();
        var handle = await db.Jobs.AsNoTracking().Where(j => j.Id == jobId).Select(j => j.RuntimeHandle).SingleAsync();
        return JsonNode.Parse(handle!)!["slurm_job_id"]!.GetValue<long>();
    }

    private static string SlurmJob(long slurmJobId) => SlurmJobs.Run("scontrol", "show", "job", "-o", slurmJobId.ToString(CultureInfo.InvariantCulture));

    [Fact]
    public async Task A_job_runs_on_its_planned_slurm_node_with_its_gpus_and_logs_and_succeeds_without_the_control_planes_environment()
    {
        // Something of the control plane's own environment: sbatch must not carry it into the job.
        Environment.SetEnvironmentVariable("CONTROL_PLANE_SECRET_FOR_SLURM_TEST", "leaked");
        await using var server = await SlurmJobs.StartAsync("gpu-node1", TimeSpan.FromSeconds(3));
        var (orgId, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();

        var id = (await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, gpus_per_node = 2, max_duration_seconds = 300,
            command = new[]
            {
                "/bin/bash", "-c",
                "echo \"hello from $HEADROOM_JOB_ID attempt $HEADROOM_ATTEMPT\"; echo \"node=$SLURMD_NODENAME partition=$SLURM_JOB_PARTITION gpus=$CUDA_VISIBLE_DEVICES\"; " +
                "echo \"checkpoint=$HEADROOM_CHECKPOINT_DIR\"; echo \"$GREETING\"; echo \"secret=${CONTROL_PLANE_SECRET_FOR_SLURM_TEST:-none}\"",
            },
            env = new Dictionary<string, string> { ["GREETING"] = "bonjour" },
        }))["id"]!.GetValue<string>();
        try
        {
            var done = await owner.WaitForJobAsync(id, j => In(j, "succeeded") || In(j, "failed"), seconds: 60);
            var logs = await owner.GetStringAsync($"/v1/jobs/{id}/logs");
            var events = await owner.GetJsonAsync($"/v1/jobs/{id}/events");
            var slurm = SlurmJob(await SlurmJobIdAsync(server, id));

            Assert.True(In(done, "succeeded"), $"{done}\n{logs}");
            Assert.Equal(0, done["exit_code"]!.GetValue<int>());
            Assert.Equal("gpu-node1", done["placement"]![0]!["node"]!.GetValue<string>());
            Assert.Contains($"hello from {id} attempt 1", logs, StringComparison.Ordinal);
            Assert.Contains("node=gpu-node1 partition=on-demand gpus=0,1", logs, StringComparison.Ordinal);
            Assert.Contains($"checkpoint={Path.Combine(server.Settings.JobsDir, "checkpoints", id)}", logs, StringComparison.Ordinal);
            Assert.Contains("bonjour", logs, StringComparison.Ordinal);
            Assert.Contains("secret=none", logs, StringComparison.Ordinal);
            Assert.Equal(["queued", "scheduled", "starting", "running", "succeeded"], events["data"]!.AsArray().Select(e => e!["to_state"]!.GetValue<string>()));
            // Slurm's own record names the Headroom job, its attempt and owner, and carries the max duration as the time limit.
            Assert.Contains($"JobName=hr-{id} ", slurm, StringComparison.Ordinal);
            Assert.Contains($"Comment=headroom:job={id},attempt=1,org={orgId},project={project}", slurm, StringComparison.Ordinal);
            Assert.Contains("TimeLimit=00:05:00", slurm, StringComparison.Ordinal);
            Assert.Contains("gres:gpu:h100:2", slurm, StringComparison.Ordinal);
        }
        finally
        {
            SlurmJobs.CancelAll(id);
        }
    }

    [Fact]
    public async Task A_running_slurm_job_is_cancelled_and_slurm_stops_it()
    {
        await using var server = await SlurmJobs.StartAsync("gpu-node2", TimeSpan.FromSeconds(3));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var id = (await owner.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, command = new[] { "/bin/bash", "-c", "echo work: started; sleep 120" },
        }))["id"]!.GetValue<string>();
        try
        {
            await owner.WaitForJobAsync(id, j => In(j, "running"), seconds: 60);
            await WaitForLogAsync(owner, id, "work: started");

            var asked = await owner.PostJsonAsync($"/v1/jobs/{id}/cancel", new { }, HttpStatusCode.OK);
            var done = await owner.WaitForJobAsync(id, j => In(j, "cancelled"), seconds: 20);
            var slurmId = await SlurmJobIdAsync(server, id);
            var until = DateTime.UtcNow.AddSeconds(20);
            while (!SlurmJob(slurmId).Contains("JobState=CANCELLED", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < until, $"Slurm never cancelled the job: {SlurmJob(slurmId)}");
                await Task.Delay(200);
            }

            Assert.True(asked["cancel_requested"]!.GetValue<bool>());
            Assert.NotNull(done["ended_at"]);
            // The batch shell heard Slurm's stop (TERM) and relayed it to the workload.
            Assert.Contains("headroom: stop at ", await owner.GetStringAsync($"/v1/jobs/{id}/logs"), StringComparison.Ordinal);
        }
        finally
        {
            SlurmJobs.CancelAll(id);
        }
    }

    [Fact]
    public async Task An_internal_job_preempts_a_spot_job_on_a_full_slurm_node_which_checkpoints_at_its_notice_and_resumes()
    {
        var grace = TimeSpan.FromSeconds(3);
        await using var server = await SlurmJobs.StartAsync("gpu-node3", grace);
        using var cast = await server.PreemptionCastAsync();
        var (tenant, admin, project, internalProject) = cast;

        // Attempt 1 works until its notice (TERM, relayed by the batch shell from Slurm's USR1), then keeps the
        // deadline it was given, checkpoints and leaves; attempt 2 finds the checkpoint and finishes.
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            if [ -f "$dir/step" ]; then echo "resumed from step $(cat "$dir/step") at attempt $HEADROOM_ATTEMPT"; exit 0; fi
            trap 'cp "$HEADROOM_NOTICE_FILE" "$dir/notice"; cp "$HEADROOM_PREEMPT_AT_FILE" "$dir/deadline"; echo 42 > "$dir/step"; echo checkpointed; exit 0' TERM
            echo "working at attempt $HEADROOM_ATTEMPT"
            while :; do sleep 0.2; done
            """;
        var spot = (await tenant.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, tier = "spot", checkpoint = "requeue", gpus_per_node = 8, command = new[] { "/bin/bash", "-c", script },
        }))["id"]!.GetValue<string>();
        string? urgent = null;
        try
        {
            await tenant.WaitForJobAsync(spot, j => In(j, "running"), seconds: 60);
            await WaitForLogAsync(tenant, spot, "working at attempt 1");

            urgent = (await admin.PostJsonAsync("/v1/jobs", new
            {
                project_id = internalProject, tier = "internal", gpus_per_node = 8,
                command = new[] { "/bin/bash", "-c", "echo \"internal ran on $SLURMD_NODENAME in $SLURM_JOB_PARTITION\"" },
            }))["id"]!.GetValue<string>();
            var internalDone = await admin.WaitForJobAsync(urgent, j => In(j, "succeeded") || In(j, "failed"), seconds: 60);
            var spotDone = await tenant.WaitForJobAsync(spot, j => In(j, "succeeded") || In(j, "failed"), seconds: 90);

            var events = (await tenant.GetJsonAsync($"/v1/jobs/{spot}/events"))["data"]!.AsArray().Select(e => e!).ToList();
            var notice = events.Single(e => e["reason"]!.GetValue<string>().StartsWith("notice: ", StringComparison.Ordinal));
            var preempted = events.Single(e => e["to_state"]!.GetValue<string>() == "preempted");
            var checkpoints = Path.Combine(server.Settings.JobsDir, "checkpoints", spot);
            var noticeFile = (await File.ReadAllTextAsync(Path.Combine(checkpoints, "notice"))).Trim();
            var deadlineFile = (await File.ReadAllTextAsync(Path.Combine(checkpoints, "deadline"))).Trim();
            var firstLog = await File.ReadAllTextAsync(Path.Combine(server.Settings.JobsDir, "slurm", spot, "attempt-1.log"));
            var stopsAt = DateTimeOffset.Parse(notice["reason"]!.GetValue<string>().Split("stops at ")[1], CultureInfo.InvariantCulture);

            Assert.True(In(spotDone, "succeeded"), spotDone.ToString());
            Assert.Equal(2, spotDone["attempt"]!.GetValue<int>());
            Assert.Contains("resumed from step 42 at attempt 2", await tenant.GetStringAsync($"/v1/jobs/{spot}/logs"), StringComparison.Ordinal);
            Assert.Contains($"notice: preempted for {urgent}", notice["reason"]!.GetValue<string>(), StringComparison.Ordinal);
            // The job was signalled (the batch shell logged Slurm's USR1) and read Headroom's deadline from its notice file.
            Assert.Contains("headroom: notice at ", firstLog, StringComparison.Ordinal);
            Assert.Contains("checkpointed", firstLog, StringComparison.Ordinal);
            Assert.StartsWith("HEADROOM_PREEMPT_AT=", noticeFile, StringComparison.Ordinal);
            var deadline = DateTimeOffset.Parse(noticeFile["HEADROOM_PREEMPT_AT=".Length..], CultureInfo.InvariantCulture);
            Assert.True((stopsAt - deadline).Duration() < TimeSpan.FromSeconds(2), $"the job read deadline {deadline:O}; Headroom stops it at {stopsAt:O}");
            // The same deadline, bare, where a job written for the local runtime looks for it.
            Assert.Equal(deadline, DateTimeOffset.Parse(deadlineFile, CultureInfo.InvariantCulture));
            // The internal job got the node once the spot job's first attempt had let go of it.
            Assert.True(In(internalDone, "succeeded"), internalDone.ToString());
            Assert.Contains("internal ran on gpu-node3 in internal", await admin.GetStringAsync($"/v1/jobs/{urgent}/logs"), StringComparison.Ordinal);
            Assert.True(internalDone["started_at"]!.GetValue<DateTimeOffset>() >= preempted["time"]!.GetValue<DateTimeOffset>(),
                $"internal started {internalDone["started_at"]}, before the spot job was preempted at {preempted["time"]}");
        }
        finally
        {
            SlurmJobs.CancelAll(spot);
            if (urgent is not null)
                SlurmJobs.CancelAll(urgent);
        }
    }

    [Fact]
    public async Task Twenty_one_real_slurm_preemptions_each_give_the_victim_its_signal_the_whole_grace_before_the_kill()
    {
        // Seven one-GPU spot jobs fill gpu-node3 but one GPU; an eight-GPU internal job preempts all seven, runs, and
        // leaves; the seven requeue, run again, and the next internal job preempts them again: three rounds.
        const int spots = 7, rounds = 3;
        var grace = TimeSpan.FromSeconds(3);
        await using var server = await SlurmJobs.StartAsync("gpu-node3", grace);
        using var cast = await server.PreemptionCastAsync();
        var (tenant, admin, project, internalProject) = cast;

        // Each attempt records when its first TERM (the notice) arrives and beats every 0.2 s until it is killed; the
        // TERM of the stop that follows changes nothing, so the last beat is the kill.
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR; a=$HEADROOM_ATTEMPT
            [ "$a" -gt 3 ] && exit 0
            trap '[ -f "$dir/notice-$a" ] || { date +%s.%N > "$dir/n.tmp"; mv "$dir/n.tmp" "$dir/notice-$a"; }' TERM
            while :; do date +%s.%N > "$dir/a.tmp"; mv "$dir/a.tmp" "$dir/alive-$a"; sleep 0.2; done
            """;
        var ids = new List<string>();
        var urgent = new List<string>();
        try
        {
            for (var i = 0; i < spots; i++)
            {
                ids.Add((await tenant.PostJsonAsync("/v1/jobs", new
                {
                    project_id = project, tier = "spot", checkpoint = "requeue", gpus_per_node = 1, command = new[] { "/bin/bash", "-c", script },
                }))["id"]!.GetValue<string>());
            }
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var id in ids)
                    await tenant.WaitForJobAsync(id, j => In(j, "running") && j["attempt"]!.GetValue<int>() == round, seconds: 90);
                await Task.Delay(500);
                var job = (await admin.PostJsonAsync("/v1/jobs", new
                {
                    project_id = internalProject, tier = "internal", gpus_per_node = 8, command = new[] { "/bin/sh", "-c", "echo internal" },
                }))["id"]!.GetValue<string>();
                urgent.Add(job);
                var done = await admin.WaitForJobAsync(job, j => In(j, "succeeded") || In(j, "failed"), seconds: 90);
                Assert.True(In(done, "succeeded"), done.ToString());
            }
            foreach (var id in ids)
                await tenant.WaitForJobAsync(id, j => In(j, "succeeded"), seconds: 90);

            var gaps = new List<double>();
            foreach (var id in ids)
            {
                var checkpoints = Path.Combine(server.Settings.JobsDir, "checkpoints", id);
                for (var attempt = 1; attempt <= rounds; attempt++)
                {
                    var noticeAt = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, $"notice-{attempt}")), CultureInfo.InvariantCulture);
                    var lastAlive = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, $"alive-{attempt}")), CultureInfo.InvariantCulture);
                    gaps.Add(lastAlive - noticeAt);
                }
            }
            // Alive at its last beat, so killed later still: at most one beat (0.2 s) short of the grace, never more.
            Assert.Equal(spots * rounds, gaps.Count);
            Assert.All(gaps, gap => Assert.True(gap >= grace.TotalSeconds - 0.25,
                $"a job was killed {gap:F2} s after its signal; grace is {grace.TotalSeconds} s (all: {string.Join(", ", gaps.Select(g => g.ToString("F2", CultureInfo.InvariantCulture)))})"));
        }
        finally
        {
            foreach (var id in ids.Concat(urgent))
                SlurmJobs.CancelAll(id);
        }
    }

    [Fact]
    public async Task A_job_whose_slurm_node_fails_is_lost_requeued_and_resumes_from_its_checkpoint_when_the_node_is_back()
    {
        await using var server = await SlurmJobs.StartAsync("gpu-node4", TimeSpan.FromSeconds(3));
        var (_, key) = await server.CreateTenantAsync("acme");
        using var tenant = server.Client(key);
        var project = (await tenant.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        const string script = """
            dir=$HEADROOM_CHECKPOINT_DIR
            if [ -f "$dir/step" ]; then echo "resumed from step $(cat "$dir/step") at attempt $HEADROOM_ATTEMPT"; exit 0; fi
            echo 7 > "$dir/step"
            echo "working at attempt $HEADROOM_ATTEMPT"
            sleep 300
            """;
        var id = (await tenant.PostJsonAsync("/v1/jobs", new
        {
            project_id = project, tier = "spot", checkpoint = "requeue", command = new[] { "/bin/bash", "-c", script },
        }))["id"]!.GetValue<string>();
        try
        {
            await tenant.WaitForJobAsync(id, j => In(j, "running"), seconds: 60);
            await WaitForLogAsync(tenant, id, "working at attempt 1");
            try
            {
                // An operator (or slurmctld, when slurmd stops answering) marks the node down: its job ends NODE_FAIL.
                SlurmJobs.Run("scontrol", "update", "nodename=gpu-node4", "state=down", "reason=headroom-test");
                await tenant.WaitForJobAsync(id, j => j["attempt"]!.GetValue<int>() == 2, seconds: 30);
            }
            finally
            {
                SlurmJobs.Run("scontrol", "update", "nodename=gpu-node4", "state=resume");
            }
            var done = await tenant.WaitForJobAsync(id, j => In(j, "succeeded") || In(j, "failed"), seconds: 90);
            var events = (await tenant.GetJsonAsync($"/v1/jobs/{id}/events"))["data"]!.AsArray().Select(e => e!).ToList();

            Assert.True(In(done, "succeeded"), done.ToString());
            Assert.Equal(2, done["attempt"]!.GetValue<int>());
            var lost = events.Single(e => e["to_state"]!.GetValue<string>() == "lost");
            Assert.Contains("NODE_FAIL", lost["reason"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains(events, e => e["reason"]!.GetValue<string>().StartsWith("requeued after it was lost", StringComparison.Ordinal));
            Assert.Contains("resumed from step 7 at attempt 2", await tenant.GetStringAsync($"/v1/jobs/{id}/logs"), StringComparison.Ordinal);
        }
        finally
        {
            SlurmJobs.CancelAll(id);
        }
    }
}
