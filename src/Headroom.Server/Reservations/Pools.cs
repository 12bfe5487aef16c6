using System.Text.Json;
using Headroom.Core.Fleet;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Store.Reservations;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Reservations;

/// <summary>
/// What admission, capacity, the scheduler and the economics read from the store about pools: their size (whole GPUs of
/// every node of the model in the region, whatever its state, since a block is sold ahead of any outage), the admitted
/// blocks, and what runs in each pool now.
/// </summary>
internal static class Pools
{
    public static async Task<Dictionary<Pool, int>> SizesAsync(HeadroomDb db, CancellationToken cancellationToken)
    {
        var nodes = await db.Nodes.AsNoTracking().Where(n => n.GpuCount > 0)
            .Select(n => new { n.Region, n.GpuModel, n.GpuCount }).ToListAsync(cancellationToken);
        return nodes.GroupBy(n => new Pool(n.Region, n.GpuModel)).ToDictionary(g => g.Key, g => g.Sum(n => n.GpuCount));
    }

    /// <summary>Blocks not cancelled that end after <paramref name="after"/>, optionally of one pool only.</summary>
    public static async Task<List<CapacityBlock>> BlocksAsync(HeadroomDb db, DateTimeOffset after, Pool? pool, CancellationToken cancellationToken)
    {
        var query = db.Reservations.AsNoTracking().Where(r => r.CancelledAt == null && r.End > after);
        if (pool is { } p)
            query = query.Where(r => r.Region == p.Region && r.GpuModel == p.GpuModel);
        return [.. (await query.ToListAsync(cancellationToken)).Select(Block)];
    }

    public static CapacityBlock Block(ReservationRow r) => new(r.Id, r.OrgId, r.Region, r.GpuModel, r.GpuCount, r.Start, r.End);

    /// <summary>Milli-GPUs held now per pool and tier, from the placements of jobs that hold capacity.</summary>
    public static async Task<Dictionary<Pool, PoolUse>> UseAsync(HeadroomDb db, CancellationToken cancellationToken)
    {
        var holding = Enum.GetValues<JobState>().Where(s => s.HoldsCapacity()).Select(s => s.ToCode()).ToList();
        var jobs = await db.Jobs.AsNoTracking().Where(j => holding.Contains(j.State) && j.Placement != null)
            .Select(j => new { j.Tier, j.Placement }).ToListAsync(cancellationToken);
        var nodes = await db.Nodes.AsNoTracking().Select(n => new { n.Name, n.Region, n.GpuModel }).ToDictionaryAsync(n => n.Name, cancellationToken);
        var use = new Dictionary<Pool, PoolUse>();
        foreach (var job in jobs)
        {
            WorkloadCodes.TryParseTier(job.Tier, out var tier);
            foreach (var p in JsonSerializer.Deserialize<List<PlacementView>>(job.Placement!, Json.Options) ?? [])
            {
                if (!nodes.TryGetValue(p.Node, out var node))
                    continue;
                var pool = new Pool(node.Region, node.GpuModel);
                var milli = (long)p.Gpus.Count * p.GpuMilli;
                var u = use.GetValueOrDefault(pool) ?? PoolUse.None;
                use[pool] = tier switch
                {
                    Tier.Internal => u with { InternalMilli = u.InternalMilli + milli },
                    Tier.Reserved => u with { ReservedMilli = u.ReservedMilli + milli },
                    Tier.OnDemand => u with { OnDemandMilli = u.OnDemandMilli + milli },
                    _ => u with { SpotMilli = u.SpotMilli + milli },
                };
            }
        }
        return use;
    }
}
