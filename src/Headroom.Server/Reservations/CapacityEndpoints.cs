using Headroom.Core.Access;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Api;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headroom.Server.Reservations;

public sealed record SellableView(int Reserved, int OnDemand, int Spot);

public sealed record CapacityNowView(int FreeGpus, int ReservedGpus, SellableView Sellable);

public sealed record CapacityDayView(DateOnly Date, int ReservedGpus, SellableView Sellable);

/// <summary>One pool's capacity: its size, the operator's limits, now and each UTC day ahead. No tenant's name appears.</summary>
public sealed record PoolCapacityView(
    string Region, string GpuModel, int TotalGpus, int InternalGuaranteeGpus, int? OnDemandCapGpus, CapacityNowView Now, IReadOnlyList<CapacityDayView> Days)
{
    public string Object => "capacity.pool";
}

public sealed record CapacityView(DateTimeOffset AsOf, IReadOnlyList<PoolCapacityView> Data)
{
    public string Object => "capacity";
}

/// <summary><c>GET /v1/capacity</c>: free and sellable GPUs by region × GPU model × tier, now and for each of the next <see cref="Days"/> days.</summary>
internal static class CapacityEndpoints
{
    public const int Days = 14;

    public static void Map(IEndpointRouteBuilder api) =>
        api.MapGet("/capacity", Get).WithTags("Reservations").WithName("capacity.get").RequireAccess(Permission.CapacityRead);

    private static async Task<IResult> Get(HttpContext http, Database database, HeadroomSettings settings, TimeProvider time)
    {
        var region = http.Request.Query["region"].ToString();
        var model = http.Request.Query["gpu_model"].ToString();
        var now = time.GetUtcNow();
        await using var db = database.Open();
        var sizes = await Pools.SizesAsync(db, http.RequestAborted);
        if (region.Length > 0 && sizes.Keys.All(p => p.Region != region))
            return Errors.BadRequest($"region '{region}' has no GPU nodes.", "region");
        if (model.Length > 0 && sizes.Keys.All(p => p.GpuModel != model))
            return Errors.BadRequest($"gpu_model '{model}' is not in the fleet.", "gpu_model");
        var blocks = await Pools.BlocksAsync(db, now, null, http.RequestAborted);
        var use = await Pools.UseAsync(db, http.RequestAborted);

        var pools = new List<PoolCapacityView>();
        foreach (var (pool, gpus) in sizes.Where(p => (region.Length == 0 || p.Key.Region == region) && (model.Length == 0 || p.Key.GpuModel == model))
            .OrderBy(p => p.Key.Region, StringComparer.Ordinal).ThenBy(p => p.Key.GpuModel, StringComparer.Ordinal))
        {
            var cap = settings.Scheduler.OnDemandCaps.TryGetValue(pool, out var milli) ? (int?)(milli / 1000) : null;
            var limits = new PoolLimits(pool, gpus, settings.InternalGuarantees.GetValueOrDefault(pool), cap);
            var o = CapacityOutlook.For(limits, blocks, use.GetValueOrDefault(pool) ?? PoolUse.None, now, Days);
            pools.Add(new PoolCapacityView(pool.Region, pool.GpuModel, gpus, limits.InternalGuaranteeGpus, cap,
                new CapacityNowView(o.Now.FreeGpus, o.Now.ReservedGpus, View(o.Now.Sellable)),
                [.. o.Days.Select(d => new CapacityDayView(d.Date, d.ReservedGpus, View(d.Sellable)))]));
        }
        return Results.Json(new CapacityView(now, pools), Json.Options);
    }

    private static SellableView View(SellableGpus s) => new(s.Reserved, s.OnDemand, s.Spot);
}
