using System.Security.Claims;
using Headroom.Core.Access;
using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Headroom.Server.Identity;

/// <summary>
/// OIDC federation: one JwtBearer scheme per configured issuer, and a selector that sends each
/// bearer token to the scheme of the issuer named in it (API keys go to <see cref="ApiKeyAuthentication"/>).
/// A validated token maps to an org through the issuer's org claim (an org name or id) and to a role
/// through its role claim; without a role claim, the org's member record for the token's email decides.
/// </summary>
internal static class Oidc
{
    public const string SelectorScheme = "headroom";

    public static AuthenticationBuilder AddHeadroomAuthentication(this IServiceCollection services, HeadroomSettings settings)
    {
        var byIssuer = settings.OidcIssuers.ToDictionary(i => i.Authority, i => "oidc:" + i.Name, StringComparer.Ordinal);
        var auth = services.AddAuthentication(SelectorScheme)
            .AddPolicyScheme(SelectorScheme, "API key or OIDC token", o => o.ForwardDefaultSelector = context =>
            {
                var token = BearerToken.From(context.Request);
                if (token is null || token.StartsWith(ApiKeySecrets.Prefix, StringComparison.Ordinal))
                    return ApiKeyAuthentication.SchemeName;
                return IssuerOf(token) is { } iss && byIssuer.TryGetValue(iss.TrimEnd('/'), out var scheme)
                    ? scheme
                    : ApiKeyAuthentication.SchemeName;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);

        foreach (var issuer in settings.OidcIssuers)
        {
            auth.AddJwtBearer("oidc:" + issuer.Name, o =>
            {
                o.Authority = issuer.Authority;
                o.Audience = issuer.Audience;
                // The console's sign-in forwards the issuer's id token (its audience is the console's client id) as its bearer token.
                if (issuer.ClientId is not null)
                    o.TokenValidationParameters.ValidAudiences = [issuer.Audience, issuer.ClientId];
                o.RequireHttpsMetadata = issuer.RequireHttpsMetadata;
                o.MapInboundClaims = false;
                o.TokenValidationParameters.ValidIssuers = [issuer.Authority, issuer.Authority + "/"];
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = context => MapAsync(context, issuer),
                    // Errors are answered once, in the API's shape, by the access middleware.
                    OnChallenge = context =>
                    {
                        context.HandleResponse();
                        return Task.CompletedTask;
                    },
                };
            });
        }
        return auth;
    }

    private static string? IssuerOf(string token)
    {
        try
        {
            return new JsonWebToken(token).Issuer;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static async Task MapAsync(TokenValidatedContext context, OidcIssuerSettings issuer)
    {
        var database = context.HttpContext.RequestServices.GetRequiredService<Database>();
        var (principal, failure) = await MapAsync(context.Principal!, issuer, database, context.Scheme.Name, context.HttpContext.RequestAborted);
        if (principal is null)
            context.Fail(failure!);
        else
            context.Principal = principal;
    }

    /// <summary>
    /// A validated token's identity as a Headroom caller (org, roles, actor <c>issuer:sub</c>), or why it is none. The API's
    /// bearer tokens and the console's OIDC sign-in both map through here, so the two can never disagree.
    /// </summary>
    public static async Task<(ClaimsPrincipal? Principal, string? Failure)> MapAsync(
        ClaimsPrincipal token, OidcIssuerSettings issuer, Database database, string authenticationType, CancellationToken cancellationToken)
    {
        var subject = token.FindFirst("sub")?.Value;
        var orgClaim = token.FindFirst(issuer.OrgClaim)?.Value;
        if (subject is null || orgClaim is null)
            return (null, $"The token has no 'sub' or no '{issuer.OrgClaim}' claim.");

        await using var db = database.Open();
        var org = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Name == orgClaim || o.Id == orgClaim, cancellationToken);
        if (org is null)
            return (null, $"The token's org '{orgClaim}' is not an org here.");

        var roles = new HashSet<Role>();
        foreach (var claim in token.FindAll(issuer.RoleClaim))
        {
            if (Roles.TryParse(claim.Value, out var role))
                roles.Add(role);
        }
        if (roles.Count == 0 && token.FindFirst("email")?.Value is { } email)
        {
            var normalized = email.Trim().ToLowerInvariant();
            var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.OrgId == org.Id && m.Email == normalized, cancellationToken);
            if (member is not null && Roles.TryParse(member.Role, out var memberRole))
                roles.Add(memberRole);
        }

        // The operator's role is never granted by a claim outside the operator's own org.
        if (org.Id != Bootstrap.InternalOrgId)
            roles.Remove(Role.FleetAdmin);
        if (roles.Count == 0)
            return (null, $"The token names no known role in '{issuer.RoleClaim}' and its email is not a member of org '{org.Name}'.");

        return (new ClaimsPrincipal(new ClaimsIdentity(HeadroomClaims.For(org.Id, null, roles, "oidc", $"{issuer.Name}:{subject}"), authenticationType)), null);
    }
}
