namespace Headroom.Core.Scheduling.Tiered;

/// <summary>A capacity block: whole GPUs of one model in one region over [Start, End), bought ahead.</summary>
public sealed record CapacityBlock(string Id, string Org, string Region, string GpuModel, int GpuCount, DateTimeOffset Start, DateTimeOffset End)
{
    public bool ActiveAt(DateTimeOffset t) => Start <= t && t < End;

    public bool Overlaps(CapacityBlock other) => Start < other.End && other.Start < End;

    public bool SamePool(CapacityBlock other) => Region == other.Region && GpuModel == other.GpuModel;
}

/// <summary>The answer to a reservation request: admitted, or why not and from which instant.</summary>
public readonly record struct Admission(bool Admitted, string? Reason, DateTimeOffset? ConflictAt)
{
    public static Admission Yes => new(true, null, null);
}

/// <summary>
/// Admission of capacity blocks: a block is admitted only if, at every instant of its window, the
/// blocks of its pool plus the operator's internal guarantee fit in the pool's GPUs. Because the
/// sum of active blocks only changes when a block starts, checking at the candidate's start and
/// at every overlapping block's start inside the window covers every instant.
/// </summary>
public static class ReservationAdmission
{
    /// <param name="candidate">The block asked for.</param>
    /// <param name="existing">Blocks already admitted (any pool; others are ignored).</param>
    /// <param name="poolGpus">Whole GPUs of the candidate's model in its region.</param>
    /// <param name="internalGuaranteeGpus">GPUs of that pool the operator keeps for its own work.</param>
    public static Admission Admit(CapacityBlock candidate, IEnumerable<CapacityBlock> existing, int poolGpus, int internalGuaranteeGpus)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(existing);
        if (candidate.GpuCount <= 0 || candidate.End <= candidate.Start)
            return new Admission(false, "a block needs at least one GPU and an end after its start", null);
        var sellable = poolGpus - internalGuaranteeGpus;
        var overlapping = existing.Where(b => b.SamePool(candidate) && b.Overlaps(candidate) && b.Id != candidate.Id).ToList();
        var instants = overlapping.Select(b => b.Start).Where(candidate.ActiveAt).Append(candidate.Start).Distinct().Order();
        foreach (var t in instants)
        {
            var booked = overlapping.Where(b => b.ActiveAt(t)).Sum(b => b.GpuCount);
            if (booked + candidate.GpuCount > sellable)
            {
                return new Admission(false,
                    $"{candidate.GpuCount} × {candidate.GpuModel} in {candidate.Region} from {t:yyyy-MM-ddTHH:mmZ}: {booked} of {sellable} sellable GPUs are already reserved ({internalGuaranteeGpus} kept for internal work)",
                    t);
            }
        }
        return Admission.Yes;
    }
}
