using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.WebConsole;

/// <summary>
/// The signed-in browser's API key (or, signed in with OIDC, its id token), kept in one cookie: encrypted and authenticated with ASP.NET Data Protection
/// (so neither the browser nor a proxy log sees the key), HTTP-only (no script reads it), SameSite=Strict (no other
/// site's form or link carries it) and Secure when the console is served over https. The cookie holds only the key;
/// every page asks the API what the key may see, so a revoked or expired key ends the session at its next request.
/// </summary>
internal sealed class ConsoleSession(IDataProtectionProvider protection, TimeProvider time)
{
    public const string CookieName = "headroom_console";

    /// <summary>How long a sign-in lasts without being renewed by another sign-in.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    private readonly ITimeLimitedDataProtector _protector =
        protection.CreateProtector("Headroom.Console.ApiKey.v1").ToTimeLimitedDataProtector();

    public string? KeyOf(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(CookieName, out var value) || string.IsNullOrEmpty(value))
            return null;
        try
        {
            return _protector.Unprotect(value, out var expires) is { Length: > 0 } key && expires > time.GetUtcNow() ? key : null;
        }
        catch (CryptographicException)
        {
            // A cookie from before a key-ring change, or a forged one: treat it as signed out.
            return null;
        }
    }

    /// <summary>Starts a session with an API key, or an OIDC id token (<paramref name="until"/>: its expiry, if before the usual lifetime).</summary>
    public void SignIn(HttpContext http, string apiKey, DateTimeOffset? until = null)
    {
        var expires = time.GetUtcNow() + Lifetime;
        if (until < expires)
            expires = until.Value;
        http.Response.Cookies.Append(CookieName, _protector.Protect(apiKey, expires), Options(http, expires));
    }

    public static void SignOut(HttpContext http) =>
        http.Response.Cookies.Delete(CookieName, Options(http, null));

    private static CookieOptions Options(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        Secure = http.Request.IsHttps,
        SameSite = SameSiteMode.Strict,
        Path = "/",
        Expires = expires,
        IsEssential = true,
    };
}
