namespace Headroom.Core.Access;

public enum ActorType { ApiKey, Oidc, Anonymous, System }

/// <summary>
/// Who is asking: resolved once per request from an API key or an OIDC token. Every read and write
/// is filtered by <see cref="OrgId"/>, and by <see cref="ProjectId"/> when the credential is scoped to one project.
/// </summary>
public sealed record Principal(
    string OrgId,
    string? ProjectId,
    IReadOnlySet<Role> Roles,
    ActorType ActorType,
    string ActorId)
{
    public bool Can(Permission permission) => PermissionMatrix.Allows(Roles, permission);

    public bool IsFleetAdmin => Roles.Contains(Role.FleetAdmin);

    /// <summary>A project-scoped credential sees only its project; an org-wide one sees every project of its org.</summary>
    public bool SeesProject(string projectId) => ProjectId is null || ProjectId == projectId;

    public static string ActorTypeCode(ActorType type) => type switch
    {
        ActorType.ApiKey => "api_key",
        ActorType.Oidc => "oidc",
        ActorType.Anonymous => "anonymous",
        ActorType.System => "system",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
