using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>The list price of one GPU of <paramref name="GpuModel"/> for one hour, in <paramref name="Tier"/>, in <paramref name="Region"/>.</summary>
/// <remarks>For <see cref="Tier.Spot"/> this is the spot <em>base</em> price that <see cref="SpotFormula"/> moves.</remarks>
public sealed record GpuRate(string GpuModel, Tier Tier, string Region, decimal PerGpuHour);

/// <summary>The list price of one million input and output tokens of a hosted <paramref name="Model"/>.</summary>
public sealed record TokenRate(string Model, decimal InputPerMillion, decimal OutputPerMillion);

/// <summary>
/// How the spot price of a pool (region × GPU model) follows its utilization u = used / total milli-GPUs:
/// <c>price = clamp(base × (1 + Slope × (u − Knee)), base × FloorFactor, base × CeilingFactor)</c>, rounded half-even
/// to <see cref="SpotPricing.PriceDecimals"/> places. Below the knee spot gets cheaper than its base, above it dearer.
/// </summary>
public sealed record SpotFormula(decimal Slope, decimal Knee, decimal FloorFactor, decimal CeilingFactor)
{
    /// <summary>Base price at half utilization, 50 % off when idle, 50 % more when full.</summary>
    public static SpotFormula Default { get; } = new(Slope: 1m, Knee: 0.5m, FloorFactor: 0.5m, CeilingFactor: 1.5m);
}

/// <summary>
/// What a fleet-admin submits to create a price sheet version. <see cref="BatchDiscount"/> is the fraction taken off
/// token prices for batch API traffic (0.5 = half price).
/// </summary>
public sealed record PriceSheetDraft(
    DateTimeOffset EffectiveFrom,
    string Currency,
    IReadOnlyList<GpuRate> GpuRates,
    IReadOnlyList<TokenRate> TokenRates,
    decimal BatchDiscount = 0m,
    SpotFormula? Spot = null);
