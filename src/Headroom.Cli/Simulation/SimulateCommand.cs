using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Headroom.Core.Scheduling.Placement;
using Headroom.Core.Simulation.Openb;

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
        return simulate;
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

    internal static bool TryParseSeeds(string text, out List<int> seeds)
    {
        seeds = [];
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                if (!int.TryParse(part[..dash], NumberStyles.Integer, CultureInfo.InvariantCulture, out var from)
                    || !int.TryParse(part[(dash + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var to)
                    || to < from || to - from > 10_000)
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
