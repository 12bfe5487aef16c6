using Headroom.Server.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.WebConsole;

/// <summary>
/// The web console at <c>/</c>: server-rendered pages (Blazor static rendering, forms that post), its embedded
/// assets, sign-out, and two pass-throughs for what a page streams (a job's followed logs, the audit export).
/// </summary>
internal static class ConsoleEndpoints
{
    public static IServiceCollection Register(IServiceCollection services, HeadroomSettings settings)
    {
        // The key ring that encrypts session cookies lives with the data, so sessions survive a restart. Replicas
        // behind one address need the same ring: point their data directories' console-keys at shared storage.
        services.AddDataProtection()
            .SetApplicationName("headroom-console")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(settings.DataDir, "console-keys")));
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "headroom_antiforgery";
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        services.AddRazorComponents();
        services.AddSingleton<ConsoleApi>();
        services.AddSingleton<ConsoleSession>();
        services.AddSingleton<OidcSignIn>();
        return services;
    }

    public static void Map(WebApplication app)
    {
        app.Use(AddSecurityHeaders);
        app.MapGet(ConsoleAssets.PathPrefix + "/{file}", ConsoleAssets.Serve).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapPost("/signout", (HttpContext http) =>
            {
                // The antiforgery middleware only records its verdict for a handler that reads no form: check it, so
                // another site cannot sign a user out.
                if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
                    return Results.BadRequest("The form's antiforgery token is missing or stale: reload the page.");
                ConsoleSession.SignOut(http);
                return Results.Redirect("/signin?notice=signed-out");
            })
            .WithMetadata(new RequireAntiforgeryTokenAttribute(), ConsoleEndpoint.Marker)
            .ExcludeFromDescription();
        app.MapGet(OidcSignIn.CallbackPath, (HttpContext http, OidcSignIn oidc) => oidc.CallbackAsync(http)).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapGet("/signin/oidc/{issuer}", (HttpContext http, string issuer, OidcSignIn oidc) => oidc.StartAsync(http, issuer)).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapGet("/jobs/{id}/log", FollowLogsAsync).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapGet("/audit/export", ExportAuditAsync).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapPost("/playground/chat", ChatAsync)
            .WithMetadata(new RequireAntiforgeryTokenAttribute(), ConsoleEndpoint.Marker)
            .ExcludeFromDescription();
        app.MapGet("/invoices/{id}/print", PrintInvoiceAsync).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapGet("/invoices/{id}/csv", InvoiceCsvAsync).WithMetadata(ConsoleEndpoint.Marker).ExcludeFromDescription();
        app.MapRazorComponents<App>().Add(b => b.Metadata.Add(ConsoleEndpoint.Marker));
    }

    /// <summary>
    /// What a browser should enforce for the console: only this origin's scripts, styles and forms (the console has no
    /// inline script or style), never inside another site's frame, no referrer to other sites.
    /// </summary>
    private static Task AddSecurityHeaders(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<ConsoleEndpoint>() is not null)
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "same-origin";
        }
        return next(http);
    }

    /// <summary>A job's output, streamed from <c>/v1/jobs/{id}/logs</c> as it is written (the page's log view reads it with fetch).</summary>
    private static Task FollowLogsAsync(HttpContext http, string id, ConsoleApi api, ConsoleSession session) =>
        PassThroughAsync(http, api, session, $"/v1/jobs/{Uri.EscapeDataString(id)}/logs" + Query.Of(("follow", http.Request.Query["follow"] == "true" ? "true" : null)), null);

    private static Task ExportAuditAsync(HttpContext http, ConsoleApi api, ConsoleSession session)
    {
        var format = http.Request.Query["format"].ToString() == "cef" ? "cef" : "ocsf";
        return PassThroughAsync(http, api, session, "/v1/audit/export" + Query.Of(("format", format)), $"headroom-audit.{(format == "cef" ? "cef" : "jsonl")}");
    }

    /// <summary>
    /// An invoice's printable page (<c>GET /v1/invoices/{id}?format=html</c>, or the draft's for <c>upcoming</c>), fetched with
    /// the session's key. The page is self-contained with one inline style and no script, so it keeps the API's policy.
    /// </summary>
    private static Task PrintInvoiceAsync(HttpContext http, string id, ConsoleApi api, ConsoleSession session)
    {
        http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        return PassThroughAsync(http, api, session, InvoicePath(id) + "?format=html", null);
    }

    private static Task InvoiceCsvAsync(HttpContext http, string id, ConsoleApi api, ConsoleSession session) =>
        PassThroughAsync(http, api, session, InvoicePath(id) + "?format=csv",
            (id == "upcoming" ? "draft-invoice" : string.Concat(id.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))) + ".csv");

    private static string InvoicePath(string id) => id == "upcoming" ? "/v1/invoices/upcoming" : $"/v1/invoices/{Uri.EscapeDataString(id)}";

    /// <summary>
    /// The playground's chat: the posted form (model, message) as one user message to <c>POST /v1/chat/completions</c>
    /// with <c>stream: true</c> and the session's key, its server-sent events copied through as they come. A refusal is
    /// answered as JSON with the API's message, status, code and request id, for the page to show.
    /// </summary>
    private static async Task ChatAsync(HttpContext http, ConsoleApi api, ConsoleSession session)
    {
        if (session.KeyOf(http) is not { } key)
        {
            await Results.Json(new { message = "Signed out: sign in again to use the playground.", status = 401, code = (string?)null, request_id = http.TraceIdentifier },
                statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(http);
            return;
        }
        // The antiforgery middleware only records its verdict; a handler that reads the form itself must look at it.
        if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
        {
            await Results.Json(new { message = "The form's antiforgery token is missing or stale: reload the page.", status = 400, code = "antiforgery", request_id = http.TraceIdentifier },
                statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
            return;
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var body = new Dictionary<string, object?>
        {
            ["model"] = form["model"].ToString(),
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = form["message"].ToString() } },
            ["stream"] = true,
        };
        using var response = await api.StreamPostAsync(new Caller(key, http.TraceIdentifier), "/v1/chat/completions", body, http.RequestAborted);
        if (!response.IsSuccessStatusCode)
        {
            var problem = await ConsoleApi.ProblemOfAsync(response, http.RequestAborted);
            await Results.Json(new { message = problem.Message, status = problem.Status, code = problem.Code, request_id = problem.RequestId ?? http.TraceIdentifier },
                statusCode: problem.Status).ExecuteAsync(http);
            return;
        }
        http.Response.ContentType = "text/event-stream; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        await using var stream = await response.Content.ReadAsStreamAsync(http.RequestAborted);
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, http.RequestAborted)) > 0)
        {
            await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }

    private static async Task PassThroughAsync(HttpContext http, ConsoleApi api, ConsoleSession session, string path, string? download)
    {
        if (session.KeyOf(http) is not { } key)
        {
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync("Signed out: sign in again to see this.", http.RequestAborted);
            return;
        }
        using var response = await api.StreamAsync(new Caller(key, http.TraceIdentifier), path, http.RequestAborted);
        http.Response.StatusCode = (int)response.StatusCode;
        if (!response.IsSuccessStatusCode)
        {
            var problem = await ConsoleApi.ProblemOfAsync(response, http.RequestAborted);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync($"{problem.Message} (HTTP {problem.Status}, request id {problem.RequestId})", http.RequestAborted);
            return;
        }
        http.Response.ContentType = response.Content.Headers.ContentType?.ToString() ?? "text/plain; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        if (download is not null)
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"{download}\"";
        await using var body = await response.Content.ReadAsStreamAsync(http.RequestAborted);
        var buffer = new byte[16 * 1024];
        int read;
        // Flushed chunk by chunk: a followed log must reach the browser as it is written, not when the job ends.
        while ((read = await body.ReadAsync(buffer, http.RequestAborted)) > 0)
        {
            await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }
}

/// <summary>Marks the console's endpoints, which get the browser security headers; the API's do not need them.</summary>
internal sealed class ConsoleEndpoint
{
    public static readonly ConsoleEndpoint Marker = new();

    private ConsoleEndpoint()
    {
    }
}
