using Headroom.Core.Scheduling.Tiered;

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
    /// <summary>
    /// A capacity block paid up front, at the moment of purchase: the quantity is the amount in units of 10^-10 of the
    /// currency (<see cref="Pricing.BillingMath.PrepaidUnitsPerCurrency"/>), negative for a refund.
    /// </summary>
    Reservation,
}

/// <summary>
/// The text codes of the meters, as they appear in the REST API, the database and the ledger's hash. Frozen: changing
/// one breaks every existing ledger chain. Tiers are the scheduler's <see cref="Tier"/>; their codes
/// (<c>internal</c>, <c>reserved</c>, <c>on-demand</c>, <c>spot</c>) are hashed too, and frozen here by a test.
/// </summary>
public static class MeteringCodes
{
    public static string ToCode(this Meter meter) =>
        TryCode(meter) ?? throw new ArgumentOutOfRangeException(nameof(meter), meter, "Unknown meter.");

    public static bool TryParseMeter(string code, out Meter meter) => TryParse(code, TryCode, out meter);

    internal static string? TryCode(Meter meter) => meter switch
    {
        Meter.GpuSeconds => "gpu_seconds",
        Meter.InputTokens => "input_tokens",
        Meter.OutputTokens => "output_tokens",
        Meter.Reservation => "reservation",
        _ => null,
    };

    /// <summary>The tier's DESIGN.md code, or null for a value outside the enum (an edited record).</summary>
    /// <remarks>Not an extension method: the workloads' codes may add <c>ToCode(this Tier)</c>, and both must agree.</remarks>
    public static string? TierCode(Tier tier) => tier switch
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
