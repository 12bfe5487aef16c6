using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Tests.Metering;

/// <summary>The codes are hashed into the ledger, stored and sent over the API: renaming one breaks every chain.</summary>
public sealed class MeteringCodesTests
{
    [Theory]
    [InlineData(Meter.GpuSeconds, "gpu_seconds")]
    [InlineData(Meter.InputTokens, "input_tokens")]
    [InlineData(Meter.OutputTokens, "output_tokens")]
    [InlineData(Meter.Reservation, "reservation")]
    public void Meter_codes_are_frozen(Meter meter, string code)
    {
        Assert.Equal(code, meter.ToCode());
        Assert.True(MeteringCodes.TryParseMeter(code, out var parsed));
        Assert.Equal(meter, parsed);
    }

    [Theory]
    [InlineData(Tier.Internal, "internal")]
    [InlineData(Tier.Reserved, "reserved")]
    [InlineData(Tier.OnDemand, "on-demand")]
    [InlineData(Tier.Spot, "spot")]
    public void Tier_codes_are_frozen(Tier tier, string code) => Assert.Equal(code, MeteringCodes.TierCode(tier));

    [Fact]
    public void Every_value_has_a_code_and_unknown_codes_are_refused()
    {
        Assert.Equal(4, Enum.GetValues<Meter>().Length);
        Assert.Equal(4, Enum.GetValues<Tier>().Length);
        Assert.Null(MeteringCodes.TierCode((Tier)42));
        Assert.False(MeteringCodes.TryParseMeter("GPU_SECONDS", out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => ((Meter)9).ToCode());
    }
}
