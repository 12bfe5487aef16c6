using System.Diagnostics;
using System.Text;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Local;
using Microsoft.Extensions.Logging.Abstractions;

namespace Headroom.Server.Tests.Jobs.Local;

/// <summary>
/// A throwaway root for local jobs, real processes started through <see cref="LocalRuntime"/>, and
/// the cleanup that kills whatever a test left running.
/// </summary>
internal sealed class LocalJobs : IAsyncDisposable
{
    private readonly List<(LocalRuntime Runtime, string Handle)> _started = [];

    public LocalJobs()
    {
        Root = Path.Combine(Path.GetTempPath(), "headroom-local-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>A new runtime over the same root: what the control plane has after a restart.</summary>
    public LocalRuntime Runtime(string noticeSignal = "TERM") =>
        new(new LocalRuntimeOptions { Root = Root, NoticeSignal = noticeSignal }, TimeProvider.System, NullLogger<LocalRuntime>.Instance);

    public string CheckpointDir(string jobId) => Path.Combine(Root, "checkpoints", jobId);

    public RuntimeWorkload Shell(
        string jobId, string script, int attempt = 1, IReadOnlyList<int>? gpus = null, int gpuMilli = 1000,
        IReadOnlyDictionary<string, string>? env = null) =>
        new(jobId, attempt, "org_test", "proj_test", ["/bin/sh", "-c", script],
            env ?? new Dictionary<string, string>(),
            [new RuntimePlacement("local", gpus ?? [], gpuMilli)],
            null, CheckpointDir(jobId));

    public async Task<string> StartAsync(LocalRuntime runtime, RuntimeWorkload workload)
    {
        var outcome = await runtime.StartAsync(workload, CancellationToken.None);
        Assert.Null(outcome.Error);
        Assert.NotNull(outcome.Handle);
        lock (_started)
            _started.Add((runtime, outcome.Handle));
        return outcome.Handle;
    }

    public static async Task<Observation> WaitEndedAsync(IWorkloadRuntime runtime, string handle, double seconds = 5)
    {
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        while (true)
        {
            var seen = await runtime.ObserveAsync(handle, CancellationToken.None);
            if (seen.State != ObservedState.Running || Stopwatch.GetTimestamp() > until)
                return seen;
            await Task.Delay(20);
        }
    }

    public static async Task WaitForAsync(Func<bool> condition, string what, double seconds = 5)
    {
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        while (!condition())
        {
            Assert.True(Stopwatch.GetTimestamp() < until, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    public static async Task<string> LogAsync(IWorkloadRuntime runtime, string handle)
    {
        var all = new MemoryStream();
        long offset = 0;
        while (true)
        {
            var chunk = await runtime.ReadLogsAsync(handle, offset, 1 << 16, CancellationToken.None);
            if (chunk.Data.Length == 0)
                return Encoding.UTF8.GetString(all.ToArray());
            all.Write(chunk.Data);
            offset = chunk.NextOffset;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (runtime, handle) in _started)
            await runtime.StopAsync(handle, CancellationToken.None);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A straggler still writing; the temp dir is cleaned by the machine.
        }
    }
}
