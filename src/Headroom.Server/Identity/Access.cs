using Headroom.Core.Access;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headroom.Server.Identity;

/// <summary>
/// Resolves who is asking, once per request. Credentials that were
/// presented and rejected end the request with 401 and an <c>auth.failed</c> audit record; a
/// request without credentials goes on anonymous, and every endpoint that needs a caller says so
/// with <see cref="AccessExtensions.RequireAccess"/>.
/// </summary>
internal sealed class Access(RequestDelegate next)
{
    private const string PrincipalItem = "hr.principal";

    public async Task InvokeAsync(HttpContext context, AuditWriter audit)
    {
        // The framework's authentication middleware (ahead of this one) keeps only successes; a rejected credential's
        // reason is what the caller and the audit record need, so anything but a success is asked for again here.
        var result = context.Features.Get<IAuthenticateResultFeature>()?.AuthenticateResult is { Succeeded: true } succeeded
            ? succeeded
            : await context.AuthenticateAsync();
        if (result is { Succeeded: true } && HeadroomClaims.ToPrincipal(result.Principal) is { } principal)
        {
            context.User = result.Principal;
            context.Items[PrincipalItem] = principal;
        }
        else if (BearerToken.From(context.Request) is not null && context.Request.Path.StartsWithSegments("/v1"))
        {
            var reason = result?.Failure?.Message ?? "The credentials were not accepted.";
            var org = context.Items[ApiKeyAuthentication.FailedKeyOrgItem] as string ?? Bootstrap.InternalOrgId;
            await audit.AppendAsync(AuditEvent.ForRequest(context, org, ActorType.Anonymous, "anonymous", "auth.failed", "",
                StatusCodes.Status401Unauthorized, reason), context.RequestAborted);
            context.Items[AuditMiddleware.AlreadyAuditedItem] = true;
            await Errors.Unauthorized(reason).ExecuteAsync(context);
            return;
        }
        await next(context);
    }

    public static Principal? Of(HttpContext context) => context.Items[PrincipalItem] as Principal;

    public static Principal Required(HttpContext context) =>
        Of(context) ?? throw new InvalidOperationException("The endpoint reads the caller without RequireAccess.");
}

internal static class AccessExtensions
{
    /// <summary>Marks an endpoint as needing a caller holding <paramref name="permission"/>: 401 without one, 403 with too little.</summary>
    public static TBuilder RequireAccess<TBuilder>(this TBuilder builder, Permission permission) where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new RequiredPermission(permission));
        builder.AddEndpointFilter(async (context, next) =>
        {
            var principal = Access.Of(context.HttpContext);
            if (principal is null)
                return Errors.Unauthorized();
            if (!principal.Can(permission))
            {
                var needs = string.Join(", ", PermissionMatrix.RolesFor(permission).Select(r => r.Code()));
                return Errors.Forbidden($"This needs one of the roles {needs}; the credentials hold {Roles.FormatList(principal.Roles)}.");
            }
            return await next(context);
        });
        return builder;
    }
}

/// <summary>Endpoint metadata naming the permission an endpoint needs; the permission-matrix test reads it.</summary>
public sealed record RequiredPermission(Permission Permission);
