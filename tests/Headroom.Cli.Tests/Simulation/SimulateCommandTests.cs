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
}
