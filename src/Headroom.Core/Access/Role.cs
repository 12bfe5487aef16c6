namespace Headroom.Core.Access;

/// <summary>
/// What a member or key may do in its org. Persisted and sent on the wire by <see cref="Roles.Code"/>;
/// those codes are frozen by a test.
/// </summary>
public enum Role
{
    Viewer,
    Member,
    Admin,
    Owner,
    Billing,

    /// <summary>The operator's role: only valid inside the built-in org <c>internal</c>.</summary>
    FleetAdmin,
}

public static class Roles
{
    private static readonly Dictionary<string, Role> s_byCode = new(StringComparer.Ordinal)
    {
        ["viewer"] = Role.Viewer,
        ["member"] = Role.Member,
        ["admin"] = Role.Admin,
        ["owner"] = Role.Owner,
        ["billing"] = Role.Billing,
        ["fleet-admin"] = Role.FleetAdmin,
    };

    public static IReadOnlyCollection<string> AllCodes => s_byCode.Keys;

    public static string Code(this Role role) => role switch
    {
        Role.Viewer => "viewer",
        Role.Member => "member",
        Role.Admin => "admin",
        Role.Owner => "owner",
        Role.Billing => "billing",
        Role.FleetAdmin => "fleet-admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public static bool TryParse(string? code, out Role role) => s_byCode.TryGetValue(code ?? "", out role);

    /// <summary>Parses a comma-separated list as stored; unknown codes are an error of the store, not of the caller.</summary>
    public static IReadOnlySet<Role> ParseList(string codes)
    {
        var set = new HashSet<Role>();
        foreach (var code in codes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!TryParse(code, out var role))
                throw new FormatException($"Unknown role code '{code}' in the store.");
            set.Add(role);
        }
        return set;
    }

    public static string FormatList(IEnumerable<Role> roles) => string.Join(',', roles.Order().Select(r => r.Code()));

    /// <summary>
    /// Rank used to stop privilege escalation: a caller may grant a role only up to its own rank.
    /// <c>billing</c> sits beside the ladder, so it ranks with <c>member</c>; <c>fleet-admin</c> is above all.
    /// </summary>
    public static int Rank(this Role role) => role switch
    {
        Role.Viewer => 0,
        Role.Member or Role.Billing => 1,
        Role.Admin => 2,
        Role.Owner => 3,
        Role.FleetAdmin => 4,
        _ => -1,
    };

    public static int HighestRank(IEnumerable<Role> roles) => roles.Select(Rank).DefaultIfEmpty(-1).Max();
}
