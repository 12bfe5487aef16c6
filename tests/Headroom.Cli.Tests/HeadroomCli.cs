using System.Diagnostics;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>What one run of a client command printed, and how it exited.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>For assertion messages: everything the command said.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs <c>headroom &lt;args&gt;</c> as a child process the way a user's shell does, with its own temporary HOME (so
/// the default config file is <c>HOME/.config/headroom/config.json</c> and no test sees another's login), stdout
/// and stderr captured apart, and optional stdin.
/// </summary>
public sealed class HeadroomCli : IDisposable
{
    private readonly TempDirectory _home = new();

    public string Home => _home.Path;

    /// <summary>Where login saves by default, with HOME set and XDG_CONFIG_HOME unset.</summary>
    public string DefaultConfigPath => Path.Combine(Home, ".config", "headroom", "config.json");

    public Task<CliResult> RunAsync(params string[] args) => RunAsync(args, stdin: null);

    public Task<CliResult> RunAsync(IEnumerable<string> args, string? stdin, IDictionary<string, string>? env = null) =>
        RunProgramAsync("dotnet", [HeadroomProcess.Dll, .. args], stdin, env);

    private async Task<CliResult> RunProgramAsync(string program, IReadOnlyList<string> args, string? stdin, IDictionary<string, string>? env)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Home,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["HOME"] = Home;
        start.Environment.Remove("XDG_CONFIG_HOME");
        start.Environment.Remove("NO_COLOR");
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
            start.Environment[key] = value;

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not exit within 90 s:\n{await stdout}\n{await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Runs the command on a pseudo-terminal, as in an interactive shell, through util-linux's <c>script</c>; returns
    /// what the terminal showed (stdout and stderr together, escape sequences included).
    /// </summary>
    public Task<CliResult> RunOnTerminalAsync(IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
        var line = string.Join(' ', new[] { "dotnet", HeadroomProcess.Dll }.Concat(args).Select(Quote));
        return RunProgramAsync("script", ["-qec", line, "/dev/null"], null, env);
    }

    public void Dispose() => _home.Dispose();
}
