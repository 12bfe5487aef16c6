using Headroom.Core.Pricing;

namespace Headroom.Core.Tests.Pricing;

public sealed class BillingMathTests
{
    [Theory]
    [InlineData("one GPU-hour at 2.50", 3_600_000, "2.50", 3_600_000, "2.5")]
    [InlineData("one GPU-second at 3.60/h", 1_000, "3.60", 3_600_000, "0.001")]
    [InlineData("one GPU-second at 2.50/h keeps 10 places", 1_000, "2.50", 3_600_000, "0.0006944444")]
    [InlineData("a quarter GPU for 7 seconds at 2.50/h", 1_750, "2.50", 3_600_000, "0.0012152778")]
    [InlineData("a million input tokens at 0.15", 1_000_000, "0.15", 1_000_000, "0.15")]
    [InlineData("one token at 0.15 per million", 1, "0.15", 1_000_000, "0.00000015")]
    [InlineData("a tie rounds to even (down)", 50, "0.000001", 1_000_000, "0")]
    [InlineData("a tie rounds to even (up)", 150, "0.000001", 1_000_000, "0.0000000002")]
    [InlineData("a tie rounds to even (2.5 → 2)", 250, "0.000001", 1_000_000, "0.0000000002")]
    [InlineData("just above a tie rounds up", 51, "0.000001", 1_000_000, "0.0000000001")]
    [InlineData("nothing costs nothing", 0, "2.50", 3_600_000, "0")]
    [InlineData("a month of 1000 GPUs", 2_592_000_000_000, "2.123456", 3_600_000, "1528888.32")]
    public void A_charge_is_exact_then_rounded_half_even_to_ten_places(string because, long quantity, string price, long units, string expected)
    {
        var amount = BillingMath.Charge(quantity, Dec(price), units);

        Assert.True(Dec(expected) == amount, $"{because}: {amount}");
        Assert.True(BillingMath.DecimalPlaces(amount) <= BillingMath.LineDecimals);
    }

    [Theory]
    [InlineData("0.125", "0.12")]
    [InlineData("0.135", "0.14")]
    [InlineData("0.1250000001", "0.13")]
    [InlineData("10.004999", "10.00")]
    [InlineData("-0.125", "-0.12")]
    public void The_total_rounds_half_even_to_cents(string amount, string expected) =>
        Assert.Equal(Dec(expected), BillingMath.RoundTotal(Dec(amount)));

    [Theory]
    [InlineData("2.50", 1)]
    [InlineData("2", 0)]
    [InlineData("0.000001", 6)]
    [InlineData("1.0000000", 0)]
    public void Decimal_places_ignore_trailing_zeros(string value, int places) => Assert.Equal(places, BillingMath.DecimalPlaces(Dec(value)));

    private static decimal Dec(string value) => decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
}
