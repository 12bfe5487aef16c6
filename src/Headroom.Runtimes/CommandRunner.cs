using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Headroom.Runtimes;

/// <summary>What a finished (or abandoned) command left behind.</summary>
/// <param name="ExitCode">The exit status; -1 when the command did not run to the end.</param>
/// <param name="Failure">Why it did not run to the end (could not start, timed out); null when it did.</param>
internal sealed record CommandResult(int ExitCode, string StdOut, string StdErr, string? Failure)
{
    public bool Ran => Failure is null;
    public bool Succeeded => Failure is null && ExitCode == 0;

    /// <summary>One line for logs and reasons: the failure, or stderr (else stdout) trimmed.</summary>
    public string Message => Failure ?? (StdErr.Trim() is { Length: > 0 } err ? err : StdOut.Trim());
}

/// <summary>
/// Runs an engine's command-line tool (sbatch, squeue, ...) without a shell, with a clean environment
/// (only what the caller passes, so the control plane's own secrets never reach a job through
/// sbatch's environment export), optional stdin and a timeout after which the whole process tree is
/// killed. Expected failures come back as values; only caller cancellation throws.
/// </summary>
internal sealed class CommandRunner(IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
{
    public TimeSpan Timeout { get; } = timeout;

    public async Task<CommandResult> RunAsync(string fileName, IEnumerable<string> arguments, string? stdin, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment.Clear();
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            return new CommandResult(-1, "", "", $"could not start {fileName}: {e.Message}");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            // Utf8 without BOM: the default StreamWriter for stdin would be the console's encoding.
            await using (var input = new StreamWriter(process.StandardInput.BaseStream, new UTF8Encoding(false)))
            {
                if (stdin is not null)
                {
                    await input.WriteAsync(stdin.AsMemory(), deadline.Token);
                }
            }
            await process.WaitForExitAsync(deadline.Token);
            return new CommandResult(process.ExitCode, await stdout, await stderr, null);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            Kill(process);
            cancellationToken.ThrowIfCancellationRequested();
            return new CommandResult(-1, "", "", e is IOException
                ? $"{fileName} failed: {e.Message}"
                : $"{fileName} timed out after {Timeout.TotalSeconds:0.#} s");
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
