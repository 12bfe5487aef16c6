using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Headroom.Server.Tests.Infrastructure;

/// <summary>
/// An OIDC issuer on loopback: a discovery document and a JWKS served over HTTP, and tokens signed
/// with its RSA key. Headroom fetches both exactly as it would from a real identity provider. For the console's
/// sign-in it also plays the browser side of the authorization code flow with PKCE: <c>/authorize</c> signs in
/// <see cref="SignedInAs"/> at once (no login form) and sends the browser back with a code; <c>/token</c> checks the
/// code, client, redirect URI, secret and PKCE verifier and answers an id token carrying the nonce.
/// </summary>
public sealed class LocalOidcIssuer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RsaSecurityKey _key;

    private LocalOidcIssuer(WebApplication app, RsaSecurityKey key, string authority)
    {
        _app = app;
        _key = key;
        Authority = authority;
    }

    public string Authority { get; }

    /// <summary>The claims of the user <c>/authorize</c> signs in; null: it answers <c>error=access_denied</c>.</summary>
    public IDictionary<string, object>? SignedInAs { get; set; }

    /// <summary>The client the console must be (its id, and its secret for HTTP Basic at <c>/token</c>).</summary>
    public const string ClientId = "headroom-console";
    public const string ClientSecret = "console-secret";

    private sealed record Grant(string RedirectUri, string Challenge, string? Nonce, Dictionary<string, object> Claims);

    private readonly ConcurrentDictionary<string, Grant> _codes = new();

    public static async Task<LocalOidcIssuer> StartAsync()
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "test-key-1" };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        string? authority = null;
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = authority!,
            ["jwks_uri"] = authority + "/jwks",
            ["authorization_endpoint"] = authority + "/authorize",
            ["token_endpoint"] = authority + "/token",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
        }));
        app.MapGet("/jwks", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(key);
            return Results.Json(new { keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
        });
        LocalOidcIssuer? self = null;
        app.MapGet("/authorize", (HttpRequest request) =>
        {
            var q = request.Query;
            if (q["response_type"] != "code" || q["client_id"] != ClientId || q["code_challenge_method"] != "S256" || string.IsNullOrEmpty(q["code_challenge"]) ||
                !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect))
                return Results.BadRequest("bad authorization request");
            var back = redirect + (redirect.Query.Length > 0 ? "&" : "?");
            if (self!.SignedInAs is not { } user)
                return Results.Redirect(back + "error=access_denied&state=" + Uri.EscapeDataString(q["state"].ToString()));
            var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            self._codes[code] = new Grant(redirect.ToString(), q["code_challenge"]!, q["nonce"], new Dictionary<string, object>(user));
            return Results.Redirect(back + "code=" + code + "&state=" + Uri.EscapeDataString(q["state"].ToString()));
        });
        app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            var basic = request.Headers.Authorization.ToString() is { } h && h.StartsWith("Basic ", StringComparison.Ordinal)
                ? Encoding.UTF8.GetString(Convert.FromBase64String(h[6..])) : "";
            if (basic != $"{ClientId}:{ClientSecret}")
                return Results.Json(new { error = "invalid_client" }, statusCode: 401);
            if (form["grant_type"] != "authorization_code" || !self!._codes.TryRemove(form["code"].ToString(), out var grant) ||
                form["redirect_uri"] != grant.RedirectUri || form["client_id"] != ClientId ||
                Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != grant.Challenge)
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            var claims = new Dictionary<string, object>(grant.Claims);
            if (grant.Nonce is not null)
                claims["nonce"] = grant.Nonce;
            return Results.Json(new { access_token = "opaque", token_type = "Bearer", expires_in = 600, id_token = self.Token(ClientId, claims) });
        });
        await app.StartAsync();
        authority = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return self = new LocalOidcIssuer(app, key, authority);
    }

    public string Token(string audience, IDictionary<string, object> claims, string? issuer = null, SecurityKey? signWith = null, TimeSpan? lifetime = null)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Authority,
            Audience = audience,
            Claims = claims,
            IssuedAt = now.AddMinutes(-1),
            NotBefore = now.AddMinutes(-1),
            Expires = now + (lifetime ?? TimeSpan.FromMinutes(10)),
            SigningCredentials = new SigningCredentials(signWith ?? _key, SecurityAlgorithms.RsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
