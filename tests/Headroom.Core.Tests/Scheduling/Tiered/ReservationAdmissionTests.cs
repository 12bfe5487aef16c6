using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Scheduling.Tiered.SnapshotBuilder;

namespace Headroom.Core.Tests.Scheduling.Tiered;

public sealed class ReservationAdmissionTests
{
    private static CapacityBlock Block(string id, int gpus, int fromHour, int toHour, string model = "h100-80gb") =>
        new(id, "acme", "eu-1", model, gpus, Now.AddHours(fromHour), Now.AddHours(toHour));

    public static TheoryData<string, CapacityBlock, bool> Cases => new()
    {
        { "fits beside the existing blocks", Block("new", 8, 0, 10), true },
        { "would overbook while r2 runs", Block("new", 16, 0, 10), false },
        { "fits once r2 has ended", Block("new", 16, 6, 10), true },
        { "the internal guarantee is never sold", Block("new", 24, 20, 30), false },
        { "another model is another pool", Block("new", 32, 0, 10, model: "a100-40gb"), true },
        { "an empty window is refused", Block("new", 1, 5, 5), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_block_is_admitted_only_if_it_fits_at_every_instant(string because, CapacityBlock candidate, bool admitted)
    {
        // Pool: 40 GPUs, 8 kept for internal work, so 32 sellable. r1 16 GPUs [0, 48h), r2 8 GPUs [2h, 6h).
        CapacityBlock[] existing = [Block("r1", 16, 0, 48), Block("r2", 8, 2, 6)];

        var result = ReservationAdmission.Admit(candidate, existing, poolGpus: 40, internalGuaranteeGpus: 8);

        Assert.True(admitted == result.Admitted, because);
        if (!result.Admitted)
            Assert.NotNull(result.Reason);
    }

    [Fact]
    public void A_refusal_names_the_first_instant_that_would_overbook()
    {
        var result = ReservationAdmission.Admit(Block("new", 16, 0, 10), [Block("r1", 16, 0, 48), Block("r2", 8, 2, 6)], 40, 8);

        Assert.Equal(Now.AddHours(2), result.ConflictAt);
        Assert.Equal("16 × h100-80gb in eu-1 from 2026-11-26T14:00Z: 24 of 32 sellable GPUs are already reserved (8 kept for internal work)", result.Reason);
    }
}
