using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

public sealed class GpuHealthTests
{
    private static readonly GpuReading Healthy = Assert.Single(NvidiaSmi.ParseXml(TestFiles.Fixture("nvidia-smi-q.xml")).Value!);

    private static GpuReading Gpu(int index, int? temperatureC = 40, long? ecc = 0) =>
        Healthy with { Index = index, Uuid = $"GPU-{index}", TemperatureC = temperatureC, EccUncorrectedVolatileTotal = ecc };

    [Fact]
    public void The_fixture_node_is_healthy() => Assert.Empty(GpuHealth.Assess([Healthy], expectedGpuCount: 1));

    [Fact]
    public void Reports_missing_gpus()
    {
        var issue = Assert.Single(GpuHealth.Assess([Gpu(0), Gpu(1)], expectedGpuCount: 8));

        Assert.Equal(new GpuHealthIssue(GpuHealthIssueKind.MissingGpus, null, "2 of 8 expected GPUs found"), issue);
    }

    [Fact]
    public void Reports_uncorrectable_ecc_errors_and_heat_per_gpu()
    {
        var issues = GpuHealth.Assess([Gpu(0), Gpu(1, ecc: 3), Gpu(2, temperatureC: 91), Gpu(3, temperatureC: 85)], expectedGpuCount: 4);

        Assert.Equal(
            [(GpuHealthIssueKind.UncorrectableEccErrors, 1), (GpuHealthIssueKind.OverTemperature, 2)],
            issues.Select(i => (i.Kind, i.GpuIndex)));
        Assert.Equal("GPU 1 (GPU-1) has 3 uncorrectable ECC errors", issues[0].Message);
    }

    [Fact]
    public void Unreported_values_raise_nothing() =>
        Assert.Empty(GpuHealth.Assess([Gpu(0, temperatureC: null, ecc: null)], expectedGpuCount: 1));

    [Fact]
    public void Repeated_samples_count_once_and_the_last_one_decides()
    {
        var samples = NvidiaSmi.ParseQueryCsv(TestFiles.Fixture("query-gpu-busy-nounits.csv")).Value!;

        Assert.Empty(GpuHealth.Assess(samples, expectedGpuCount: 1));
        Assert.Equal(
            [GpuHealthIssueKind.OverTemperature],
            GpuHealth.Assess(samples, expectedGpuCount: 1, maxTemperatureC: 50).Select(i => i.Kind));
    }
}
