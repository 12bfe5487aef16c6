using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

/// <summary>Against real output of an H100 80GB HBM3 node (driver 580.159.04), idle and under a matmul loop.</summary>
public sealed class NvidiaSmiTests
{
    private static readonly GpuReading IdleH100 = new(
        Index: 0,
        Uuid: "GPU-1fd8df79-c8c2-0a90-4940-d449e947a5fc",
        Name: "NVIDIA H100 80GB HBM3",
        ModelId: "h100-80gb",
        PciBusId: "00000000:00:06.0",
        MemoryTotalMiB: 81559,
        MemoryUsedMiB: 0,
        MemoryFreeMiB: 81079,
        UtilizationGpuPercent: 0,
        UtilizationMemoryPercent: 0,
        TemperatureC: 37,
        PowerDrawMilliwatts: 73200,
        PowerLimitMilliwatts: 700000,
        SmClockMHz: 345,
        MaxSmClockMHz: 1980,
        EccUncorrectedVolatileTotal: 0,
        PerformanceState: "P0",
        MigMode: "Disabled");

    [Fact]
    public void Query_arguments_ask_for_the_fields_the_parser_reads_without_header_or_units()
    {
        Assert.Equal(
            [
                "--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.max.sm,ecc.errors.uncorrected.volatile.total,pstate,mig.mode.current",
                "--format=csv,noheader,nounits",
            ],
            NvidiaSmi.QueryArguments.ToArray());
        Assert.Equal(["-q", "-x"], NvidiaSmi.XmlArguments.ToArray());
    }

