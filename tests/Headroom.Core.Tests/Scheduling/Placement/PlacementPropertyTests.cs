using CsCheck;
using Headroom.Core.Scheduling.Placement;

namespace Headroom.Core.Tests.Scheduling.Placement;

/// <summary>Invariants every policy keeps, over random fleets and request sequences.</summary>
public sealed class PlacementPropertyTests
{
    private static readonly Gen<PlacementNode> GenNode =
        Gen.Select(Gen.Int[1, 8], Gen.Int[1, 4], Gen.Int[4, 64], Gen.OneOf<string>("h100-80gb", "a100-40gb", "t4"))
            .Select((gpus, cpuPerGpu, memPerGpu, model) => new PlacementNode("n", model, gpus, gpus * cpuPerGpu * 4_000, gpus * memPerGpu * 1_024));

    private static readonly Gen<PlacementRequest> GenRequest = Gen.Frequency(
        (4, Gen.Select(Gen.Int[1, 8], Gen.Int[1, 16]).Select((n, cpu) => new PlacementRequest(cpu * 1_000, 4_096, n, PlacementRequest.MilliPerGpu))),
        (4, Gen.Select(Gen.Int[1, 19], Gen.Int[1, 8]).Select((share, cpu) => new PlacementRequest(cpu * 1_000, 2_048, 1, share * 50))),
        (1, Gen.Int[1, 16].Select(cpu => new PlacementRequest(cpu * 1_000, 1_024, 0, 0))));

    private static readonly Gen<(PlacementNode[] Nodes, PlacementRequest[] Requests, string Policy, int Seed)> GenCase =
        Gen.Select(
            GenNode.Array[1, 6].Select(ns => ns.Select((n, i) => n with { Name = $"n{i}" }).ToArray()),
            GenRequest.Array[1, 60],
            Gen.OneOf<string>([.. PlacementPolicies.Names]),
            Gen.Int);

    [Fact]
    public void No_GPU_CPU_or_memory_is_ever_overcommitted_and_whole_GPU_requests_are_all_or_nothing()
    {
        GenCase.Sample(c =>
        {
            var fleet = PlacementFleet.Create(c.Nodes);
            var mix = WorkloadMix.From(c.Requests);
            var policy = PlacementPolicies.Create(c.Policy, mix, c.Seed)!;
            long placedMilli = 0;
            foreach (var raw in c.Requests)
            {
                var request = mix.Tag(raw);
                var fitsSomewhere = Enumerable.Range(0, fleet.NodeCount).Any(n => fleet.Fits(n, request));
                var choice = policy.Choose(fleet, request);
                Assert.Equal(fitsSomewhere, choice.Found);
                if (!choice.Found)
                    continue;

                var before = fleet.GpuFree(choice.Node).ToArray();
                Assert.True(fleet.Place(choice.Node, choice.Gpu, request));
                var after = fleet.GpuFree(choice.Node).ToArray();
                placedMilli += request.TotalGpuMilli;

                var changed = before.Zip(after).Count(p => p.First != p.Second);
                if (request.GpuCount == 0)
                    Assert.Equal(0, changed);
                else if (request.IsFractional)
                    Assert.Equal(request.GpuMilli, before.Sum() - after.Sum());
                else
                    Assert.Equal(request.GpuCount, before.Zip(after).Count(p => p.First == PlacementRequest.MilliPerGpu && p.Second == 0));
            }

            for (var n = 0; n < fleet.NodeCount; n++)
            {
                Assert.All(fleet.GpuFree(n).ToArray(), f => Assert.InRange(f, 0, PlacementRequest.MilliPerGpu));
                Assert.InRange(fleet.CpuFree(n), 0, fleet.CpuCapacity(n));
                Assert.InRange(fleet.MemoryFree(n), 0, fleet.MemoryCapacity(n));
            }
            Assert.Equal(placedMilli, fleet.UsedGpuMilli);
        }, iter: 300);
    }

    [Fact]
    public void The_same_seed_gives_the_same_placements()
    {
        GenCase.Sample(c =>
        {
            Assert.Equal(Replay(c.Nodes, c.Requests, c.Policy, c.Seed), Replay(c.Nodes, c.Requests, c.Policy, c.Seed));
        }, iter: 200);
    }

    private static List<PlacementChoice> Replay(PlacementNode[] nodes, PlacementRequest[] requests, string policyName, int seed)
    {
        var fleet = PlacementFleet.Create(nodes);
        var mix = WorkloadMix.From(requests);
        var policy = PlacementPolicies.Create(policyName, mix, seed)!;
        var choices = new List<PlacementChoice>();
        foreach (var raw in requests)
        {
            var request = mix.Tag(raw);
            var choice = policy.Choose(fleet, request);
            if (choice.Found)
                fleet.Place(choice.Node, choice.Gpu, request);
            choices.Add(choice);
        }
        return choices;
    }
}
