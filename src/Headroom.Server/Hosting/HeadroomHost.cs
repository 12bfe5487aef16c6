using System.Net;
using System.Text.Json;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Fleet;
using Headroom.Server.Identity;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Headroom.Server.Hosting;

/// <summary>
/// The composition root of a control-plane replica: one call per subsystem, then the request
/// pipeline in the order that matters (ids, errors, authentication, access, audit, idempotency, the console's antiforgery).
/// </summary>
public static class HeadroomHost
{
    static HeadroomHost()
    {
        // prometheus-net republishes every .NET meter and event counter once /metrics is first read: a histogram
        // observation with its labels for each HttpClient call, Kestrel connection and request, 6 % of a model call's CPU.
        // Headroom's own request metrics (UseHttpMetrics) and the process metrics stay.
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressMeters = true, SuppressEventCounters = true });
    }

    public static WebApplication Build(HeadroomSettings settings, TimeProvider? time = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Headroom", Args = [] });
        builder.Logging.ClearProviders();
        if (logging is null)
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        else
            logging(builder.Logging);
        // ASP.NET's own request lines (several per request) would drown the log and cost throughput at gateway rates; each
        // model call and audited write is logged by Headroom with what matters. Warnings and errors still show.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Hosting starts a trace Activity for every request while its logger is on (for log scopes) and then HttpClient
        // propagates it upstream; it logs nothing else worth keeping, and the two were 2 % of a model call's CPU.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // Data protection (the console's session cookies) notes its key ring at start-up; that is noise in the log.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        // llama.cpp narrates every library and tensor it loads; only its warnings and errors are worth an operator's time.
        builder.Logging.AddFilter("Headroom.Models.Llama", LogLevel.Warning);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            var port = settings.Port;
            switch (settings.Listen)
            {
                case "*": k.ListenAnyIP(port); break;
                case "localhost": k.ListenLocalhost(port); break;
                default: k.Listen(IPAddress.Parse(settings.Listen), port); break;
            }
        });

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddHeadroomApi();
        services.AddHeadroomStore(settings);
        services.AddHeadroomIdentity(settings);
        services.AddHeadroomAudit();
        services.AddHeadroomCoordination();
        services.AddHeadroomJobs(settings);
        services.AddHeadroomBilling();
        services.AddHeadroomConsole(settings);
        services.AddHeadroomModels(settings);
        services.AddHeadroomBatches();
        services.AddHeadroomDeployments(settings);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

        var app = builder.Build();
        app.UseMiddleware<RequestIds>();
        app.UseExceptionHandler(errors => errors.Run(WriteErrorAsync));
        app.UseStatusCodePages(context => WriteBareStatusAsync(context.HttpContext));
        app.UseHttpMetrics(o => o.InProgress.Enabled = false); // counts and durations by route; a gauge of requests in flight is one more middleware per call
        app.UseMiddleware<Access>();
        app.UseMiddleware<AuditMiddleware>();
        app.UseMiddleware<Idempotency>();
        app.UseAntiforgery();

        HealthEndpoints.Map(app);
        app.MapMetrics("/metrics");
        app.MapOpenApi("/openapi/{documentName}.json");
        var v1 = app.MapGroup("/v1");
        v1.MapIdentity();
        v1.MapFleet();
        v1.MapAudit();
        v1.MapJobs();
        v1.MapDeployments();
        v1.MapBilling();
        v1.MapReservations();
        v1.MapOperator();
        app.MapConsole();
        v1.MapModels();
        v1.MapBatches();
        app.MapFallback((HttpContext http) => Errors.Make(StatusCodes.Status404NotFound,
            $"No route {http.Request.Method} {http.Request.Path}.", "invalid_request_error", null, "unknown_route"));
        return app;
    }

    /// <summary>
    /// Makes the store ready before the first request: migrations, the operator's org and first key
    /// (returned when this start created them), and the fleet inventory.
    /// </summary>
    public static async Task<string?> PrepareAsync(WebApplication app, CancellationToken cancellationToken)
    {
        var settings = app.Services.GetRequiredService<HeadroomSettings>();
        var database = app.Services.GetRequiredService<Database>();
        var time = app.Services.GetRequiredService<TimeProvider>();
        Directory.CreateDirectory(settings.DataDir);
        await database.MigrateAsync(cancellationToken);
        var adminKey = await Bootstrap.EnsureInternalOrgAsync(database, app.Services.GetRequiredService<Ids>(), time, cancellationToken);
        if (adminKey is not null)
            await WriteAdminKeyAsync(settings.AdminKeyPath, adminKey, cancellationToken);
        await FleetInventory.ApplyAsync(database, settings, time, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Headroom.Fleet"), cancellationToken);
        return adminKey;
    }

    private static async Task WriteAdminKeyAsync(string path, string key, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteLineAsync(key.AsMemory(), cancellationToken);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>
    /// Gives a body in the API's shape to the few errors the framework answers on its own with a bare
    /// status (a body over the size limit, a wrong content type, a method the route lacks).
    /// </summary>
    private static Task WriteBareStatusAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var (message, code) = status switch
        {
            StatusCodes.Status413PayloadTooLarge => ("The request body is too large.", "request_too_large"),
            StatusCodes.Status415UnsupportedMediaType => ("Send the body as JSON with 'Content-Type: application/json'.", "unsupported_media_type"),
            StatusCodes.Status405MethodNotAllowed => ($"{context.Request.Method} is not allowed on {context.Request.Path}.", "method_not_allowed"),
            StatusCodes.Status400BadRequest => ("The request could not be read.", "invalid_request"),
            _ => ($"The request failed with status {status}.", "http_" + status),
        };
        return Errors.Make(status, message, status >= 500 ? "server_error" : "invalid_request_error", null, code).ExecuteAsync(context);
    }

    /// <summary>The one place exceptions become responses: client mistakes the framework caught keep their 4xx, the rest is a 500.</summary>
    private static Task WriteErrorAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var result = error switch
        {
            BadHttpRequestException { InnerException: JsonException json } => Errors.BadRequest(
                $"The body is not valid JSON for this request: {json.Message}", json.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : null, "invalid_json"),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => Errors.Make(413,
                "The request body is too large.", "invalid_request_error", null, "request_too_large"),
            BadHttpRequestException bad => Errors.Make(bad.StatusCode, bad.Message, "invalid_request_error", null, "invalid_request"),
            _ => Errors.Make(500, $"Headroom failed to handle the request; quote request id {context.TraceIdentifier} when reporting it.",
                "server_error", null, "internal_error"),
        };
        return result.ExecuteAsync(context);
    }
}
