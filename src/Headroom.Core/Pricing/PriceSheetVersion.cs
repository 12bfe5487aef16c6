using System.Collections.Frozen;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>
/// One published, immutable version of the price sheet: in force from <see cref="EffectiveFrom"/> until the next
/// version's. Built only by <see cref="PriceSheet"/>, after validation.
/// </summary>
public sealed class PriceSheetVersion
{
    private readonly FrozenDictionary<(string GpuModel, Tier Tier, string Region), GpuRate> _gpu;
    private readonly FrozenDictionary<string, TokenRate> _tokens;

    internal PriceSheetVersion(int number, PriceSheetDraft draft)
    {
        Number = number;
        EffectiveFrom = draft.EffectiveFrom.ToUniversalTime();
        Currency = draft.Currency;
        GpuRates = [.. draft.GpuRates];
        TokenRates = [.. draft.TokenRates];
        BatchDiscount = draft.BatchDiscount;
        Spot = draft.Spot ?? SpotFormula.Default;
        _gpu = GpuRates.ToFrozenDictionary(r => (r.GpuModel, r.Tier, r.Region));
        _tokens = TokenRates.ToFrozenDictionary(r => r.Model, StringComparer.Ordinal);
    }

    /// <summary>1 for the first version, then 2, 3...</summary>
    public int Number { get; }

    public DateTimeOffset EffectiveFrom { get; }

    public string Currency { get; }

    public IReadOnlyList<GpuRate> GpuRates { get; }

    public IReadOnlyList<TokenRate> TokenRates { get; }

    public decimal BatchDiscount { get; }

    public SpotFormula Spot { get; }

    /// <summary>The code a rated charge cites as its price source.</summary>
    public string Source => $"v{Number}";

    public PriceLookup GpuHourly(string gpuModel, Tier tier, string region) =>
        _gpu.TryGetValue((gpuModel, tier, region), out var rate)
            ? PriceLookup.Of(rate.PerGpuHour, Source)
            : PriceLookup.Missing(PriceLookupStatus.NoRate,
                $"Price sheet {Source} has no {MeteringCodes.TierCode(tier)} rate for {gpuModel} in {region}.");

    /// <summary>The per-million price of <paramref name="meter"/> tokens of <paramref name="model"/>, the batch discount applied when <paramref name="batch"/>.</summary>
    public PriceLookup TokenPerMillion(string model, Meter meter, bool batch)
    {
        if (meter is not (Meter.InputTokens or Meter.OutputTokens))
        {
            return PriceLookup.Missing(PriceLookupStatus.NoRate, $"{meter.ToCode()} is not priced per token.");
        }
        if (!_tokens.TryGetValue(model, out var rate))
        {
            return PriceLookup.Missing(PriceLookupStatus.NoRate, $"Price sheet {Source} has no token rate for model {model}.");
        }
        var list = meter == Meter.InputTokens ? rate.InputPerMillion : rate.OutputPerMillion;
        // Exact: list prices have at most 6 places and the discount at most 4.
        return PriceLookup.Of(batch ? list * (1m - BatchDiscount) : list, Source);
    }
}
