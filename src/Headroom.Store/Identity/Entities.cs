namespace Headroom.Store.Identity;

/// <summary>A tenant. The operator's own work runs in the built-in org named <c>internal</c>.</summary>
public sealed class OrgRow
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    public required string DisplayName { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ProjectRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string Name { get; set; }
    public string Description { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }

    // The project's own limits on hosted-model calls (null: none of its own). They only tighten the operator's
    // per-project defaults from the settings; see docs/models.md.
    public int? ModelRequestsPerMinute { get; set; }
    public int? ModelTokensPerMinute { get; set; }
    public int? ModelConcurrentRequests { get; set; }

    /// <summary>
    /// Days the project's model calls (request and response bodies) are kept in <c>request_logs</c>; null: none, not a
    /// byte of a prompt or completion is written anywhere, only the call's metadata.
    /// </summary>
    public int? RetentionDays { get; set; }

    /// <summary>The recorded promise about training on the project's data; the only value is <c>never</c>.</summary>
    public string Training { get; set; } = "never";

    /// <summary>Fleet regions the project's model calls may be served in, comma-separated in order; null: any region.</summary>
    public string? Regions { get; set; }
}

/// <summary>A user of an org, known by email; OIDC sign-ins match on it.</summary>
public sealed class MemberRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public required string Email { get; set; }
    public required string Role { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// An API key. The secret is never stored: only SHA-256 of it, found by the public <see cref="LookupId"/>
/// that the key carries, then compared in constant time.
/// </summary>
public sealed class ApiKeyRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public string? ProjectId { get; set; }
    public required string Name { get; set; }
    public required string LookupId { get; set; }
    public required byte[] SecretHash { get; set; }

    /// <summary>Comma-separated role codes, see <see cref="Headroom.Core.Access.Roles"/>.</summary>
    public required string Roles { get; set; }

    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
}
