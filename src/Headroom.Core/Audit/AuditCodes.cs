namespace Headroom.Core.Audit;

public enum AuditActorType { ApiKey, Oidc, Anonymous, System }

public enum AuditOutcome { Success, Failure }

/// <summary>
/// The text codes that are hashed, stored and exported. They are frozen: changing one breaks every existing chain.
/// </summary>
public static class AuditCodes
{
    public static string ToCode(this AuditActorType type) =>
        TryCode(type) ?? throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown actor type.");

    public static string ToCode(this AuditOutcome outcome) =>
        TryCode(outcome) ?? throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown outcome.");

    public static bool TryParseActorType(string code, out AuditActorType type)
    {
        foreach (var candidate in Enum.GetValues<AuditActorType>())
        {
            if (TryCode(candidate) == code)
            {
                type = candidate;
                return true;
            }
        }
        type = default;
        return false;
    }

    public static bool TryParseOutcome(string code, out AuditOutcome outcome)
    {
        foreach (var candidate in Enum.GetValues<AuditOutcome>())
        {
            if (TryCode(candidate) == code)
            {
                outcome = candidate;
                return true;
            }
        }
        outcome = default;
        return false;
    }

    internal static string? TryCode(AuditActorType type) => type switch
    {
        AuditActorType.ApiKey => "api_key",
        AuditActorType.Oidc => "oidc",
        AuditActorType.Anonymous => "anonymous",
        AuditActorType.System => "system",
        _ => null,
    };

    internal static string? TryCode(AuditOutcome outcome) => outcome switch
    {
        AuditOutcome.Success => "success",
        AuditOutcome.Failure => "failure",
        _ => null,
    };
}
