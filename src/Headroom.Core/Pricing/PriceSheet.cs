using System.Collections.Immutable;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>
/// The whole price history: versions in order of <see cref="PriceSheetVersion.EffectiveFrom"/>, each in force until
/// the next. Immutable: <see cref="Publish"/> returns a new sheet and never changes a version already published, so a
/// bill computed yesterday computes the same today.
/// </summary>
public sealed class PriceSheet
{
    /// <summary>The most a list price may be per GPU-hour or per million tokens; keeps every product exact.</summary>
    public const decimal MaxPrice = 1_000_000m;

    private readonly ImmutableArray<PriceSheetVersion> _versions;

    private PriceSheet(ImmutableArray<PriceSheetVersion> versions) => _versions = versions;

    public static PriceSheet Empty { get; } = new([]);

    public IReadOnlyList<PriceSheetVersion> Versions => _versions;

    /// <summary>The sheet's currency (ISO 4217), or null while no version exists.</summary>
    public string? Currency => _versions.IsEmpty ? null : _versions[0].Currency;

    /// <summary>
    /// Adds a version that takes effect at <see cref="PriceSheetDraft.EffectiveFrom"/>, which must be no earlier than
    /// <paramref name="now"/> and after the latest version: prices change going forward only.
    /// </summary>
    public PricingResult<PriceSheet> Publish(PriceSheetDraft draft, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(draft);
        var problems = Validate(draft).ToList();
        if (draft.EffectiveFrom < now)
        {
            problems.Add(new("effective_from", $"{draft.EffectiveFrom:O} is in the past (now is {now:O}); a new version only changes prices going forward."));
        }
        problems.AddRange(CheckSuccession(draft, _versions.IsEmpty ? null : _versions[^1]));
        return problems.Count > 0
            ? PricingResult<PriceSheet>.Failure(problems)
            : PricingResult<PriceSheet>.Success(new(_versions.Add(new PriceSheetVersion(_versions.Length + 1, draft))));
    }

