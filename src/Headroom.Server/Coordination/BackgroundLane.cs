using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Headroom.Server.Coordination;

/// <summary>
/// One thread, at a lower CPU priority than the request threads, for the work that follows the request rate behind
/// the scenes: moving spooled model calls into the store and metering them. That work comes in bursts (a second's calls
/// at once) and, on a machine with few cores, a burst on an equal footing with the requests delayed them by
/// milliseconds; niced, it takes the CPU the requests leave. Work started here (<see cref="RunAsync"/>) continues here
/// after each <c>await</c> in its own code. On Linux the thread's nice value is raised by <see cref="Nice"/>; elsewhere
/// it runs at normal priority.
/// </summary>
internal sealed class BackgroundLane : TaskScheduler, IDisposable
{
    /// <summary>Linux nice value of the lane's thread: 10 gets about a tenth of the CPU share of a normal thread when both want it.</summary>
    public const int Nice = 10;

    private readonly BlockingCollection<Task> _queue = [];
    private readonly Thread _thread;

    public BackgroundLane()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "Headroom background lane" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="work"/> on the lane and completes with it.</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(work, cancellationToken, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    public override int MaximumConcurrencyLevel => 1;

    protected override void QueueTask(Task task)
    {
        try
        {
            _queue.Add(task);
        }
        catch (InvalidOperationException)
        {
            // Shutting down: what still comes finishes on the thread pool.
            ThreadPool.UnsafeQueueUserWorkItem(_ => TryExecuteTask(task), null);
        }
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        Thread.CurrentThread == _thread && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => [.. _queue];

    private void Run()
    {
        if (OperatingSystem.IsLinux())
            _ = setpriority(0 /* PRIO_PROCESS: on Linux, with a thread id, that one thread */, gettid(), Nice);
        foreach (var task in _queue.GetConsumingEnumerable())
            TryExecuteTask(task);
    }

    public void Dispose() => _queue.CompleteAdding();

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int setpriority(int which, int who, int prio);

    [DllImport("libc")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int gettid();
}
