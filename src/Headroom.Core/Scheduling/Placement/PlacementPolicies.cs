namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// The placement policies by name, the one place where names become plugins (as config and the
/// CLI name them). Every policy gets its own seeded generator; none reads ambient randomness.
/// </summary>
public static class PlacementPolicies
{
    public const string Random = "random";
    public const string BestFit = "best-fit";
    public const string Fgd = "fgd";
    public const string FgdPack = "fgd-pack";

    /// <summary>The policy Headroom uses when config names none.</summary>
    public const string Default = FgdPack;

    public static IReadOnlyList<string> Names { get; } = [Random, BestFit, Fgd, FgdPack];

    /// <summary>Creates the named policy, or returns null for an unknown name.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="mix">The typical workload mix, for fragmentation-aware policies.</param>
    /// <param name="seed">Seed for the policy's tie-breaking and random choices.</param>
    public static IPlacementPolicy? Create(string name, WorkloadMix mix, int seed) => Create(name, mix, new System.Random(seed));

    /// <summary>Creates the named policy drawing from <paramref name="random"/>, or returns null for an unknown name.</summary>
    public static IPlacementPolicy? Create(string name, WorkloadMix mix, System.Random random) => name switch
    {
        Random => new RandomPolicy(random),
        BestFit => new BestFitPolicy(random),
        Fgd => new FragmentationPolicy(Fgd, mix, random, FragmentationPolicy.Measure.NextPod, FragmentationPolicy.TieBreak.Random),
        FgdPack => new FragmentationPolicy(FgdPack, mix, random, FragmentationPolicy.Measure.WithPacking, FragmentationPolicy.TieBreak.BestFit),
        _ => null,
    };
}
