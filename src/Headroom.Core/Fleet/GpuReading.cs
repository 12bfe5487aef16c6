namespace Headroom.Core.Fleet;

/// <summary>
/// One GPU as nvidia-smi saw it at one moment. Quantities are integers in the units their names
/// say (power in milliwatts, so that 73.21 W stays exact). A null is a value nvidia-smi reported
/// as unavailable (<c>[N/A]</c>, <c>[Not Supported]</c>) or did not report at all.
/// <paramref name="ModelId"/> is the catalog's id for <paramref name="Name"/>, null when the
/// catalog does not know the product.
/// </summary>
public sealed record GpuReading(
    int Index,
    string Uuid,
    string Name,
    string? ModelId,
    string? PciBusId,
    int? MemoryTotalMiB,
    int? MemoryUsedMiB,
    int? MemoryFreeMiB,
    int? UtilizationGpuPercent,
    int? UtilizationMemoryPercent,
    int? TemperatureC,
    int? PowerDrawMilliwatts,
    int? PowerLimitMilliwatts,
    int? SmClockMHz,
    int? MaxSmClockMHz,
    long? EccUncorrectedVolatileTotal,
    string? PerformanceState,
    string? MigMode);
