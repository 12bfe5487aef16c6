using System.Diagnostics;
using System.Globalization;
using Headroom.Core.Scheduling.Placement;
using Headroom.Core.Simulation.Openb;

// Usage: dotnet run -c Release --project bench/Headroom.Bench [-- speed|policies|mixes|all]
// Every figure is single-threaded: one replay at a time on one core. Wall time counts the time
// the thread waited for a core on a busy machine; CPU time is the process's processor time.
var what = args.Length > 0 ? args[0] : "all";
var data = Path.Combine(AppContext.BaseDirectory, "data", "openb");
var nodes = OpenbTrace.ParseNodes(File.ReadAllText(Path.Combine(data, "openb_node_list_gpu_node.csv")));
var pods = OpenbTrace.ParsePods(File.ReadAllText(Path.Combine(data, "openb_pod_list_default.csv")));
int[] seeds = [42, 43, 44, 45, 46, 47, 48, 49, 50, 51];
var inv = CultureInfo.InvariantCulture;

Console.WriteLine(string.Create(inv, $"{Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}"));

if (what is "speed" or "all")
{
    Console.WriteLine();
    Console.WriteLine("| fleet | policy | decisions | wall s | decisions/s (wall) | decisions/s (CPU time) |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
    foreach (var policy in PlacementPolicies.Names)
        Speed("openb, 1,213 nodes, 6,212 GPUs", nodes, pods, policy, seeds);
    var synthetic = SyntheticFleet(12_500, seed: 7);
    foreach (var policy in PlacementPolicies.Names)
        Speed("synthetic, 12,500 nodes, 100,000 GPUs", synthetic, pods, policy, [42]);
}

if (what is "policies" or "all")
{
    Console.WriteLine();
    Console.WriteLine("openb default pod list, seeds 42..51, mean ± sd of allocation %:");
    Console.WriteLine("| policy | x = 90 | x = 100 | x = 130 |");
    Console.WriteLine("| --- | --- | --- | --- |");
    foreach (var policy in PlacementPolicies.Names)
        Console.WriteLine(Row(policy, Summarize(nodes, pods, policy, seeds)));
}

if (what is "mixes" or "all")
{
    // Other workload mixes built from the same trace, to check a policy is not tuned to one file.
    var mixes = new (string Name, IReadOnlyList<OpenbPod> Pods)[]
    {
        ("default", pods),
        ("sharing-heavy: half the whole-GPU pods dropped", [.. pods.Where((p, i) => p.GpuMilli < 1000 || i % 2 == 0)]),
        ("multi-GPU-heavy: 2/4/8-GPU pods ×10", [.. pods.SelectMany(p => p.GpuCount > 1 ? Enumerable.Range(0, 10).Select(k => p with { Name = $"{p.Name}-{k}" }) : [p])]),
        ("model-constrained: every third GPU pod pinned to its node's model family", [.. pods.Select((p, i) => p.GpuCount > 0 && i % 3 == 0 ? p with { GpuModels = i % 2 == 0 ? ["G2", "G3"] : ["T4", "P100", "V100M16", "V100M32"] } : p)]),
        ("CPU-heavy: CPU per pod ×1.5", [.. pods.Select(p => p with { CpuMilli = p.CpuMilli * 3 / 2 })]),
    };
    foreach (var (name, mixPods) in mixes)
    {
        Console.WriteLine();
        Console.WriteLine($"mix {name} ({mixPods.Count} pods), seeds 42..51:");
        Console.WriteLine("| policy | x = 90 | x = 100 | x = 130 |");
        Console.WriteLine("| --- | --- | --- | --- |");
        foreach (var policy in PlacementPolicies.Names)
            Console.WriteLine(Row(policy, Summarize(nodes, mixPods, policy, seeds)));
    }
}

string Row(string policy, OpenbSummary s) => string.Create(inv,
    $"| {policy} | {s.Alloc[90].Mean:F2} ± {s.Alloc[90].Sd:F2} | {s.Alloc[100].Mean:F2} ± {s.Alloc[100].Sd:F2} | {s.Alloc[130].Mean:F2} ± {s.Alloc[130].Sd:F2} |");

static OpenbSummary Summarize(IReadOnlyList<PlacementNode> nodes, IReadOnlyList<OpenbPod> pods, string policy, int[] seeds) =>
    OpenbSummary.Of(policy, seeds, [.. seeds.Select(seed => OpenbReplay.Run(nodes, pods, policy, seed)!)], OpenbReplay.ReportedLevels);

// Times only the decisions and placements of full replays to 130 %, fleet and order prepared beforehand.
void Speed(string fleetName, IReadOnlyList<PlacementNode> fleetNodes, IReadOnlyList<OpenbPod> podList, string policyName, int[] runSeeds)
{
    long decisions = 0;
    var elapsed = TimeSpan.Zero;
    var cpu = TimeSpan.Zero;
    foreach (var seed in runSeeds)
    {
        var fleet = PlacementFleet.Create(fleetNodes);
        var requests = OpenbReplay.Requests(fleet, podList, out var mix);
        var random = new Random(seed);
        var order = OpenbReplay.ArrivalOrder(podList, requests, fleet.TotalGpuMilli, random, OpenbReplay.DefaultInflationPercent);
        var policy = PlacementPolicies.Create(policyName, mix, random)!;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        foreach (var i in order)
        {
            var choice = policy.Choose(fleet, requests[i]);
            if (choice.Found)
                fleet.Place(choice.Node, choice.Gpu, requests[i]);
        }
        elapsed += clock.Elapsed;
        cpu += Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        decisions += order.Length;
    }
    Console.WriteLine(string.Create(inv, $"| {fleetName} | {policyName} | {decisions:N0} | {elapsed.TotalSeconds:F2} | {decisions / elapsed.TotalSeconds:N0} | {decisions / cpu.TotalSeconds:N0} |"));
}

// 100,000 GPUs in 12,500 eight-GPU nodes shaped like openb's own eight-GPU nodes.
static List<PlacementNode> SyntheticFleet(int count, int seed)
{
    var random = new Random(seed);
    (string Model, int Cpu, int Mem)[] shapes = [("G2", 96_000, 393_216), ("G3", 128_000, 786_432), ("V100M32", 96_000, 786_432), ("V100M16", 64_000, 262_144)];
    return [.. Enumerable.Range(0, count).Select(i =>
    {
        var s = shapes[random.Next(10) switch { < 7 => 0, 7 => 1, 8 => 2, _ => 3 }];
        return new PlacementNode($"syn-{i:D5}", s.Model, 8, s.Cpu, s.Mem);
    })];
}
