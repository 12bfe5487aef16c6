using Headroom.Core.Audit;

namespace Headroom.Core.Tests.Audit;

/// <summary>The codes are hashed and stored: renaming one breaks every existing chain.</summary>
public sealed class AuditCodesTests
{
    [Theory]
    [InlineData(AuditActorType.ApiKey, "api_key")]
    [InlineData(AuditActorType.Oidc, "oidc")]
    [InlineData(AuditActorType.Anonymous, "anonymous")]
    [InlineData(AuditActorType.System, "system")]
    public void Actor_type_codes_are_frozen(AuditActorType type, string code)
    {
        Assert.Equal(code, type.ToCode());
        Assert.True(AuditCodes.TryParseActorType(code, out var parsed));
        Assert.Equal(type, parsed);
    }

    [Theory]
    [InlineData(AuditOutcome.Success, "success")]
    [InlineData(AuditOutcome.Failure, "failure")]
    public void Outcome_codes_are_frozen(AuditOutcome outcome, string code)
    {
        Assert.Equal(code, outcome.ToCode());
        Assert.True(AuditCodes.TryParseOutcome(code, out var parsed));
        Assert.Equal(outcome, parsed);
    }

    [Fact]
    public void Every_value_has_a_code_and_unknown_codes_are_refused()
    {
        Assert.Equal(4, Enum.GetValues<AuditActorType>().Length);
        Assert.Equal(2, Enum.GetValues<AuditOutcome>().Length);
        Assert.False(AuditCodes.TryParseActorType("API_KEY", out _));
        Assert.False(AuditCodes.TryParseOutcome("ok", out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => ((AuditActorType)42).ToCode());
    }
}
