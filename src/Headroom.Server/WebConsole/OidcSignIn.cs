using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Headroom.Server.WebConsole;

/// <summary>
/// The console's sign-in with an OIDC issuer that has a <c>client_id</c>: the authorization code flow with PKCE. In order:
/// <see cref="StartAsync"/> keeps state, nonce and the PKCE verifier in a short-lived encrypted cookie and sends the
/// browser to the issuer's authorize endpoint; <see cref="CallbackAsync"/> checks the state, exchanges the code at the
/// token endpoint, validates the id token (signature from the issuer's JWKS, issuer, audience = client id, lifetime,
/// nonce), maps it to an org and role exactly as the API maps bearer tokens (<see cref="Oidc.MapAsync(System.Security.Claims.ClaimsPrincipal, OidcIssuerSettings, Database, string, CancellationToken)"/>),
/// and starts the same session cookie as an API key sign-in, holding the id token: every page then calls the API with it
/// as the bearer token, so the session ends when the token expires or the identity stops mapping.
/// </summary>
internal sealed partial class OidcSignIn(
    HeadroomSettings settings, ConsoleSession session, Database database, IDataProtectionProvider protection, TimeProvider time, ILogger<OidcSignIn> logger) : IDisposable
{
    public const string CallbackPath = "/signin/oidc/callback";
    private const string FlowCookie = "headroom_oidc";
    private static readonly TimeSpan FlowLifetime = TimeSpan.FromMinutes(10);

    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
    private readonly ITimeLimitedDataProtector _protector = protection.CreateProtector("Headroom.Console.OidcFlow.v1").ToTimeLimitedDataProtector();
    private readonly Dictionary<string, ConfigurationManager<OpenIdConnectConfiguration>> _discovery = new(StringComparer.Ordinal);

    /// <summary>The issuers the sign-in page offers, in the settings' order.</summary>
    public IEnumerable<OidcIssuerSettings> Issuers => settings.OidcIssuers.Where(i => i.ClientId is not null);

    private sealed record Flow(string Issuer, string State, string Nonce, string Verifier, string RedirectUri, string ReturnTo);

    public async Task<IResult> StartAsync(HttpContext http, string name)
    {
        if (Issuers.FirstOrDefault(i => i.Name == name) is not { } issuer)
            return Results.NotFound();
        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await DiscoveryOf(issuer).GetConfigurationAsync(http.RequestAborted);
        }
        catch (InvalidOperationException ex)
        {
            LogUnreachable(logger, issuer.Name, ex.Message);
            return Results.Redirect(SignInWith("oidc-unreachable"));
        }
        var returnTo = http.Request.Query["return_to"].ToString() is var r && Pages.SignIn.IsLocal(r) ? r : "/";
        var flow = new Flow(issuer.Name, Random(), Random(), Random(),
            (issuer.RedirectUri?.ToString() ?? $"{http.Request.Scheme}://{http.Request.Host}{CallbackPath}"), returnTo);
        // Lax, not Strict: the issuer's redirect back is a navigation from another site, and the flow cookie must come with it.
        http.Response.Cookies.Append(FlowCookie, _protector.Protect(JsonSerializer.Serialize(flow), time.GetUtcNow() + FlowLifetime), FlowCookieOptions(http));
        var challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(flow.Verifier)));
        return Results.Redirect(configuration.AuthorizationEndpoint + (configuration.AuthorizationEndpoint.Contains('?') ? "&" : "?") + Query.Of(
            ("response_type", "code"), ("client_id", issuer.ClientId), ("redirect_uri", flow.RedirectUri), ("scope", "openid email profile"),
            ("state", flow.State), ("nonce", flow.Nonce), ("code_challenge", challenge), ("code_challenge_method", "S256"))[1..]);
    }

    public async Task<IResult> CallbackAsync(HttpContext http)
    {
        var flow = FlowOf(http);
        http.Response.Cookies.Delete(FlowCookie, FlowCookieOptions(http));
        var query = http.Request.Query;
        if (flow is null || query["state"].ToString() != flow.State || Issuers.FirstOrDefault(i => i.Name == flow.Issuer) is not { } issuer)
            return Results.Redirect(SignInWith("oidc-state"));
        if (query["error"].ToString() is { Length: > 0 } error)
        {
            LogRefused(logger, issuer.Name, error, query["error_description"].ToString());
            return Results.Redirect(SignInWith("oidc-refused", flow.ReturnTo));
        }

        var discovery = DiscoveryOf(issuer);
        string idToken;
        TokenValidationResult validated;
        try
        {
            var configuration = await discovery.GetConfigurationAsync(http.RequestAborted);
            if (await ExchangeAsync(configuration, issuer, flow, query["code"].ToString(), http.RequestAborted) is not { } token)
                return Results.Redirect(SignInWith("oidc-token", flow.ReturnTo));
            idToken = token;
            validated = await new JsonWebTokenHandler().ValidateTokenAsync(idToken, new TokenValidationParameters
            {
                ValidIssuers = [issuer.Authority, issuer.Authority + "/"],
                ValidAudience = issuer.ClientId,
                IssuerSigningKeys = configuration.SigningKeys,
            });
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or JsonException or TaskCanceledException)
        {
            LogUnreachable(logger, issuer.Name, ex.Message);
            return Results.Redirect(SignInWith("oidc-unreachable", flow.ReturnTo));
        }
        if (!validated.IsValid || validated.ClaimsIdentity.FindFirst("nonce")?.Value != flow.Nonce)
        {
            // A key the issuer rotated in since discovery was read: fetch it again for the next try.
            if (validated.Exception is SecurityTokenSignatureKeyNotFoundException)
                discovery.RequestRefresh();
            LogInvalid(logger, issuer.Name, validated.Exception?.Message ?? "the nonce does not match the sign-in's");
            return Results.Redirect(SignInWith("oidc-token", flow.ReturnTo));
        }
        var (principal, failure) = await Oidc.MapAsync(new(validated.ClaimsIdentity), issuer, database, "oidc:" + issuer.Name, http.RequestAborted);
        if (principal is null)
        {
            LogUnmapped(logger, issuer.Name, validated.ClaimsIdentity.FindFirst("sub")?.Value, failure!);
            return Results.Redirect(SignInWith("oidc-member", flow.ReturnTo));
        }

        var expires = ((JsonWebToken)validated.SecurityToken).ValidTo;
        session.SignIn(http, idToken, new DateTimeOffset(expires, TimeSpan.Zero));
        // A page that moves on by itself rather than a redirect: a redirect would still count as the issuer's cross-site
        // navigation, and the browser would hold back the new SameSite=Strict session cookie on the next page.
        var target = HtmlEncoder.Default.Encode(flow.ReturnTo);
        return Results.Content($"""
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={target}">
            <title>Signed in · Headroom</title></head><body><p>Signed in. <a href="{target}">Continue</a></p></body></html>
            """, "text/html; charset=utf-8");
    }

    /// <summary>The code for tokens (RFC 6749 §4.1.3 with the PKCE verifier); a confidential client authenticates with HTTP Basic.</summary>
    private async Task<string?> ExchangeAsync(OpenIdConnectConfiguration configuration, OidcIssuerSettings issuer, Flow flow, string code, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, configuration.TokenEndpoint)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "authorization_code",
                ["code"] = code,
                ["redirect_uri"] = flow.RedirectUri,
                ["client_id"] = issuer.ClientId!,
                ["code_verifier"] = flow.Verifier,
            }),
        };
        if (issuer.ClientSecret is { } secret)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(issuer.ClientId!)}:{Uri.EscapeDataString(secret)}")));
        using var response = await _http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            LogExchangeRefused(logger, issuer.Name, (int)response.StatusCode, body.Length > 300 ? body[..300] : body);
            return null;
        }
        using var json = JsonDocument.Parse(body);
        return json.RootElement.TryGetProperty("id_token", out var idToken) && idToken.ValueKind == JsonValueKind.String ? idToken.GetString() : null;
    }

    private ConfigurationManager<OpenIdConnectConfiguration> DiscoveryOf(OidcIssuerSettings issuer)
    {
        lock (_discovery)
        {
            if (!_discovery.TryGetValue(issuer.Name, out var manager))
            {
                manager = new ConfigurationManager<OpenIdConnectConfiguration>(issuer.Authority + "/.well-known/openid-configuration",
                    new OpenIdConnectConfigurationRetriever(), new HttpDocumentRetriever(_http) { RequireHttps = issuer.RequireHttpsMetadata });
                _discovery[issuer.Name] = manager;
            }
            return manager;
        }
    }

    private Flow? FlowOf(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(FlowCookie, out var value) || string.IsNullOrEmpty(value))
            return null;
        try
        {
            return _protector.Unprotect(value, out var expires) is { } json && expires > time.GetUtcNow() ? JsonSerializer.Deserialize<Flow>(json) : null;
        }
        catch (Exception ex) when (ex is CryptographicException or JsonException)
        {
            return null;
        }
    }

    private static string SignInWith(string reason, string? returnTo = null) =>
        "/signin" + Query.Of(("return_to", returnTo is null or "/" ? null : returnTo), ("reason", reason));

    private static string Random() => Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    private static CookieOptions FlowCookieOptions(HttpContext http) => new()
    {
        HttpOnly = true,
        Secure = http.Request.IsHttps,
        SameSite = SameSiteMode.Lax,
        Path = "/signin/oidc",
        IsEssential = true,
        MaxAge = FlowLifetime,
    };

    public void Dispose() => _http.Dispose();

    [LoggerMessage(EventId = 7301, Level = LogLevel.Warning, Message = "OIDC sign-in: issuer {Issuer} is unreachable or its discovery document unreadable: {Error}")]
    private static partial void LogUnreachable(ILogger logger, string issuer, string error);

    [LoggerMessage(EventId = 7302, Level = LogLevel.Information, Message = "OIDC sign-in: issuer {Issuer} refused the sign-in: {Error} {Description}")]
    private static partial void LogRefused(ILogger logger, string issuer, string error, string description);

    [LoggerMessage(EventId = 7303, Level = LogLevel.Warning, Message = "OIDC sign-in: issuer {Issuer}'s token endpoint answered {Status}: {Body}")]
    private static partial void LogExchangeRefused(ILogger logger, string issuer, int status, string body);

    [LoggerMessage(EventId = 7304, Level = LogLevel.Warning, Message = "OIDC sign-in: issuer {Issuer}'s id token is not valid: {Error}")]
    private static partial void LogInvalid(ILogger logger, string issuer, string error);

    [LoggerMessage(EventId = 7305, Level = LogLevel.Information, Message = "OIDC sign-in: {Issuer} subject {Subject} maps to no member: {Failure}")]
    private static partial void LogUnmapped(ILogger logger, string issuer, string? subject, string failure);
}
