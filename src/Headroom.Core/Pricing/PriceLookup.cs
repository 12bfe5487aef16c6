namespace Headroom.Core.Pricing;

public enum PriceLookupStatus
{
    Found,
    /// <summary>No price sheet version was in force at that time (before the first one).</summary>
    NoVersionInForce,
    /// <summary>The version in force has no rate for that key (unknown GPU model, region, tier or model).</summary>
    NoRate,
    /// <summary>No spot price was published for the pool at or before that time.</summary>
    NoSpotPrice,
}

/// <summary>
/// The answer to "which rate was in force at time t": a rate and where it came from (<see cref="Source"/>: <c>v3</c>
/// for price sheet version 3, <c>spot@2026-11-26T12:00:00Z</c> for a spot history point), or why there is none.
/// </summary>
public readonly record struct PriceLookup(PriceLookupStatus Status, decimal Rate, string Source, string Reason)
{
    public bool Found => Status == PriceLookupStatus.Found;

    internal static PriceLookup Of(decimal rate, string source) => new(PriceLookupStatus.Found, rate, source, "");

    internal static PriceLookup Missing(PriceLookupStatus status, string reason) => new(status, 0m, "", reason);
}
