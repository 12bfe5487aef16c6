using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Headroom.Core.Scheduling.Placement;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Simulation.Faults;
using Headroom.Core.Simulation.Openb;
using Headroom.Core.Simulation.Trace;

namespace Headroom.Cli.Simulation;

/// <summary>
/// <c>headroom simulate</c>: replays public traces through the Core placement code. This file only
/// reads files, parses arguments and prints; the replay itself is <see cref="OpenbReplay"/>.
/// </summary>
internal static class SimulateCommand
{
    internal static Command Create()
    {
        var simulate = new Command("simulate", "Replay a trace through the scheduler on a virtual clock.");
        simulate.Subcommands.Add(CreateOpenb());
        simulate.Subcommands.Add(CreateTrace());
        simulate.Subcommands.Add(CreateFaults());
        return simulate;
    }

    private static Command CreateFaults()
    {
        var seeds = new Option<string>("--seeds") { Description = "Seeds: a range 1-2000, a list 7,9, or one seed.", DefaultValueFactory = _ => "1-2000" };
        var steps = new Option<int>("--steps") { Description = "Scheduling cycles per seed.", DefaultValueFactory = _ => FaultSimulationOptions.Default.Steps };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var faults = new Command("faults", """
            Drive the scheduler, reservations, metering, the ledger and invoicing with a seeded random workload and injected
            faults (crashes mid-plan, duplicate, reordered and late usage events) on a virtual clock, checking the invariants
            after every step (docs/reliability.md). Exits 1 when any seed breaks one; a failing seed replays exactly.

            Examples:
              headroom simulate faults --seeds 1-100000
              headroom simulate faults --seeds 1234 --steps 500 --json
            """)
        {
            seeds, steps, json,
        };
        faults.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            // A fault-simulation seed takes milliseconds, so long runs of up to a million seeds are allowed.
            if (!TryParseSeeds(parse.GetRequiredValue(seeds), out var seedList, maxRange: 1_000_000))
            {
                error.WriteLine("--seeds: expected a range like 1-2000 (at most a million seeds), a list like 7,9, or one seed");
                return 2;
            }
            if (parse.GetValue(steps) is < 1 or > 100_000)
            {
                error.WriteLine("--steps: must be in 1..100000");
                return 2;
            }
            var options = FaultSimulationOptions.Default with { Steps = parse.GetValue(steps) };
            var results = new FaultSimulationResult[seedList.Count];
            Parallel.For(0, seedList.Count, i => results[i] = FaultSimulation.Run(seedList[i], options));
            var violations = results.SelectMany(r => r.Violations).ToList();
            var failing = results.Where(r => r.Violations.Count > 0).Select(r => r.Seed).ToList();
            var shortest = results.Where(r => r.PreemptionStops > 0).Select(r => r.ShortestNotice).DefaultIfEmpty(TimeSpan.Zero).Min();
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    seeds = results.Length,
                    steps = options.Steps,
                    starts = results.Sum(r => (long)r.Starts),
                    notices = results.Sum(r => (long)r.Notices),
                    preemption_stops = results.Sum(r => (long)r.PreemptionStops),
                    shortest_notice_seconds = shortest.TotalSeconds,
                    crashes = results.Sum(r => (long)r.Crashes),
                    events_metered = results.Sum(r => (long)r.EventsMetered),
                    duplicates_delivered = results.Sum(r => (long)r.DuplicatesDelivered),
                    reservations_admitted = results.Sum(r => (long)r.ReservationsAdmitted),
                    reservations_refused = results.Sum(r => (long)r.ReservationsRefused),
                    failing_seeds = failing,
                    violations = violations.Take(100),
                }));
            }
            else
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{results.Length} seeds × {options.Steps} steps: {results.Sum(r => (long)r.Starts)} starts, {results.Sum(r => (long)r.Notices)} notices, {results.Sum(r => (long)r.PreemptionStops)} preemptions (shortest notice {shortest.TotalSeconds} s), {results.Sum(r => (long)r.Crashes)} crashes, {results.Sum(r => (long)r.EventsMetered)} events metered, {results.Sum(r => (long)r.DuplicatesDelivered)} delivered twice"));
                output.WriteLine(failing.Count == 0 ? "0 violations" : $"{violations.Count} violations in seeds {string.Join(", ", failing.Take(20))}");
                foreach (var v in violations.Take(20))
                    output.WriteLine(v);
            }
            return failing.Count == 0 ? 0 : 1;
        });
        return faults;
    }

    private static Command CreateTrace()
    {
        var fleet = new Option<FileInfo>("--fleet") { Description = "Fleet CSV (sn,cpu_milli,memory_mib,gpu,model), as the openb node list.", Required = true };
        var jobs = new Option<FileInfo>("--jobs") { Description = "Philly jobs CSV (timestamp,duration,num_gpus,gpu_time,cluster).", Required = true };
        var shares = new Option<string>("--shares") { Description = "Share of jobs per tier in percent.", DefaultValueFactory = _ => "internal=40,reserved=10,on-demand=25,spot=25" };
        var start = new Option<string?>("--start") { Description = "Replay jobs arriving from this UTC time (yyyy-MM-dd[THH:mm]); default: the first arrival." };
        var hours = new Option<int>("--hours") { Description = "Length of the arrival window in hours.", DefaultValueFactory = _ => 24 };
        var seed = new Option<int>("--seed") { Description = "Seed for tier draws and tie-breaking.", DefaultValueFactory = _ => 42 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var svg = new Option<FileInfo?>("--svg") { Description = "Also write a chart of GPUs allocated by tier over time." };

        var trace = new Command("trace", "Replay a time-based trace (arrivals, durations, gang sizes) through the tiered scheduler on a virtual clock.")
        {
            fleet, jobs, shares, start, hours, seed, json, svg,
        };
        trace.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!TierShares.TryParse(parse.GetRequiredValue(shares), out var tierShares, out var sharesError))
            {
                error.WriteLine($"--shares: {sharesError}");
                return 2;
            }
            DateTimeOffset? from = null;
            if (parse.GetValue(start) is { } text)
            {
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                {
                    error.WriteLine("--start: expected a UTC time like 2017-10-09 or 2017-10-09T06:00");
                    return 2;
                }
                from = parsed;
            }
            var window = parse.GetValue(hours);
            if (window <= 0)
            {
                error.WriteLine("--hours: must be positive");
                return 2;
            }
            List<SchedulingNode> nodes;
            IReadOnlyList<TraceJob> all;
            try
            {
                nodes = [.. OpenbTrace.ParseNodes(File.ReadAllText(parse.GetRequiredValue(fleet).FullName)).Select(n => new SchedulingNode(n.Name, "default", n.GpuModel, n.GpuCount, n.CpuMilli, n.MemoryMib))];
                all = PhillyTrace.Parse(File.ReadAllText(parse.GetRequiredValue(jobs).FullName));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                error.WriteLine(e.Message);
                return 1;
            }

            var first = from ?? (all.Count > 0 ? all[0].Arrival : DateTimeOffset.UnixEpoch);
            var selected = all.Where(j => j.Arrival >= first && j.Arrival < first.AddHours(window)).ToList();
            var report = TraceReplay.Run(nodes, selected, TraceReplayOptions.Default with { Shares = tierShares, Seed = parse.GetValue(seed) });
            if (parse.GetValue(svg) is { } chart)
                File.WriteAllText(chart.FullName, report.ToSvg());
            if (parse.GetValue(json))
                WriteJson(output, report, selected.Count);
            else
                output.Write(string.Create(CultureInfo.InvariantCulture, $"{selected.Count} jobs arriving in {window} h from {first:yyyy-MM-dd HH:mm} UTC{Environment.NewLine}") + report.ToText());
            return 0;
        });
        return trace;
    }

    private static void WriteJson(TextWriter output, TraceReport report, int jobCount)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteNumber("jobs", jobCount);
            writer.WriteNumber("nodes", report.Nodes);
            writer.WriteNumber("gpus", report.Gpus);
            writer.WriteString("start", report.Start.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            writer.WriteString("end", report.End.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            writer.WriteNumber("utilization_percent", Math.Round(report.UtilizationPercent, 2));
            writer.WriteNumber("arrival_window_utilization_percent", Math.Round(report.ArrivalWindowUtilizationPercent, 2));
            writer.WriteNumber("idle_gpu_hours", Math.Round(report.IdleGpuHours, 1));
            writer.WriteNumber("never_started", report.NeverStarted);
            writer.WriteStartObject("tiers");
            foreach (var t in report.Tiers)
            {
                writer.WriteStartObject(TraceReport.Name(t.Tier));
                writer.WriteNumber("jobs", t.Jobs);
                writer.WriteNumber("started", t.Started);
                writer.WriteNumber("completed", t.Completed);
                writer.WriteNumber("gpu_hours", Math.Round(t.GpuHours, 1));
                writer.WriteNumber("queue_seconds_mean", Math.Round(t.MeanQueueSeconds));
                writer.WriteNumber("queue_seconds_p95", Math.Round(t.P95QueueSeconds));
                writer.WriteNumber("completion_seconds_mean", Math.Round(t.MeanCompletionSeconds));
                writer.WriteNumber("preemptions", t.Preemptions);
                writer.WriteNumber("work_lost_gpu_hours", Math.Round(t.WorkLostGpuHours, 2));
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static Command CreateOpenb()
    {
        var nodes = new Option<FileInfo>("--nodes") { Description = "openb node list CSV (sn,cpu_milli,memory_mib,gpu,model).", Required = true };
        var pods = new Option<FileInfo>("--pods") { Description = "openb pod list CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,...).", Required = true };
        var policy = new Option<string>("--policy")
        {
            Description = "Placement policy.",
            DefaultValueFactory = _ => PlacementPolicies.Default,
        };
        policy.AcceptOnlyFromAmong([.. PlacementPolicies.Names]);
        var seeds = new Option<string>("--seeds") { Description = "Seeds: a range 42-51, a list 42,43, or one seed.", DefaultValueFactory = _ => "42-51" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };

        var openb = new Command("openb", "Replay the FGD paper's openb experiment (pods arrive, never leave; allocation % at x = 90, 100, 130 % of capacity requested).")
        {
            nodes, pods, policy, seeds, json,
        };
        openb.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!TryParseSeeds(parse.GetRequiredValue(seeds), out var seedList))
            {
                error.WriteLine("--seeds: expected a range like 42-51, a list like 42,43, or one seed");
                return 2;
            }
            IReadOnlyList<PlacementNode> nodeList;
            IReadOnlyList<OpenbPod> podList;
            try
            {
                nodeList = OpenbTrace.ParseNodes(File.ReadAllText(parse.GetRequiredValue(nodes).FullName));
                podList = OpenbTrace.ParsePods(File.ReadAllText(parse.GetRequiredValue(pods).FullName));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                error.WriteLine(e.Message);
                return 1;
            }

            var policyName = parse.GetRequiredValue(policy);
            var runs = new OpenbRun[seedList.Count];
            // Seeds are independent replays; each is deterministic, so running them in parallel changes nothing but the wall time.
            Parallel.For(0, seedList.Count, i => runs[i] = OpenbReplay.Run(nodeList, podList, policyName, seedList[i])!);
            var summary = OpenbSummary.Of(policyName, seedList, runs, OpenbReplay.ReportedLevels);
            if (parse.GetValue(json))
                WriteJson(output, summary);
            else
                WriteTable(output, summary, nodeList, podList.Count);
            return 0;
        });
        return openb;
    }

    internal static bool TryParseSeeds(string text, out List<int> seeds, int maxRange = 10_000)
    {
        seeds = [];
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                if (!int.TryParse(part[..dash], NumberStyles.Integer, CultureInfo.InvariantCulture, out var from)
                    || !int.TryParse(part[(dash + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var to)
                    || to < from || to - from > maxRange)
                    return false;
                for (var s = from; s <= to; s++)
                    seeds.Add(s);
            }
            else if (int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
            {
                seeds.Add(seed);
            }
            else
            {
                return false;
            }
        }
        return seeds.Count > 0;
    }

    private static void WriteTable(TextWriter output, OpenbSummary summary, IReadOnlyList<PlacementNode> nodes, int podCount)
    {
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(inv, $"policy {summary.Policy}: {nodes.Count} nodes, {nodes.Sum(n => n.GpuCount)} GPUs, {podCount} pods, inflated to {OpenbReplay.DefaultInflationPercent} %"));
        output.WriteLine("seed   " + string.Concat(OpenbReplay.ReportedLevels.Select(x => $"{"x=" + x,-16}")) + "placed/offered");
        for (var i = 0; i < summary.Runs.Count; i++)
        {
            var run = summary.Runs[i];
            output.WriteLine(string.Create(inv, $"{summary.Seeds[i],-7}") + string.Concat(OpenbReplay.ReportedLevels.Select(x => string.Format(inv, "{0,-16:F2}", run.At(x)))) + string.Create(inv, $"{run.Placed}/{run.Decisions}"));
        }
        output.WriteLine("mean   " + string.Concat(OpenbReplay.ReportedLevels.Select(x => string.Format(inv, "{0,-16}", string.Create(inv, $"{summary.Alloc[x].Mean:F2} ± {summary.Alloc[x].Sd:F2}")))));
    }

    private static void WriteJson(TextWriter output, OpenbSummary summary)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("policy", summary.Policy);
            writer.WriteStartArray("seeds");
            foreach (var seed in summary.Seeds)
                writer.WriteNumberValue(seed);
            writer.WriteEndArray();
            writer.WriteStartObject("alloc");
            foreach (var x in OpenbReplay.ReportedLevels)
            {
                writer.WriteStartObject(x.ToString(CultureInfo.InvariantCulture));
                writer.WriteNumber("mean", Math.Round(summary.Alloc[x].Mean, 3));
                writer.WriteNumber("sd", Math.Round(summary.Alloc[x].Sd, 3));
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
