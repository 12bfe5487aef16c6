namespace Headroom.Core.Metering;

/// <summary>What a usage event measures.</summary>
public enum Meter
{
    /// <summary>GPU time: milli-GPUs held over [start, end), billed per second.</summary>
    GpuSeconds,
    /// <summary>Prompt tokens a hosted model read, at one point in time.</summary>
    InputTokens,
    /// <summary>Tokens a hosted model generated, at one point in time.</summary>
    OutputTokens,
}

/// <summary>How a workload holds capacity, from first call to last: internal &gt; reserved &gt; on-demand &gt; spot.</summary>
public enum Tier { Internal, Reserved, OnDemand, Spot }

/// <summary>
/// The text codes of the metering enums, as they appear in the REST API, the database and the ledger's hash. Frozen:
/// changing one breaks every existing ledger chain.
/// </summary>
public static class MeteringCodes
{
    public static string ToCode(this Meter meter) =>
        TryCode(meter) ?? throw new ArgumentOutOfRangeException(nameof(meter), meter, "Unknown meter.");

    public static string ToCode(this Tier tier) =>
        TryCode(tier) ?? throw new ArgumentOutOfRangeException(nameof(tier), tier, "Unknown tier.");

    public static bool TryParseMeter(string code, out Meter meter) => TryParse(code, TryCode, out meter);

    public static bool TryParseTier(string code, out Tier tier) => TryParse(code, TryCode, out tier);

    internal static string? TryCode(Meter meter) => meter switch
    {
        Meter.GpuSeconds => "gpu_seconds",
        Meter.InputTokens => "input_tokens",
        Meter.OutputTokens => "output_tokens",
        _ => null,
    };

    internal static string? TryCode(Tier tier) => tier switch
    {
        Tier.Internal => "internal",
        Tier.Reserved => "reserved",
        Tier.OnDemand => "on-demand",
        Tier.Spot => "spot",
        _ => null,
    };

    // Codes match exactly: "Spot" is a typo worth reporting, not a second spelling to support forever.
    private static bool TryParse<T>(string code, Func<T, string?> toCode, out T value) where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (toCode(candidate) == code)
            {
                value = candidate;
                return true;
            }
        }
        value = default;
        return false;
    }
}
