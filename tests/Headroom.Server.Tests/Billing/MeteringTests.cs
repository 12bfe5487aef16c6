using Headroom.Core.Chains;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Store;
using Headroom.Store.Jobs;
using Headroom.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Billing;

/// <summary>
/// GPU time of jobs reaches the org's usage ledger once per attempt: from running to its end, not for a preemption
/// notice, never for an attempt that did not run; and the ledger's chain catches a tampered row.
/// </summary>
public sealed class MeteringTests
{
    private static readonly string Fleet = TestFleets.LocalBox(2);

    private static Task<TestServer> StartAsync(StoreProvider provider) => TestServer.StartAsync(provider, fleetYaml: Fleet, configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        LeaseTtl = TimeSpan.FromSeconds(3),
        Scheduler = new SchedulerConfig
        {
            Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => TimeSpan.FromSeconds(2)),
            SpotMinimumRunTime = TimeSpan.Zero,
        },
    });

    private static async Task<List<LedgerEntry>> LedgerAsync(TestServer server, string orgId)
    {
        await using var db = server.Database.Open();
        var rows = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId).OrderBy(u => u.Seq).ToListAsync();
        return [.. rows.Select(UsageRows.ToEntry)];
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_job_run_on_the_local_runtime_is_metered_once_from_running_to_its_end(StoreProvider provider)
    {
        await using var server = await StartAsync(provider);
        var (orgId, key) = await server.CreateTenantAsync("acme");
        using var owner = server.Client(key);
        var project = (await owner.PostJsonAsync("/v1/projects", new { name = "proj" }))["id"]!.GetValue<string>();
        var id = (await owner.PostJsonAsync("/v1/jobs", new { project_id = project, gpus_per_node = 2, command = new[] { "sleep", "1.5" } }))["id"]!.GetValue<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await owner.GetJsonAsync($"/v1/jobs/{id}"))["state"]!.GetValue<string>() != "succeeded")
        {
            Assert.True(DateTime.UtcNow < deadline, "the job did not succeed in time");
            await Task.Delay(150);
        }
        var events = (await owner.GetJsonAsync($"/v1/jobs/{id}/events"))["data"]!.AsArray().Select(e => e!).ToList();
        var running = events.Single(e => e["to_state"]!.GetValue<string>() == "running")["time"]!.GetValue<DateTimeOffset>();
        var ended = events.Single(e => e["to_state"]!.GetValue<string>() == "succeeded")["time"]!.GetValue<DateTimeOffset>();

        var meter = server.Services.GetRequiredService<JobMeter>();
        await meter.MeterAsync(CancellationToken.None);
        var once = await LedgerAsync(server, orgId);
        Assert.Equal(0, await meter.MeterAsync(CancellationToken.None));
        var twice = await LedgerAsync(server, orgId);

        var entry = Assert.Single(once);
        var usage = entry.Event;
        Assert.Equal($"{id}:1", usage.Id);
        Assert.Equal(Meter.GpuSeconds, usage.Meter);
        Assert.Equal(2000, usage.Quantity);
        Assert.Equal(project, usage.ProjectId);
        Assert.Equal(new UsageDimensions(Tier.OnDemand, "h100-80gb", "local"), usage.Dimensions);
        Assert.Equal(running, usage.Start);
        Assert.Equal(ended, usage.End);
        Assert.Null(usage.NotChargedFrom);
        // The span is the job's own events' (checked above); a loaded machine may record the start late, so it can be
        // shorter than the 1.5 s the job slept: the tenant is not charged for that lag.
        Assert.InRange((usage.End - usage.Start).TotalSeconds, 0.1, 10);
        Assert.Equal(once, twice);
        Assert.Empty(UsageLedger.Verify(orgId, twice));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task A_preempted_attempt_is_not_charged_for_its_notice_and_an_attempt_that_never_ran_is_not_charged(StoreProvider provider)
    {
        await using var server = await StartAsync(provider);
        var (orgId, _) = await server.CreateTenantAsync("acme");
        var t0 = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        const string placement = """[{"node":"box-1","gpus":[0],"gpu_milli":500}]""";
        await using (var db = server.Database.Open())
        {
            db.Jobs.Add(new JobRow
            {
                Id = "job_synthetic", OrgId = orgId, ProjectId = "prj_synthetic", Name = "synthetic", Tier = "spot", State = "succeeded",
                Spec = """{"command":["true"],"env":{},"gpus_per_node":1,"gpu_milli":500,"node_count":1,"gpu_models":[],"cpu_milli":0,"memory_mib":0,"region":null,"max_duration_seconds":null,"checkpoint":"requeue"}""",
                Attempt = 3, Placement = placement, CreatedAt = t0, UpdatedAt = t0,
            });
            void Event(int attempt, int second, string from, string to, string reason = "", string? where = null) => db.JobEvents.Add(new JobEventRow
            {
                JobId = "job_synthetic", OrgId = orgId, Attempt = attempt, Time = t0.AddSeconds(second), FromState = from, ToState = to, Reason = reason, Placement = where,
            });
            Event(1, 0, "queued", "scheduled");
            Event(1, 1, "scheduled", "starting");
            Event(1, 2, "starting", "running", "running (attempt 1)", placement);
            Event(1, 102, "running", "running", "notice: preempted for job_urgent; stops at ...");
            Event(1, 222, "running", "preempted", "stopped at its notice deadline");
            Event(1, 222, "preempted", "queued", "requeued");
            Event(2, 230, "queued", "scheduled");
            Event(2, 231, "scheduled", "starting");
            Event(2, 232, "starting", "failed", "could not start: no such runtime");
            Event(3, 300, "queued", "scheduled");
            Event(3, 301, "scheduled", "starting");
            Event(3, 302, "starting", "running", "running (attempt 3)", placement);
            Event(3, 402, "running", "succeeded", "exit code 0");
            await db.SaveChangesAsync();
        }

        await server.Services.GetRequiredService<JobMeter>().MeterAsync(CancellationToken.None);
        var ledger = await LedgerAsync(server, orgId);

        Assert.Equal(["job_synthetic:1", "job_synthetic:3"], ledger.Select(e => e.EventId).Order(StringComparer.Ordinal));
        var preempted = ledger.Single(e => e.EventId == "job_synthetic:1").Event;
        Assert.Equal((t0.AddSeconds(2), t0.AddSeconds(222), t0.AddSeconds(102)), (preempted.Start, preempted.End, preempted.NotChargedFrom));
        Assert.Equal(t0.AddSeconds(102), preempted.ChargedUntil);
        Assert.Equal(500, preempted.Quantity);
        Assert.Equal(Tier.Spot, preempted.Dimensions.Tier);
        var resumed = ledger.Single(e => e.EventId == "job_synthetic:3").Event;
        Assert.Equal((t0.AddSeconds(302), t0.AddSeconds(402), (DateTimeOffset?)null), (resumed.Start, resumed.End, resumed.NotChargedFrom));
        Assert.Empty(UsageLedger.Verify(orgId, ledger));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Providers), MemberType = typeof(TestDatabases))]
    public async Task The_writer_ignores_a_replayed_event_and_the_verifier_finds_a_tampered_row(StoreProvider provider)
    {
        await using var server = await StartAsync(provider);
        var (orgId, _) = await server.CreateTenantAsync("acme");
        var writer = server.Services.GetRequiredService<UsageWriter>();
        var t0 = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        var appended = new List<bool>();
        for (var i = 0; i < 3; i++)
            appended.Add(await writer.AppendAsync(UsageEvent.GpuTime($"e{i}", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "local", t0, t0.AddHours(1)), CancellationToken.None));
        appended.Add(await writer.AppendAsync(UsageEvent.GpuTime("e1", orgId, "prj_a", 1000, Tier.OnDemand, "h100-80gb", "local", t0, t0.AddHours(1)), CancellationToken.None));
        Assert.Equal([true, true, true, false], appended);
        Assert.Empty(UsageLedger.Verify(orgId, await LedgerAsync(server, orgId)));

        await using (var db = server.Database.Open())
        {
            var row = await db.UsageEntries.AsTracking().SingleAsync(u => u.Id == "e1");
            row.Quantity = 10;
            await db.SaveChangesAsync();
        }
        var findings = UsageLedger.Verify(orgId, await LedgerAsync(server, orgId));

        var finding = Assert.Single(findings);
        Assert.Equal((ChainFindingKind.Edited, 2L, "e1"), (finding.Kind, finding.Seq, finding.EventId));
    }
}
