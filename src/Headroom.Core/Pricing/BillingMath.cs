using System.Numerics;

namespace Headroom.Core.Pricing;

/// <summary>
/// The money arithmetic of a bill, in one place. Amounts are <see cref="decimal"/>, quantities <see cref="long"/>;
/// nothing passes through floating point.
/// </summary>
/// <remarks>
/// A line's amount is the exact rational quantity × unit price / units per price (3 600 000 milli-GPU-seconds per
/// GPU-hour, 1 000 000 tokens per million), rounded once, half to even, to <see cref="LineDecimals"/> places. The
/// division is done on integers (<see cref="BigInteger"/>), so the result does not depend on decimal's 28-digit
/// precision. Line amounts then add up exactly (at 10 places decimal holds sums up to 7.9 × 10^18), and the invoice
/// total is the only other rounding: half to even, to <see cref="TotalDecimals"/> places.
/// </remarks>
public static class BillingMath
{
    /// <summary>The places a line amount keeps.</summary>
    public const int LineDecimals = 10;

    /// <summary>The places an invoice total keeps: cents.</summary>
    public const int TotalDecimals = 2;

    /// <summary>The places a published price may have (list prices and spot points).</summary>
    public const int PriceDecimals = 6;

    /// <summary>Milli-GPU-seconds in one GPU-hour.</summary>
    public const long MilliGpuSecondsPerGpuHour = 3_600_000;

    /// <summary>Tokens in the "per million" of a token price.</summary>
    public const long TokensPerMillion = 1_000_000;

    /// <summary>Units of a <c>reservation</c> event's quantity in one unit of currency: amounts are kept at line precision.</summary>
    public const long PrepaidUnitsPerCurrency = 10_000_000_000;

    /// <summary>An amount as a <c>reservation</c> quantity: exact, or an exception when it has more than 10 places or is too large.</summary>
    public static long ToPrepaidUnits(decimal amount)
    {
        var units = amount * PrepaidUnitsPerCurrency;
        if (units != decimal.Truncate(units) || Math.Abs(units) > long.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(amount), amount, "A prepaid amount has at most 10 decimal places and fits a long at that precision.");
        }
        return (long)units;
    }

    private static readonly BigInteger LineScale = BigInteger.Pow(10, LineDecimals);
    private static readonly BigInteger MaxMantissa = (BigInteger.One << 96) - 1;

    /// <summary>quantity × unitPrice / unitsPerPrice, exact, then rounded half-even to <see cref="LineDecimals"/> places.</summary>
    public static decimal Charge(long quantity, decimal unitPrice, long unitsPerPrice)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(unitsPerPrice);
        var (mantissa, scale) = Decompose(unitPrice);
        var numerator = quantity * mantissa * LineScale;
        var denominator = unitsPerPrice * BigInteger.Pow(10, scale);
        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder);
        // Half to even: compare twice the remainder with the divisor; on a tie keep an even quotient.
        var twice = BigInteger.Abs(remainder) * 2;
        if (twice > denominator || (twice == denominator && !quotient.IsEven))
        {
            quotient += numerator.Sign;
        }
        return Compose(quotient, LineDecimals);
    }

    /// <summary>The invoice total's rounding: half to even, to cents.</summary>
    public static decimal RoundTotal(decimal amount) => Math.Round(amount, TotalDecimals, MidpointRounding.ToEven);

    /// <summary>The decimal places <paramref name="value"/> needs, trailing zeros ignored (2.50 needs 1).</summary>
    public static int DecimalPlaces(decimal value)
    {
        var (mantissa, scale) = Decompose(value);
        while (scale > 0 && mantissa % 10 == 0)
        {
            mantissa /= 10;
            scale--;
        }
        return scale;
    }

    private static (BigInteger Mantissa, int Scale) Decompose(decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var mantissa = ((BigInteger)(uint)bits[2] << 64) | ((BigInteger)(uint)bits[1] << 32) | (uint)bits[0];
        var scale = (bits[3] >> 16) & 0xFF;
        return (bits[3] < 0 ? -mantissa : mantissa, scale);
    }

    /// <summary>The decimal value × 10^-scale, without trailing zeros (2.5, not 2.5000000000).</summary>
    private static decimal Compose(BigInteger value, int scale)
    {
        while (scale > 0 && !value.IsZero && value % 10 == 0)
        {
            value /= 10;
            scale--;
        }
        if (value.IsZero)
        {
            scale = 0;
        }
        var magnitude = BigInteger.Abs(value);
        if (magnitude > MaxMantissa)
        {
            throw new OverflowException("The amount does not fit in a decimal at line precision.");
        }
        var lo = (int)(uint)(magnitude & uint.MaxValue);
        var mid = (int)(uint)((magnitude >> 32) & uint.MaxValue);
        var hi = (int)(uint)(magnitude >> 64);
        return new decimal(lo, mid, hi, value.Sign < 0, (byte)scale);
    }
}