    [Fact]
    public void Reads_query_csv_without_header_or_units()
    {
        var result = NvidiaSmi.ParseQueryCsv(TestFiles.Fixture("query-gpu-idle-nounits.csv"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal(IdleH100, Assert.Single(result.Value));
    }

    [Fact]
    public void Reads_query_csv_with_header_and_units()
    {
        var result = NvidiaSmi.ParseQueryCsv(TestFiles.Fixture("query-gpu-idle.csv"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal(IdleH100 with { PowerDrawMilliwatts = 73210 }, Assert.Single(result.Value));
    }

    [Fact]
    public void Reads_every_sample_of_repeated_query_output()
    {
        var result = NvidiaSmi.ParseQueryCsv(TestFiles.Fixture("query-gpu-busy-nounits.csv"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Equal(6, result.Value.Count);
        Assert.Equal([0, 0, 0, 0, 0, 100], result.Value.Select(r => r.UtilizationGpuPercent));
        Assert.Equal(630360, result.Value[^1].PowerDrawMilliwatts);
        Assert.Equal((1139, 54, 1380), (result.Value[^1].MemoryUsedMiB, result.Value[^1].TemperatureC, result.Value[^1].SmClockMHz));
    }

    [Fact]
    public void Reads_the_xml_report()
    {
        var result = NvidiaSmi.ParseXml(TestFiles.Fixture("nvidia-smi-q.xml"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        // The XML gives the power averaged over its own window, so it differs from the CSV sample.
        Assert.Equal(IdleH100 with { PowerDrawMilliwatts = 73190 }, Assert.Single(result.Value));
    }

    [Fact]
    public void Reads_the_xml_report_under_load()
    {
        var result = NvidiaSmi.ParseXml(TestFiles.Fixture("nvidia-smi-q-busy.xml"));

        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var gpu = Assert.Single(result.Value);
        Assert.Equal((100, 32, 53, 698310, 1139, 1215), (gpu.UtilizationGpuPercent, gpu.UtilizationMemoryPercent, gpu.TemperatureC, gpu.PowerDrawMilliwatts, gpu.MemoryUsedMiB, gpu.SmClockMHz));
    }

    [Theory]
    [InlineData("[N/A]")]
    [InlineData("[Not Supported]")]
    [InlineData("[Unknown Error]")]
    public void Unavailable_csv_values_are_null(string marker)
    {
        var line = $"3, GPU-x, NVIDIA L4, 00000000:01:00.0, 23034, 0, 23034, {marker}, {marker}, 40, {marker}, 72.00, 210, 2040, {marker}, P8, {marker}";

        var gpu = Assert.Single(NvidiaSmi.ParseQueryCsv(line).Value!);

        Assert.Equal((3, "l4-24gb"), (gpu.Index, gpu.ModelId));
        Assert.Null(gpu.UtilizationGpuPercent);
        Assert.Null(gpu.PowerDrawMilliwatts);
        Assert.Null(gpu.EccUncorrectedVolatileTotal);
        Assert.Null(gpu.MigMode);
        Assert.Equal(72000, gpu.PowerLimitMilliwatts);
    }

    [Fact]
    public void Older_xml_reports_give_ecc_as_one_total_and_power_in_power_readings()
    {
        const string xml = """
            <nvidia_smi_log><gpu id="00000000:3B:00.0">
              <product_name>Tesla V100-SXM2-16GB</product_name><uuid>GPU-v</uuid>
              <ecc_errors><volatile><single_bit><total>4</total></single_bit><double_bit><total>2</total></double_bit></volatile></ecc_errors>
              <power_readings><power_draw>41.50 W</power_draw><power_limit>300.00 W</power_limit></power_readings>
              <temperature><gpu_temp>N/A</gpu_temp></temperature>
            </gpu></nvidia_smi_log>
            """;

        var gpu = Assert.Single(NvidiaSmi.ParseXml(xml).Value!);

        Assert.Equal((2L, 41500, 300000), (gpu.EccUncorrectedVolatileTotal, gpu.PowerDrawMilliwatts, gpu.PowerLimitMilliwatts));
        Assert.Equal(("00000000:3B:00.0", null, null), (gpu.PciBusId, gpu.ModelId, gpu.TemperatureC));
    }

    [Fact]
    public void No_devices_is_an_empty_list()
    {
        Assert.Empty(NvidiaSmi.ParseQueryCsv("No devices were found\n").Value!);
        Assert.Empty(NvidiaSmi.ParseQueryCsv("").Value!);
        Assert.Empty(NvidiaSmi.ParseXml("<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>").Value!);
    }

    [Fact]
    public void Bad_csv_lines_are_problems_with_line_numbers()
    {
        var csv = TestFiles.Fixture("query-gpu-idle-nounits.csv") + "1, GPU-y, NVIDIA H100 80GB HBM3\n2, GPU-z, NVIDIA H100 80GB HBM3, 0, lots, 0, 0, 0, 0, 37, 73.20, 700.00, 345, 1980, 0, P0, Disabled\n";

        var result = NvidiaSmi.ParseQueryCsv(csv);

        Assert.False(result.Succeeded);
        Assert.Equal(
            ["expected 17 fields; found 3 (line 2)", "memory.total (line 3): expected a number; found 'lots'"],
            result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void A_header_without_the_identifying_columns_is_a_problem()
    {
        var problems = NvidiaSmi.ParseQueryCsv("memory.total [MiB], memory.used [MiB]\n81559 MiB, 0 MiB\n").Problems;

        Assert.Equal(["index", "uuid", "name"], problems.Select(p => p.Path));
    }

    [Fact]
    public void A_header_naming_a_column_twice_is_a_problem()
    {
        var problem = Assert.Single(NvidiaSmi.ParseQueryCsv("index, uuid, name, name\n0, GPU-a, NVIDIA L4, NVIDIA L4\n").Problems);

        Assert.Equal("name (line 1): the header names 'name' more than once", problem.ToString());
    }

    [Fact]
    public void Invalid_xml_is_a_problem_with_its_position()
    {
        var problem = Assert.Single(NvidiaSmi.ParseXml("<nvidia_smi_log>\n<gpu>\n</nvidia_smi_log>").Problems);

        Assert.StartsWith("invalid XML:", problem.Message, StringComparison.Ordinal);
        Assert.Equal(3, problem.Line);
    }

    [Fact]
    public void Refuses_deep_xml_quickly()
    {
        const int depth = 200_000;
        var xml = $"<nvidia_smi_log><gpu>{string.Concat(Enumerable.Repeat("<a>", depth))}{string.Concat(Enumerable.Repeat("</a>", depth))}</gpu></nvidia_smi_log>";

        Assert.Equal("nesting deeper than 16 levels", Assert.Single(NvidiaSmi.ParseXml(xml).Problems).Message);
    }

    [Fact]
    public void A_gpu_without_uuid_is_a_problem()
    {
        var problem = Assert.Single(NvidiaSmi.ParseXml("<nvidia_smi_log><gpu><product_name>NVIDIA L4</product_name></gpu></nvidia_smi_log>").Problems);

        Assert.Equal("gpu[0]", problem.Path);
    }
}
