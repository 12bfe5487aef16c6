using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Hosting;

public sealed record HealthView(string Status, string Replica, bool Leader, long LeaseEpoch, string Version);

/// <summary>
/// <c>/healthz</c>: the process answers (and says whether it leads the control loops);
/// <c>/readyz</c>: it can serve, i.e. the store answers and its schema is current. Load balancers use the second.
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (Leadership leadership) => Results.Json(
            new HealthView("ok", leadership.ReplicaId, leadership.IsLeader, leadership.Epoch, HeadroomVersion.Text), Json.Options))
            .WithName("healthz").WithTags("Health");

        app.MapGet("/readyz", async (HttpContext http, Database database) =>
        {
            try
            {
                await using var db = database.Open();
                if (!await db.Database.CanConnectAsync(http.RequestAborted))
                    return Errors.Make(503, "The store is unreachable.", "server_error", null, "store_unavailable");
                var pending = await db.Database.GetPendingMigrationsAsync(http.RequestAborted);
                return pending.Any()
                    ? Errors.Make(503, "The store's schema is behind; run 'headroom migrate'.", "server_error", null, "migrations_pending")
                    : Results.Json(new { status = "ready" }, Json.Options);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException)
            {
                return Errors.Make(503, "The store is unreachable.", "server_error", null, "store_unavailable");
            }
        }).WithName("readyz").WithTags("Health");
    }
}

public static class HeadroomVersion
{
    public static string Text { get; } =
        typeof(HeadroomVersion).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
