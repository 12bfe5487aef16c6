using Headroom.Core.Scheduling.Placement;
using static Headroom.Core.Tests.Scheduling.Placement.Requests;

namespace Headroom.Core.Tests.Scheduling.Placement;

public sealed class PlacementPolicyTests
{
    private static readonly WorkloadMix NoMix = WorkloadMix.From([]);

    [Fact]
    public void Every_named_policy_can_be_created_and_unknown_names_cannot()
    {
        foreach (var name in PlacementPolicies.Names)
            Assert.Equal(name, PlacementPolicies.Create(name, NoMix, seed: 1)!.Name);

        Assert.Null(PlacementPolicies.Create("first-fit", NoMix, seed: 1));
    }

    [Theory]
    [InlineData(PlacementPolicies.Random)]
    [InlineData(PlacementPolicies.BestFit)]
    [InlineData(PlacementPolicies.Fgd)]
    [InlineData(PlacementPolicies.FgdPack)]
    public void No_policy_places_where_nothing_fits(string policy)
    {
        var fleet = new FleetBuilder().Node("a", gpus: 2).WithUsed(1000, 600).Node("b", gpus: 8, model: "t4").Build();
        var request = Share(500) with { ModelMask = fleet.ModelMask(["h100-80gb"]) };

        var choice = PlacementPolicies.Create(policy, WorkloadMix.From([request]), seed: 7)!.Choose(fleet, request);

        Assert.False(choice.Found);
    }

    [Fact]
    public void Best_fit_picks_the_node_left_with_the_least()
    {
        var fleet = new FleetBuilder()
            .Node("empty")
            .Node("half-full").WithUsed(1000, 1000, 1000, 1000)
            .Node("almost-full").WithUsed(1000, 1000, 1000, 1000, 1000, 1000, 1000)
            .Build();

        var choice = new BestFitPolicy(new Random(1)).Choose(fleet, Gpus(1));

        Assert.Equal("almost-full", fleet.NodeName(choice.Node));
    }

    [Fact]
    public void Fgd_puts_a_share_on_a_used_GPU_rather_than_break_a_whole_one()
    {
        // Mix: whole GPUs are common, so breaking the last whole GPU of node "b" strands it for them.
        var mix = WorkloadMix.From([Gpus(1), Gpus(1), Gpus(1), Share(300)]);
        var fleet = new FleetBuilder()
            .Node("a", gpus: 2).WithUsed(1000, 600)
            .Node("b", gpus: 2).WithUsed(1000, 0)
            .Build();

        foreach (var name in new[] { PlacementPolicies.Fgd, PlacementPolicies.FgdPack })
        {
            var choice = PlacementPolicies.Create(name, mix, seed: 3)!.Choose(fleet, mix.Tag(Share(300)));
            Assert.Equal(("a", 1), (fleet.NodeName(choice.Node), choice.Gpu));
        }
    }

    [Fact]
    public void Fgd_keeps_whole_nodes_whole_for_eight_GPU_jobs()
    {
        var mix = WorkloadMix.From([Gpus(8), Gpus(1)]);
        var fleet = new FleetBuilder()
            .Node("empty")
            .Node("started").WithUsed(1000)
            .Build();

        var choice = PlacementPolicies.Create(PlacementPolicies.Fgd, mix, seed: 3)!.Choose(fleet, mix.Tag(Gpus(1)));

        Assert.Equal("started", fleet.NodeName(choice.Node));
    }

    [Fact]
    public void Fgd_pack_counts_the_remainder_a_share_leaves_on_each_GPU()
    {
        // An 810 share leaves 190 on a fresh GPU; on GPU 1 (900 free) it leaves 90. The
        // next-pod measure sees no difference for the mix's 810 shape; the packing one does.
        var mix = WorkloadMix.From([Share(810)]);
        var fleet = new FleetBuilder().Node("a", gpus: 2).WithUsed(0, 100).Build();

        var choice = PlacementPolicies.Create(PlacementPolicies.FgdPack, mix, seed: 3)!.Choose(fleet, mix.Tag(Share(810)));

        Assert.Equal(1, choice.Gpu);
    }

    [Fact]
    public void A_cached_score_is_not_reused_after_the_node_changes()
    {
        var mix = WorkloadMix.From([Gpus(1), Share(500)]);
        var fleet = new FleetBuilder().Node("a", gpus: 2).Node("b", gpus: 2).Build();
        var policy = PlacementPolicies.Create(PlacementPolicies.FgdPack, mix, seed: 5)!;
        var share = mix.Tag(Share(500));

        var first = policy.Choose(fleet, share);
        Assert.True(fleet.Place(first.Node, first.Gpu, share));
        var second = policy.Choose(fleet, share);

        Assert.Equal((first.Node, first.Gpu), (second.Node, second.Gpu)); // the half-used GPU, not a fresh one
    }
}
