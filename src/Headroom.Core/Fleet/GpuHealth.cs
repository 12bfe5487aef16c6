namespace Headroom.Core.Fleet;

public enum GpuHealthIssueKind
{
    /// <summary>Fewer GPUs answered than the node spec declares (fell off the bus, driver lost them).</summary>
    MissingGpus,

    /// <summary>Uncorrectable ECC errors since the driver loaded: results on this GPU may be wrong.</summary>
    UncorrectableEccErrors,

    OverTemperature,
}

/// <summary>One thing wrong with a node's GPUs. <paramref name="GpuIndex"/> is null for node-wide issues.</summary>
public sealed record GpuHealthIssue(GpuHealthIssueKind Kind, int? GpuIndex, string Message);

public static class GpuHealth
{
    /// <summary>Below the slowdown temperature of data-center GPUs (about 87–90 °C), so the issue shows before throttling.</summary>
    public const int DefaultMaxTemperatureC = 85;

    /// <summary>
    /// The issues in one snapshot of a node's GPUs; empty when healthy. When
    /// <paramref name="readings"/> holds several samples of a GPU (same uuid), the last one counts.
    /// </summary>
    public static IReadOnlyList<GpuHealthIssue> Assess(
        IReadOnlyList<GpuReading> readings, int expectedGpuCount, int maxTemperatureC = DefaultMaxTemperatureC)
    {
        var gpus = readings.GroupBy(r => r.Uuid, StringComparer.Ordinal).Select(g => g.Last()).OrderBy(r => r.Index).ToList();
        var issues = new List<GpuHealthIssue>();
        if (gpus.Count < expectedGpuCount)
            issues.Add(new(GpuHealthIssueKind.MissingGpus, null, $"{gpus.Count} of {expectedGpuCount} expected GPUs found"));
        foreach (var gpu in gpus)
        {
            if (gpu.EccUncorrectedVolatileTotal is > 0 and var errors)
                issues.Add(new(GpuHealthIssueKind.UncorrectableEccErrors, gpu.Index, $"GPU {gpu.Index} ({gpu.Uuid}) has {errors} uncorrectable ECC errors"));
            if (gpu.TemperatureC > maxTemperatureC)
                issues.Add(new(GpuHealthIssueKind.OverTemperature, gpu.Index, $"GPU {gpu.Index} ({gpu.Uuid}) is at {gpu.TemperatureC} °C, above {maxTemperatureC} °C"));
        }
        return issues;
    }
}
