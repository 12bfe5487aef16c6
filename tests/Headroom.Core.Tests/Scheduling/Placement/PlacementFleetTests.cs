using Headroom.Core.Scheduling.Placement;
using static Headroom.Core.Tests.Scheduling.Placement.Requests;

namespace Headroom.Core.Tests.Scheduling.Placement;

public sealed class PlacementFleetTests
{
    public static TheoryData<string, int[], int, PlacementRequest, bool> FitCases => new()
    {
        { "whole GPUs fit on an empty node", [], 96_000, Gpus(8), true },
        { "whole GPUs need completely free GPUs", [100, 0, 0, 0, 0, 0, 0, 0], 96_000, Gpus(8), false },
        { "a share fits on a partly used GPU", [500, 1000, 1000, 1000, 1000, 1000, 1000, 1000], 96_000, Share(500), true },
        { "a share does not span GPUs", [600, 600, 600, 600, 600, 600, 600, 600], 96_000, Share(500), false },
        { "CPU must fit too", [], 4_000, Gpus(1, cpuMilli: 8_000), false },
        { "a CPU-only request needs no GPU", [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000], 96_000, CpuOnly(8_000), true },
    };

    [Theory]
    [MemberData(nameof(FitCases))]
    public void Fits_follows_the_shape_rules(string because, int[] used, int cpuMilli, PlacementRequest request, bool fits)
    {
        var fleet = new FleetBuilder().Node("a", cpuMilli: cpuMilli).WithUsed(used).Build();

        Assert.True(fleet.Fits(0, request) == fits, because);
        Assert.Equal(fits, fleet.Place(0, -1, request));
    }

    [Fact]
    public void Placing_whole_GPUs_takes_the_lowest_free_ones()
    {
        var fleet = new FleetBuilder().Node("a", gpus: 4).WithUsed(0, 300).Build();

        Assert.True(fleet.Place(0, -1, Gpus(2)));

        Assert.Equal([0, 700, 0, 1000], fleet.GpuFree(0).ToArray());
        Assert.Equal(1, fleet.WholeGpusFree(0));
        Assert.Equal(2_300, fleet.UsedGpuMilli);
    }

    [Fact]
    public void A_share_without_a_chosen_GPU_takes_the_tightest_that_fits()
    {
        var fleet = new FleetBuilder().Node("a", gpus: 4).WithUsed(0, 500, 200, 900).Build();

        Assert.True(fleet.Place(0, -1, Share(400)));

        Assert.Equal([1000, 100, 800, 100], fleet.GpuFree(0).ToArray());
    }

    [Fact]
    public void A_failed_placement_changes_nothing()
    {
        var fleet = new FleetBuilder().Node("a", gpus: 2).WithUsed(500, 0).Build();
        var version = fleet.NodeVersion(0);

        Assert.False(fleet.Place(0, 0, Share(600)));

        Assert.Equal([500, 1000], fleet.GpuFree(0).ToArray());
        Assert.Equal(version, fleet.NodeVersion(0));
    }

    [Fact]
    public void A_model_set_naming_no_model_of_the_fleet_matches_nothing()
    {
        var fleet = new FleetBuilder().Node("a", model: "h100-80gb").Build();
        var request = Gpus(1) with { ModelMask = fleet.ModelMask(["a100-40gb"]) };

        Assert.False(fleet.Fits(0, request));
        Assert.True(fleet.Fits(0, Gpus(1) with { ModelMask = fleet.ModelMask(["a100-40gb", "h100-80gb"]) }));
    }

    [Fact]
    public void A_node_that_uses_more_than_it_has_is_rejected()
    {
        var nodes = new FleetBuilder().Node("a", cpuMilli: 1_000).WithCpuUsed(2_000).Nodes;

        Assert.Throws<ArgumentException>(() => PlacementFleet.Create(nodes));
    }
}