    /// <summary>
    /// Rebuilds a sheet from versions published earlier (as the store keeps them), in order. Versions are numbered
    /// 1, 2, 3... in the order given; paths name the version (<c>versions[2].gpu_rates[0]...</c>).
    /// </summary>
    public static PricingResult<PriceSheet> Load(IEnumerable<PriceSheetDraft> drafts)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        var problems = new List<PricingProblem>();
        var versions = ImmutableArray.CreateBuilder<PriceSheetVersion>();
        var index = 0;
        foreach (var draft in drafts)
        {
            var prefix = $"versions[{index}]";
            var own = Validate(draft).Concat(CheckSuccession(draft, versions.Count == 0 ? null : versions[^1])).ToList();
            problems.AddRange(own.Select(p => p with { Path = $"{prefix}.{p.Path}" }));
            if (own.Count == 0)
            {
                versions.Add(new PriceSheetVersion(versions.Count + 1, draft));
            }
            index++;
        }
        return problems.Count > 0
            ? PricingResult<PriceSheet>.Failure(problems)
            : PricingResult<PriceSheet>.Success(new(versions.ToImmutable()));
    }

    /// <summary>The version in force at <paramref name="time"/>: the last one with EffectiveFrom ≤ time, or null before the first.</summary>
    public PriceSheetVersion? VersionAt(DateTimeOffset time)
    {
        var index = IndexAt(time.ToUnixTimeSeconds());
        return index < 0 ? null : _versions[index];
    }

    public PriceLookup GpuHourlyAt(string gpuModel, Tier tier, string region, DateTimeOffset time) =>
        VersionAt(time) is { } version ? version.GpuHourly(gpuModel, tier, region) : NoVersion(time);

    public PriceLookup TokenPerMillionAt(string model, Meter meter, bool batch, DateTimeOffset time) =>
        VersionAt(time) is { } version ? version.TokenPerMillion(model, meter, batch) : NoVersion(time);

    /// <summary>Every problem with <paramref name="draft"/> on its own, in field order; empty when it can be published.</summary>
    public static IReadOnlyList<PricingProblem> Validate(PriceSheetDraft draft)
    {
        ArgumentNullException.ThrowIfNull(draft);
        var problems = new List<PricingProblem>();
        if (draft.EffectiveFrom.UtcTicks % TimeSpan.TicksPerSecond != 0)
        {
            problems.Add(new("effective_from", "must be on a whole second: billing is per second."));
        }
        if (draft.Currency is not { Length: 3 } currency || !currency.All(char.IsAsciiLetterUpper))
        {
            problems.Add(new("currency", $"'{draft.Currency}' is not a three-letter ISO 4217 code such as USD."));
        }

        var gpuRates = draft.GpuRates ?? [];
        if (draft.GpuRates is null)
        {
            problems.Add(new("gpu_rates", "required (may be empty)."));
        }
        var seenGpu = new Dictionary<(string, Tier, string), int>();
        for (var i = 0; i < gpuRates.Count; i++)
        {
            var path = $"gpu_rates[{i}]";
            var rate = gpuRates[i];
            if (rate is null)
            {
                problems.Add(new(path, "required."));
                continue;
            }
            Name(problems, $"{path}.gpu_model", rate.GpuModel);
            Name(problems, $"{path}.region", rate.Region);
            if (MeteringCodes.TierCode(rate.Tier) is null)
            {
                problems.Add(new($"{path}.tier", $"unknown value {(int)rate.Tier}."));
            }
            else if (rate.GpuModel is not null && rate.Region is not null)
            {
                if (seenGpu.TryGetValue((rate.GpuModel, rate.Tier, rate.Region), out var first))
                {
                    problems.Add(new(path, $"duplicates gpu_rates[{first}] ({rate.GpuModel}, {MeteringCodes.TierCode(rate.Tier)}, {rate.Region})."));
                }
                else
                {
                    seenGpu.Add((rate.GpuModel, rate.Tier, rate.Region), i);
                }
            }
            Price(problems, $"{path}.per_gpu_hour", rate.PerGpuHour);
        }

        var tokenRates = draft.TokenRates ?? [];
        if (draft.TokenRates is null)
        {
            problems.Add(new("token_rates", "required (may be empty)."));
        }
        var seenModels = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < tokenRates.Count; i++)
        {
            var path = $"token_rates[{i}]";
            var rate = tokenRates[i];
            if (rate is null)
            {
                problems.Add(new(path, "required."));
                continue;
            }
            Name(problems, $"{path}.model", rate.Model);
            if (rate.Model is not null)
            {
                if (seenModels.TryGetValue(rate.Model, out var first))
                {
                    problems.Add(new(path, $"duplicates token_rates[{first}] ({rate.Model})."));
                }
                else
                {
                    seenModels.Add(rate.Model, i);
                }
            }
            Price(problems, $"{path}.input_per_million", rate.InputPerMillion);
            Price(problems, $"{path}.output_per_million", rate.OutputPerMillion);
        }

        if (draft.BatchDiscount is < 0m or > 1m)
        {
            problems.Add(new("batch_discount", $"{draft.BatchDiscount} is not a fraction between 0 and 1."));
        }
        else if (BillingMath.DecimalPlaces(draft.BatchDiscount) > 4)
        {
            problems.Add(new("batch_discount", "has more than 4 decimal places."));
        }

        if (draft.Spot is { } spot)
        {
            if (spot.Slope < 0m)
            {
                problems.Add(new("spot.slope", $"{spot.Slope} is negative; spot prices rise with utilization."));
            }
            if (spot.Knee is < 0m or > 1m)
            {
                problems.Add(new("spot.knee", $"{spot.Knee} is not a utilization between 0 and 1."));
            }
            if (spot.FloorFactor < 0m)
            {
                problems.Add(new("spot.floor_factor", $"{spot.FloorFactor} is negative."));
            }
            if (spot.CeilingFactor < spot.FloorFactor)
            {
                problems.Add(new("spot.ceiling_factor", $"{spot.CeilingFactor} is below the floor factor {spot.FloorFactor}."));
            }
            if (new[] { spot.Slope, spot.Knee, spot.FloorFactor, spot.CeilingFactor }.Any(v => BillingMath.DecimalPlaces(v) > 4 || Math.Abs(v) > 1000m))
            {
                problems.Add(new("spot", "factors have at most 4 decimal places and stay within ±1000."));
            }
        }
        return problems;
    }

    private static IEnumerable<PricingProblem> CheckSuccession(PriceSheetDraft draft, PriceSheetVersion? latest)
    {
        if (latest is null)
        {
            yield break;
        }
        if (draft.EffectiveFrom <= latest.EffectiveFrom)
        {
            yield return new("effective_from",
                $"{draft.EffectiveFrom:O} is not after version {latest.Number}'s {latest.EffectiveFrom:O}; versions take effect in order.");
        }
        if (draft.Currency != latest.Currency)
        {
            yield return new("currency", $"'{draft.Currency}' differs from the sheet's currency '{latest.Currency}'.");
        }
    }

    private static void Name(List<PricingProblem> problems, string path, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            problems.Add(new(path, "required."));
        }
        else if (value.Any(char.IsWhiteSpace))
        {
            problems.Add(new(path, $"'{value}' contains whitespace."));
        }
    }

    private static void Price(List<PricingProblem> problems, string path, decimal price)
    {
        if (price < 0m)
        {
            problems.Add(new(path, $"{price} is negative."));
        }
        else if (price > MaxPrice)
        {
            problems.Add(new(path, $"{price} is above the maximum {MaxPrice}."));
        }
        if (BillingMath.DecimalPlaces(price) > BillingMath.PriceDecimals)
        {
            problems.Add(new(path, $"{price} has more than {BillingMath.PriceDecimals} decimal places."));
        }
    }

    /// <summary>Index of the version in force at <paramref name="second"/> (Unix seconds), or -1.</summary>
    internal int IndexAt(long second)
    {
        int lo = 0, hi = _versions.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (_versions[mid].EffectiveFrom.ToUnixTimeSeconds() <= second)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>When the version after <paramref name="index"/> takes effect (Unix seconds), or null for the latest.</summary>
    internal long? NextChangeAfter(int index) =>
        index + 1 < _versions.Length ? _versions[index + 1].EffectiveFrom.ToUnixTimeSeconds() : null;

    private PriceLookup NoVersion(DateTimeOffset time) =>
        PriceLookup.Missing(PriceLookupStatus.NoVersionInForce,
            _versions.IsEmpty ? "No price sheet has been published." : $"No price sheet version was in force at {time:O}; the first took effect {_versions[0].EffectiveFrom:O}.");
}
