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
    public const string FgdBestFit = "fgd-best-fit";

    /// <summary>The policy Headroom uses when config names none.</summary>
    public const string Default = FgdBestFit;

    public static IReadOnlyList<string> Names { get; } = [Random, BestFit, Fgd, FgdBestFit];

    /// <summary>Creates the named policy, or returns null for an unknown name.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="mix">The typical workload mix, for fragmentation-aware policies.</param>
    /// <param name="seed">Seed for the policy's tie-breaking and random choices.</param>
    public static IPlacementPolicy? Create(string name, WorkloadMix mix, int seed) => name switch
    {
        Random => new RandomPolicy(new System.Random(seed)),
        BestFit => new BestFitPolicy(new System.Random(seed)),
        Fgd => new FragmentationPolicy(Fgd, mix, new System.Random(seed), FragmentationPolicy.TieBreak.Random),
        FgdBestFit => new FragmentationPolicy(FgdBestFit, mix, new System.Random(seed), FragmentationPolicy.TieBreak.BestFit),
        _ => null,
    };
}
