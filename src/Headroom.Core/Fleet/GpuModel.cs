namespace Headroom.Core.Fleet;

/// <summary>
/// A GPU model as the fleet counts it: <paramref name="Id"/> is the stable name used in node
/// specs, prices and reservations (<c>h100-80gb</c>); <paramref name="Name"/> is the vendor's
/// product name as nvidia-smi reports it; <paramref name="MemoryMiB"/> is the memory total
/// nvidia-smi reports, which is a little less than the marketing size.
/// </summary>
public sealed record GpuModel(string Id, string Name, int MemoryMiB)
{
    /// <summary>Other product names the same model reports (form factors, older drivers).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
}
