using System.CommandLine;
using System.Text.Json;
using Headroom.Cli.Simulation;

namespace Headroom.Cli.Tests.Simulation;

public sealed class SimulateCommandTests
{
    private static readonly string Data = Path.Combine(AppContext.BaseDirectory, "Fixtures", "openb");

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var root = new RootCommand("headroom");
        root.Subcommands.Add(SimulateCommand.Create());
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void Openb_with_json_prints_one_object_with_mean_and_sd_per_level()
    {
        var (exit, output, error) = Run("simulate", "openb",
            "--nodes", Path.Combine(Data, "openb_node_list_gpu_node.csv"),
            "--pods", Path.Combine(Data, "openb_pod_list_default.csv"),
            "--policy", "best-fit", "--seeds", "42-43", "--json");

        Assert.True(exit == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("best-fit", root.GetProperty("policy").GetString());
        Assert.Equal([42, 43], root.GetProperty("seeds").EnumerateArray().Select(s => s.GetInt32()));
        foreach (var level in new[] { "90", "100", "130" })
        {
            var alloc = root.GetProperty("alloc").GetProperty(level);
            Assert.InRange(alloc.GetProperty("mean").GetDouble(), 80, 100);
            Assert.True(alloc.GetProperty("sd").GetDouble() >= 0);
        }
    }

    [Fact]
    public void Openb_prints_a_row_per_seed_and_the_mean()
    {
        var (exit, output, _) = Run("simulate", "openb",
            "--nodes", Path.Combine(Data, "openb_node_list_gpu_node.csv"),
            "--pods", Path.Combine(Data, "openb_pod_list_default.csv"),
            "--policy", "random", "--seeds", "7");

        Assert.Equal(0, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("7 ", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("mean", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void Faults_with_json_reports_what_happened_and_no_violation()
    {
        var (exit, output, error) = Run("simulate", "faults", "--seeds", "1-20", "--steps", "40", "--json");

        Assert.True(exit == 0, error + output);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(20, root.GetProperty("seeds").GetInt32());
        Assert.True(root.GetProperty("starts").GetInt64() > 0);
        Assert.Equal(root.GetProperty("starts").GetInt64(), root.GetProperty("events_metered").GetInt64());
        Assert.Equal(0, root.GetProperty("failing_seeds").GetArrayLength());
        Assert.Equal(0, root.GetProperty("violations").GetArrayLength());
    }

    [Fact]
    public void Long_fault_runs_may_name_up_to_a_million_seeds_while_openb_stays_at_ten_thousand()
    {
        Assert.True(SimulateCommand.TryParseSeeds("1-100000", out var many, maxRange: 1_000_000));
        Assert.Equal(100_000, many.Count);
        Assert.False(SimulateCommand.TryParseSeeds("1-100000", out _));
        Assert.False(SimulateCommand.TryParseSeeds("1-2000000", out _, maxRange: 1_000_000));
    }

    [Theory]
    [InlineData("--seeds", "9-1")]
    [InlineData("--steps", "0")]
    public void Faults_with_bad_arguments_exit_2(string option, string value)
    {
        var (exit, _, error) = Run("simulate", "faults", option, value);

        Assert.Equal(2, exit);
        Assert.Contains(option, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--policy", "first-fit")]
    [InlineData("--seeds", "51-42")]
    [InlineData("--nodes", "/no/such/file.csv")]
    public void Bad_arguments_fail_with_a_message(string option, string value)
    {
        var args = new List<string> { "simulate", "openb", "--nodes", Path.Combine(Data, "openb_node_list_gpu_node.csv"), "--pods", Path.Combine(Data, "openb_pod_list_default.csv") };
        args.AddRange([option, value]);

        var (exit, _, error) = Run([.. args]);

        Assert.NotEqual(0, exit);
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("42-51", new[] { 42, 43, 44, 45, 46, 47, 48, 49, 50, 51 })]
    [InlineData("1,5,9", new[] { 1, 5, 9 })]
    [InlineData("-3", new[] { -3 })]
    public void Seeds_parse_as_ranges_lists_or_one(string text, int[] expected)
    {
        Assert.True(SimulateCommand.TryParseSeeds(text, out var seeds));
        Assert.Equal(expected, seeds);
    }

    [Fact]
    public void Trace_with_json_reports_every_tier_and_writes_the_chart()
    {
        var philly = Path.Combine(AppContext.BaseDirectory, "Fixtures", "philly");
        var svg = Path.Combine(Path.GetTempPath(), $"headroom-trace-{Guid.NewGuid():N}.svg");
        try
        {
            var (exit, output, error) = Run("simulate", "trace",
                "--fleet", Path.Combine(philly, "fleet_32x8.csv"),
                "--jobs", Path.Combine(philly, "philly_jobs_2017-10-09_12h.csv"),
                "--hours", "3", "--shares", "internal=50,spot=50", "--json", "--svg", svg);

            Assert.True(exit == 0, error);
            using var json = JsonDocument.Parse(output);
            Assert.Equal(256, json.RootElement.GetProperty("gpus").GetInt32());
            var tiers = json.RootElement.GetProperty("tiers");
            Assert.Equal(["internal", "reserved", "on-demand", "spot"], tiers.EnumerateObject().Select(t => t.Name));
            Assert.Equal(json.RootElement.GetProperty("jobs").GetInt32(), tiers.EnumerateObject().Sum(t => t.Value.GetProperty("jobs").GetInt32()));
            Assert.StartsWith("<svg", File.ReadAllText(svg), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(svg);
        }
    }

    [Fact]
    public void Trace_rejects_shares_that_do_not_sum_to_100()
    {
        var philly = Path.Combine(AppContext.BaseDirectory, "Fixtures", "philly");

        var (exit, _, error) = Run("simulate", "trace", "--fleet", Path.Combine(philly, "fleet_32x8.csv"), "--jobs", Path.Combine(philly, "philly_jobs_2017-10-09_12h.csv"), "--shares", "internal=50");

        Assert.Equal(2, exit);
        Assert.Contains("sum to 100", error, StringComparison.Ordinal);
    }
}
