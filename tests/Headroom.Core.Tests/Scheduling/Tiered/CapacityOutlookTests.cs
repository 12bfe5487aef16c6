using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Scheduling.Tiered.SnapshotBuilder;

namespace Headroom.Core.Tests.Scheduling.Tiered;

/// <summary>Free and sellable GPUs per tier, now and per day ahead, and reserved work held to its block.</summary>
public sealed class CapacityOutlookTests
{
    private static readonly Pool EuH100 = new("eu-1", "h100-80gb");

    private static CapacityBlock Block(string id, int gpus, DateTimeOffset start, TimeSpan lasts) =>
        new(id, "acme", "eu-1", "h100-80gb", gpus, start, start + lasts);

    [Fact]
    public void Blocks_reduce_what_can_be_sold_on_the_days_they_cover()
    {
        var today = new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);
        var limits = new PoolLimits(EuH100, 16, 4, 6);
        var blocks = new[]
        {
            Block("now", 3, Now.AddHours(-1), TimeSpan.FromHours(3)), // 11:00–14:00 today
            Block("tomorrow", 8, today.AddDays(1), TimeSpan.FromDays(1)),
            Block("tomorrow-late", 2, today.AddDays(1).AddHours(20), TimeSpan.FromHours(10)), // into the day after
            new CapacityBlock("other-pool", "acme", "us-1", "h100-80gb", 16, today, today.AddDays(3)),
        };
        var use = new PoolUse(InternalMilli: 2000, ReservedMilli: 1000, OnDemandMilli: 2000, SpotMilli: 500);

        var outlook = CapacityOutlook.For(limits, blocks, use, Now, 14);

        // Now: 16 − 6 held (5.5 rounded up) = 10 free; 2 of the block's 3 GPUs are kept for it: 8 idle; on-demand cap 6 − 2
        // used; a block from 13:00 (the next hour, still inside "now") gets 16 − 4 − 3.
        Assert.Equal(new CapacityNow(10, 3, new SellableGpus(Reserved: 9, OnDemand: 4, Spot: 8)), outlook.Now);
        Assert.Equal(14, outlook.Days.Length);
        Assert.Equal(new CapacityDay(DateOnly.FromDateTime(today.UtcDateTime), 3, new SellableGpus(9, 6, 13)), outlook.Days[0]);
        Assert.Equal(new CapacityDay(DateOnly.FromDateTime(today.AddDays(1).UtcDateTime), 10, new SellableGpus(2, 6, 6)), outlook.Days[1]);
        Assert.Equal(2, outlook.Days[2].ReservedGpus);
        Assert.Equal(new SellableGpus(12, 6, 16), outlook.Days[3].Sellable);
    }

    [Fact]
    public void What_capacity_calls_reservable_for_a_day_is_what_admission_admits()
    {
        var today = new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
        var blocks = new[] { Block("a", 5, today.AddHours(6), TimeSpan.FromHours(4)), Block("b", 4, today.AddHours(8), TimeSpan.FromHours(10)) };
        var limits = new PoolLimits(EuH100, 16, 2, null);
        var day = CapacityOutlook.For(limits, blocks, PoolUse.None, Now, 2).Days[1];

        var fits = ReservationAdmission.Admit(Block("c", day.Sellable.Reserved, today, TimeSpan.FromDays(1)), blocks, 16, 2);
        var oneMore = ReservationAdmission.Admit(Block("d", day.Sellable.Reserved + 1, today, TimeSpan.FromDays(1)), blocks, 16, 2);

        Assert.Equal(5, day.Sellable.Reserved); // 16 − 2 − (5 + 4 from 08:00 to 10:00)
        Assert.True(fits.Admitted);
        Assert.False(oneMore.Admitted);
    }

    [Fact]
    public void A_reserved_workload_is_stopped_when_its_block_is_no_longer_active()
    {
        var job = Job("res", Tier.Reserved, gpus: 2) with { ReservationId = "r1" };
        var inside = new SnapshotBuilder().Node("n1").Reservation("r1", 4, -TimeSpan.FromHours(1), TimeSpan.FromHours(2))
            .Running(job, TimeSpan.FromMinutes(30), ["n1"]).Plan();
        var ended = new SnapshotBuilder().Node("n1").Reservation("r1", 4, -TimeSpan.FromHours(2), TimeSpan.FromHours(1))
            .Running(job, TimeSpan.FromMinutes(30), ["n1"]).Plan();
        var waiting = new SnapshotBuilder().Node("n1").Reservation("r1", 4, TimeSpan.FromHours(1), TimeSpan.FromHours(1)).Pending(job).Plan();

        Assert.Empty(inside.Stops);
        Assert.Equal(new StopDecision("res", StopCause.ReservationEnded, false), Assert.Single(ended.Stops));
        Assert.Empty(waiting.Starts);
        Assert.Equal("reservation", Assert.Single(waiting.Pending).Reasons[0].Code);
    }
}
