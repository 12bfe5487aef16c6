using System.Diagnostics;
using Headroom.Cli.Client;

namespace Headroom.Cli.Tests;

/// <summary>What needs no server: shell completion, help with examples, and reading the units people type.</summary>
public sealed class ClientCompletionAndHelpTests : IDisposable
{
    private readonly HeadroomCli _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task The_bash_completion_script_sources_and_completes_commands_and_options()
    {
        var script = await _cli.RunAsync("completion", "bash");
        var path = Path.Combine(_cli.Home, "headroom.bash");
        await File.WriteAllTextAsync(path, script.Stdout);

        // A shell function stands in for the installed `headroom` on PATH; the script is sourced as a user's ~/.bashrc would.
        var commands = await CompleteAsync(path, "headroom jobs su");
        var options = await CompleteAsync(path, "headroom jobs submit --gpu-m");
        var values = await CompleteAsync(path, "headroom jobs submit --tier ");

        Assert.Equal(0, script.ExitCode);
        Assert.Equal(["submit"], commands);
        Assert.Equal(["--gpu-milli", "--gpu-model"], options);
        Assert.Equal(["internal", "on-demand", "spot"], values);
    }

    [Fact]
    public async Task Bash_completion_picks_up_the_billing_and_model_commands()
    {
        var script = await _cli.RunAsync("completion", "bash");
        var path = Path.Combine(_cli.Home, "headroom.bash");
        await File.WriteAllTextAsync(path, script.Stdout);

        var reservations = await CompleteAsync(path, "headroom reservations ");
        var tiers = await CompleteAsync(path, "headroom reservations quote --tier ");
        var budgets = await CompleteAsync(path, "headroom budgets ");
        var top = await CompleteAsync(path, "headroom c");

        // An empty word also offers the options (--help); the subcommands are the rest.
        Assert.Equal(["buy", "cancel", "get", "list", "quote"], reservations.Where(w => !w.StartsWith('-')));
        Assert.Equal(["on-demand", "reserved", "spot"], tiers);
        Assert.Equal(["create", "delete", "list"], budgets.Where(w => !w.StartsWith('-')));
        Assert.Contains("capacity", top);
        Assert.Contains("chat", top);
    }

    [Fact]
    public async Task The_zsh_completion_script_defines_the_completer()
    {
        var script = await _cli.RunAsync("completion", "zsh");
        var fish = await _cli.RunAsync("completion", "fish");

        Assert.Equal(0, script.ExitCode);
        Assert.StartsWith("#compdef headroom", script.Stdout, StringComparison.Ordinal);
        Assert.Contains("compdef _headroom headroom", script.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, fish.ExitCode);
    }

    [Theory]
    [InlineData("login")]
    [InlineData("jobs submit")]
    [InlineData("jobs logs")]
    [InlineData("keys create")]
    [InlineData("fleet drain")]
    [InlineData("usage")]
    [InlineData("audit export")]
    [InlineData("reservations quote")]
    [InlineData("reservations buy")]
    [InlineData("reservations list")]
    [InlineData("reservations get")]
    [InlineData("reservations cancel")]
    [InlineData("capacity")]
    [InlineData("invoices list")]
    [InlineData("invoices get")]
    [InlineData("invoices upcoming")]
    [InlineData("projects get")]
    [InlineData("projects update")]
    [InlineData("budgets list")]
    [InlineData("budgets create")]
    [InlineData("budgets delete")]
    [InlineData("models")]
    [InlineData("chat")]
    [InlineData("deployments create")]
    [InlineData("deployments list")]
    [InlineData("deployments get")]
    [InlineData("deployments scale")]
    [InlineData("deployments delete")]
    public async Task Client_commands_show_examples_in_their_help(string command)
    {
        var help = await _cli.RunAsync([.. command.Split(' '), "--help"]);

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Examples:", help.Stdout, StringComparison.Ordinal);
        Assert.Contains($"headroom {command}", help.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("4", 4000)]
    [InlineData("0.5", 500)]
    [InlineData("500m", 500)]
    [InlineData("0.0001", null)]
    [InlineData("four", null)]
    [InlineData("-1", null)]
    public void Cpu_is_read_as_cores_or_milli_cpus(string text, int? milli)
    {
        Assert.Equal(milli, Quantities.TryCpuMilli(text, out var value) ? value : null);
    }

    [Theory]
    [InlineData("512", 512)]
    [InlineData("512Mi", 512)]
    [InlineData("16Gi", 16384)]
    [InlineData("16G", 16384)]
    [InlineData("1.5Gi", 1536)]
    [InlineData("1Ti", 1048576)]
    [InlineData("16GB", null)]
    [InlineData("0.3", null)]
    public void Memory_is_read_in_mib_or_binary_units(string text, int? mib)
    {
        Assert.Equal(mib, Quantities.TryMemoryMib(text, out var value) ? value : null);
    }

    [Theory]
    [InlineData("3600", 3600L)]
    [InlineData("90s", 90L)]
    [InlineData("30m", 1800L)]
    [InlineData("2h", 7200L)]
    [InlineData("1d", 86400L)]
    [InlineData("1h30m", 5400L)]
    [InlineData("", null)]
    [InlineData("30x", null)]
    [InlineData("m", null)]
    public void Durations_are_read_as_seconds_or_with_units(string text, long? seconds)
    {
        Assert.Equal(seconds, Quantities.TryDurationSeconds(text, out var value) ? value : null);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.1:8080/")]
    [InlineData("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/")]
    [InlineData("https://cloud.example.com/headroom/v1/", "https://cloud.example.com/headroom/")]
    [InlineData("ftp://example.com", null)]
    [InlineData("127.0.0.1:8080", null)]
    public void Endpoints_are_http_urls_and_a_trailing_v1_is_dropped(string text, string? endpoint)
    {
        Assert.Equal(endpoint, ClientOptions.TryEndpoint(text, out var uri, out _) ? uri.ToString() : null);
    }

    /// <summary>Runs the sourced completion function for a command line with the cursor at its end; returns COMPREPLY.</summary>
    private static async Task<string[]> CompleteAsync(string script, string line)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($$"""
            headroom() { dotnet '{{HeadroomProcess.Dll}}' "$@"; }
            source '{{script}}'
            COMP_LINE='{{line}}'; COMP_POINT=${#COMP_LINE}
            _headroom_complete
            printf '%s\n' "${COMPREPLY[@]}"
            """);
        using var bash = Process.Start(start)!;
        var output = await bash.StandardOutput.ReadToEndAsync();
        var error = await bash.StandardError.ReadToEndAsync();
        await bash.WaitForExitAsync();
        Assert.True(bash.ExitCode == 0, error);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
    }
}
