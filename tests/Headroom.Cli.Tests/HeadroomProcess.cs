using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Headroom.Cli.Tests;

/// <summary>
/// The real <c>headroom</c> executable, started as a child process the way an operator starts it,
/// with its output captured line by line.
/// </summary>
public sealed partial class HeadroomProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeadroomProcess(Process process)
    {
        _process = process;
    }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The headroom.dll built beside these tests (same configuration).</summary>
    public static string Dll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
                dir = dir.Parent;
            var dll = Path.Combine(dir!.FullName, "src", "Headroom.Cli", "bin", configuration, "net10.0", "headroom.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the solution first.", dll);
        }
    }

    public static HeadroomProcess Start(IEnumerable<string> args, IDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
            start.Environment[key] = value;
        var process = new Process { StartInfo = start };
        var wrapper = new HeadroomProcess(process);
        process.OutputDataReceived += (_, e) => wrapper.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => wrapper.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, process.Output);
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
        if (ApiLine().Match(line) is { Success: true } m)
            _address.TrySetResult(new Uri(m.Groups[1].Value));
    }

    [GeneratedRegex(@"API:\s+(http://\S+)/v1")]
    private static partial Regex ApiLine();

    /// <summary>Waits until the server printed its address; fails with its output if it exits first.</summary>
    public async Task<Uri> AddressAsync()
    {
        var exited = _process.WaitForExitAsync();
        var done = await Task.WhenAny(_address.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != _address.Task)
            throw new InvalidOperationException($"headroom did not come up:\n{Output}");
        return await _address.Task;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"headroom did not exit within {timeout}:\n{Output}");
        }
        // The async readers may still be flushing the last lines.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Terminate() => _ = SysKill(_process.Id, 15);

    /// <summary>kill -9 of the control plane alone; the workloads it started live on, as they would in production.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: false);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SysKill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
