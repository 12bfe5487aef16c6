using Headroom.Core.Scheduling.Placement;
using Headroom.Core.Simulation.Openb;

namespace Headroom.Core.Tests.Simulation;

/// <summary>
/// Keeps the openb harness honest in CI with two seeds per policy (well under a second each);
/// the ten-seed comparison lives in bench/ and <c>headroom simulate openb</c>.
/// </summary>
public sealed class OpenbReplayTests
{
    private static readonly Lazy<(IReadOnlyList<PlacementNode> Nodes, IReadOnlyList<OpenbPod> Pods)> Trace = new(() => (
        OpenbTrace.ParseNodes(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "openb", "openb_node_list_gpu_node.csv"))),
        OpenbTrace.ParsePods(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "openb", "openb_pod_list_default.csv")))));

    [Fact]
    public void The_trace_has_the_published_fleet_and_pod_list()
    {
        var (nodes, pods) = Trace.Value;

        Assert.Equal(1_213, nodes.Count);
        Assert.Equal(6_212, nodes.Sum(n => n.GpuCount));
        Assert.Equal(8_152, pods.Count);
    }

    // Published means at x = 130 (± sd over ten seeds): Random 87.47 ± 0.32, BestFit 93.08 ± 0.13,
    // FGD 95.39 ± 0.08. Two seeds get a band of about three published sd around the mean.
    [Theory]
    [InlineData(PlacementPolicies.Random, 86.5, 88.5)]
    [InlineData(PlacementPolicies.BestFit, 92.6, 93.6)]
    [InlineData(PlacementPolicies.FgdPack, 95.39, 100)]
    public void Two_seeds_land_in_the_published_range_at_130_percent(string policy, double low, double high)
    {
        var (nodes, pods) = Trace.Value;

        var runs = new[] { 42, 43 }.Select(seed => OpenbReplay.Run(nodes, pods, policy, seed)!).ToList();
        var summary = OpenbSummary.Of(policy, [42, 43], runs, OpenbReplay.ReportedLevels);

        Assert.InRange(summary.Alloc[130].Mean, low, high);
        Assert.InRange(summary.Alloc[90].Mean, 84, 90.5);
    }

    [Fact]
    public void Arrival_order_is_a_shuffle_of_every_pod_then_draws_up_to_the_inflation_limit()
    {
        var (nodes, pods) = Trace.Value;
        var fleet = PlacementFleet.Create(nodes);
        var requests = OpenbReplay.Requests(fleet, pods, out _);

        var order = OpenbReplay.ArrivalOrder(pods, requests, fleet.TotalGpuMilli, new Random(42), inflationPercent: 130);

        Assert.Equal(pods.Count, order.Take(pods.Count).Distinct().Count());
        var requested = order.Sum(i => (long)requests[i].TotalGpuMilli);
        Assert.InRange(requested, fleet.TotalGpuMilli * 129 / 100, fleet.TotalGpuMilli * 130 / 100);
        Assert.Equal(order, OpenbReplay.ArrivalOrder(pods, requests, fleet.TotalGpuMilli, new Random(42), inflationPercent: 130));
    }

    [Fact]
    public void Malformed_rows_are_reported_with_their_line_numbers()
    {
        const string csv = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1000,1024,1,500,\np1,x,1024,1,500,\np2,1000,1024,2,500,\n";

        var error = Assert.Throws<FormatException>(() => OpenbTrace.ParsePods(csv));

        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("line 4: a fractional GPU share needs exactly one GPU", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpu_spec_lists_allowed_models()
    {
        const string csv = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1000,1024,1,1000,V100M16|V100M32\n";

        Assert.Equal(["V100M16", "V100M32"], OpenbTrace.ParsePods(csv)[0].GpuModels);
    }
}
