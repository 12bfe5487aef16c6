using System.Security.Claims;
using Headroom.Core.Access;

namespace Headroom.Server.Identity;

/// <summary>Claim types both authentication schemes emit, and the one mapping from them to a <see cref="Principal"/>.</summary>
internal static class HeadroomClaims
{
    public const string Org = "hr:org";
    public const string Project = "hr:project";
    public const string Role = "hr:role";
    public const string Actor = "hr:actor";
    public const string ActorType = "hr:actor_type";

    public static Principal? ToPrincipal(ClaimsPrincipal user)
    {
        var org = user.FindFirst(Org)?.Value;
        var actor = user.FindFirst(Actor)?.Value;
        if (org is null || actor is null)
            return null;
        var roles = new HashSet<Role>();
        foreach (var claim in user.FindAll(Role))
        {
            if (Roles.TryParse(claim.Value, out var role))
                roles.Add(role);
        }
        var type = user.FindFirst(ActorType)?.Value == "oidc" ? Core.Access.ActorType.Oidc : Core.Access.ActorType.ApiKey;
        return new Principal(org, user.FindFirst(Project)?.Value, roles, type, actor);
    }

    public static List<Claim> For(string orgId, string? projectId, IEnumerable<Role> roles, string actorType, string actor)
    {
        var claims = new List<Claim> { new(Org, orgId), new(Actor, actor), new(ActorType, actorType) };
        if (projectId is not null)
            claims.Add(new Claim(Project, projectId));
        claims.AddRange(roles.Select(r => new Claim(Role, r.Code())));
        return claims;
    }
}
