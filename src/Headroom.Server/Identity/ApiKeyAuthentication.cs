using System.Security.Claims;
using System.Text.Encodings.Web;
using Headroom.Core.Access;
using Headroom.Server.Api;
using Headroom.Store;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Headroom.Server.Identity;

/// <summary>
/// Authenticates <c>Authorization: Bearer hr_...</c>. A key is accepted only when it exists, its hash
/// matches, it is not revoked and not expired. Keys are read from <see cref="HotRows"/> (a revocation through this
/// replica counts at once, through another within a second); last-used time is written at most once a minute per
/// key so that a busy key does not turn every read into a write.
/// </summary>
internal sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    Database database,
    HotRows rows,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "apikey";
    public const string FailedKeyOrgItem = "hr.failed_key_org";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (BearerToken.From(Request) is not { } token)
            return AuthenticateResult.NoResult();
        if (ApiKeySecrets.LookupIdOf(token) is not { } lookupId)
            return AuthenticateResult.Fail("The bearer token is neither a Headroom API key nor a token from a configured OIDC issuer.");

        var key = await rows.KeyAsync(lookupId, Context.RequestAborted);
        if (key is null)
            return AuthenticateResult.Fail("Invalid API key.");

        // The key's id is genuine, so a failure from here on (a guessed secret too) is recorded in
        // its own org's audit chain, where its owner sees it.
        Context.Items[FailedKeyOrgItem] = key.OrgId;
        if (!ApiKeySecrets.Matches(token, key.SecretHash))
            return AuthenticateResult.Fail("Invalid API key.");
        var now = time.GetUtcNow();
        if (key.RevokedAt is not null)
            return AuthenticateResult.Fail($"API key {key.Id} was revoked.");
        if (key.ExpiresAt is { } expires && expires <= now)
            return AuthenticateResult.Fail($"API key {key.Id} expired.");

        if (rows.KeyUseDue(key, now))
        {
            await using var db = database.Open();
            await db.ApiKeys.Where(k => k.Id == key.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), Context.RequestAborted);
        }

        var claims = HeadroomClaims.For(key.OrgId, key.ProjectId, Roles.ParseList(key.Roles), "api_key", key.Id);
        var identity = new ClaimsIdentity(claims, SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }
}

internal static class BearerToken
{
    public static string? From(Microsoft.AspNetCore.Http.HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }
}
