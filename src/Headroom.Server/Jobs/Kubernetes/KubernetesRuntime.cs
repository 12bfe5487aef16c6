using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Jobs.Kubernetes;

/// <summary>
/// The <c>kubernetes</c> runtime: every attempt is one bare pod per gang member, and Headroom is their scheduler. A
/// pod is created with <c>schedulerName: headroom</c> (no other scheduler touches it), then bound with the Binding API
/// to the node Headroom's scheduler chose (a fleet node's name is the Kubernetes node name). It requests the job's GPUs
/// as the <see cref="KubernetesRuntimeOptions.GpuResource"/> extended resource; the node's device plugin picks the
/// devices.
/// <para>
/// At most once per attempt: pod names are derived from the job id, the attempt and the gang rank, so a start repeated
/// after a crash meets 409 Conflict and adopts the pod it made before instead of running the attempt twice.
/// </para>
/// <para>
/// Notice and stop are deletions. The notice records the deadline (annotation <c>headroom.dev/preempt-at</c> and the
/// file <c>$HEADROOM_PREEMPT_AT_FILE</c> in the checkpoint directory) and deletes the pods with a grace period that
/// ends at the deadline: the kubelet sends SIGTERM now and SIGKILL at the end of the grace. The stop deletes with
/// grace 0. A pod's state comes from a watch-fed cache (one watch on the namespace's Headroom pods), or a GET when the
/// cache does not hold it. A pod that is gone is Lost, unless this instance saw it end (or stopped it) before it went.
/// </para>
/// </summary>
internal sealed partial class KubernetesRuntime : IWorkloadRuntime, IDisposable
{
    internal const string ManagedBy = "app.kubernetes.io/managed-by";
    internal const string JobLabel = "headroom.dev/job";
    internal const string AttemptLabel = "headroom.dev/attempt";
    internal const string PreemptAtAnnotation = "headroom.dev/preempt-at";
    internal const string ContainerName = "workload";

    /// <summary>The deadline file in the checkpoint directory, by the same name as the slurm runtime's.</summary>
    internal const string PreemptAtFileName = "headroom-preempt-at";

    private readonly KubernetesRuntimeOptions _options;
    private readonly k8s.Kubernetes _client;
    private readonly string _shared;
    private readonly TimeProvider _time;
    private readonly ILogger<KubernetesRuntime> _logger;
    private readonly CancellationTokenSource _stopping = new();

    // What the watch saw last of each Headroom pod (by name), and how pods ended (seen by the watch, or stopped here), kept
    // after they are gone. Only a cache: every answer it cannot give comes from the API server.
    private readonly ConcurrentDictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Observation> _ended = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task? _watch;
    private volatile bool _synced;

    /// <param name="options">Validated with <see cref="KubernetesRuntimeOptions.Validate"/>; throws <see cref="ArgumentException"/> listing every problem.</param>
    public KubernetesRuntime(KubernetesRuntimeOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        _options = options;
        _shared = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SharedDirectory));
        var config = string.IsNullOrEmpty(options.Kubeconfig)
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig);
        _client = new k8s.Kubernetes(config);
        _time = time;
        _logger = loggers.CreateLogger<KubernetesRuntime>();
    }

    public string Name => "kubernetes";

    /// <summary>The job's checkpoint directory, kept across attempts (<c>HEADROOM_CHECKPOINT_DIR</c>), under the shared directory.</summary>
    internal static string CheckpointDir(string shared, string jobId) => Path.Combine(shared, "checkpoints", jobId);

    /// <summary>The pod of one gang member of one attempt: <c>hr-&lt;job id&gt;-a&lt;attempt&gt;-&lt;rank&gt;</c>, in DNS-label form.</summary>
    internal static string PodName(string jobId, int attempt, int rank) =>
        string.Create(CultureInfo.InvariantCulture, $"hr-{jobId.ToLowerInvariant().Replace('_', '-')}-a{attempt}-{rank}");

    public async Task<StartOutcome> StartAsync(RuntimeWorkload workload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var (pods, error) = Pods(workload, _options);
        if (pods is null)
            return StartOutcome.Failed(error!);
        EnsureWatching();
        Directory.CreateDirectory(CheckpointDir(_shared, workload.JobId));
        File.Delete(Path.Combine(CheckpointDir(_shared, workload.JobId), PreemptAtFileName));

        for (var rank = 0; rank < pods.Count; rank++)
        {
            var pod = pods[rank];
            var node = workload.Placements[rank].Node;
            V1Pod created;
            try
            {
                created = await Call(ct => _client.CoreV1.CreateNamespacedPodAsync(pod, _options.Namespace, cancellationToken: ct), "create pod", cancellationToken);
                LogCreated(_logger, workload.JobId, workload.Attempt, pod.Metadata.Name, node);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // A start repeated after a crash: the pod of this attempt exists, so adopt it and bind it if need be.
                created = await Call(ct => _client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, _options.Namespace, cancellationToken: ct), "read pod", cancellationToken);
                if (created.Metadata.Labels is null || !created.Metadata.Labels.TryGetValue(JobLabel, out var owner) || owner != workload.JobId)
                    return await FailAsync(rank, $"pod {pod.Metadata.Name} exists and belongs to no attempt of this job");
                LogAdopted(_logger, workload.JobId, workload.Attempt, pod.Metadata.Name);
            }
            catch (HttpOperationException e) when ((int)e.Response.StatusCode is >= 400 and < 500)
            {
                return await FailAsync(rank, $"Kubernetes refused pod {pod.Metadata.Name}: {Reason(e)}");
            }
            if (string.IsNullOrEmpty(created.Spec.NodeName))
            {
                var binding = new V1Binding
                {
                    Metadata = new V1ObjectMeta { Name = pod.Metadata.Name, NamespaceProperty = _options.Namespace },
                    Target = new V1ObjectReference { ApiVersion = "v1", Kind = "Node", Name = node },
                };
                try
                {
                    await Call(ct => _client.CoreV1.CreateNamespacedPodBindingAsync(binding, pod.Metadata.Name, _options.Namespace, cancellationToken: ct), "bind pod", cancellationToken);
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    // Bound in between by the start this one repeats, which bound it to the same planned node.
                }
                catch (HttpOperationException e) when ((int)e.Response.StatusCode is >= 400 and < 500)
                {
                    return await FailAsync(rank + 1, $"Kubernetes refused to bind pod {pod.Metadata.Name} to node {node}: {Reason(e)}");
                }
            }
            else if (created.Spec.NodeName != node)
            {
                return await FailAsync(rank, $"pod {pod.Metadata.Name} is bound to node {created.Spec.NodeName}, not to the planned {node}");
            }
        }
        return StartOutcome.Started(new KubernetesHandle(_options.Namespace, [.. pods.Select(p => p.Metadata.Name)],
            CheckpointDir(_shared, workload.JobId)).Serialize());

        // A gang runs whole or not at all: the pods this start made before the failure go again.
        async Task<StartOutcome> FailAsync(int made, string error)
        {
            foreach (var pod in pods.Take(made))
                await DeleteAsync(pod.Metadata.Name, 0, CancellationToken.None);
            return StartOutcome.Failed(error);
        }
    }

    public async Task NoticeAsync(string handle, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        var at = deadline.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        // The deadline first, where the workload can read it when the TERM comes.
        var file = Path.Combine(h.CheckpointDir, PreemptAtFileName);
        Directory.CreateDirectory(h.CheckpointDir);
        await File.WriteAllTextAsync(file + ".tmp", at + "\n", cancellationToken);
        File.Move(file + ".tmp", file, overwrite: true);
        // The grace ends at the deadline; at least a second, since a grace of 0 would be a stop, not a notice.
        var grace = (long)Math.Max(1, Math.Ceiling((deadline - _time.GetUtcNow()).TotalSeconds));
        var patch = new V1Patch(JsonSerializer.Serialize(new { metadata = new { annotations = new Dictionary<string, string> { [PreemptAtAnnotation] = at } } }),
            V1Patch.PatchType.MergePatch);
        foreach (var pod in h.Pods)
        {
            try
            {
                await Call(ct => _client.CoreV1.PatchNamespacedPodAsync(patch, pod, h.Namespace, cancellationToken: ct), "annotate pod", cancellationToken);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                continue;
            }
            await DeleteAsync(pod, grace, cancellationToken, h.Namespace);
            LogNoticed(_logger, pod, at, grace);
        }
    }

    public async Task StopAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        foreach (var pod in h.Pods)
        {
            // Grace 0 removes the pod from the API at once and the kubelet kills what still runs. Recorded before the
            // deletion, so the watch's Deleted event finds it rather than calling the pod lost; an end seen before stays.
            var added = _ended.TryAdd(pod, new Observation(ObservedState.Exited, 137, 9, $"pod {pod} stopped by Headroom (deleted with grace 0)"));
            try
            {
                await DeleteAsync(pod, 0, cancellationToken, h.Namespace);
            }
            catch
            {
                if (added)
                    _ended.TryRemove(pod, out _);
                throw;
            }
            LogStopped(_logger, pod);
        }
    }

    /// <summary>
    /// A gang is Exited when every pod ended (with the first failure's status, or 0), Lost when a pod is gone without an
    /// exit this instance saw, and Running otherwise (pending on its node, running, or terminating during a notice).
    /// </summary>
    public async Task<Observation> ObserveAsync(string handle, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        EnsureWatching();
        var seen = new List<Observation>();
        foreach (var name in h.Pods)
        {
            Observation o;
            if (_ended.TryGetValue(name, out var ended))
            {
                o = ended;
            }
            else if (_synced && _pods.TryGetValue(name, out var cached))
            {
                o = Observe(cached);
            }
            else
            {
                try
                {
                    o = Observe(await Call(ct => _client.CoreV1.ReadNamespacedPodAsync(name, h.Namespace, cancellationToken: ct), "read pod", cancellationToken));
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
                {
                    o = Gone(name);
                }
                catch (InvalidOperationException e)
                {
                    // Not knowing is not an end: keep it running, and ask again next cycle.
                    o = new Observation(ObservedState.Running, Detail: e.Message);
                }
            }
            seen.Add(o);
        }
        if (seen.FirstOrDefault(o => o.State == ObservedState.Lost) is { } lost)
            return lost;
        if (seen.Any(o => o.State == ObservedState.Running))
            return seen.First(o => o.State == ObservedState.Running);
        return seen.FirstOrDefault(o => o.ExitCode != 0) ?? seen[0];
    }

    /// <summary>
    /// The first pod's (rank 0's) log through the pod log API, which the API server reads from the kubelet. The API has
    /// no offset, so the log up to <c>offset + maxBytes</c> is fetched and cut; a pod that is gone has no log any more.
    /// </summary>
    public async Task<LogChunk> ReadLogsAsync(string handle, long offset, int maxBytes, CancellationToken cancellationToken)
    {
        var h = Parse(handle);
        var limit = (int)Math.Min(int.MaxValue, offset + maxBytes);
        byte[] log;
        try
        {
            await using var stream = await Call(ct => _client.CoreV1.ReadNamespacedPodLogAsync(h.Pods[0], h.Namespace, container: ContainerName,
                limitBytes: limit, cancellationToken: ct), "read pod log", cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            log = buffer.ToArray();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest)
        {
            // Gone, or not started yet (its container is still being created): nothing to read now.
            return new LogChunk([], offset);
        }
        if (log.Length <= offset)
            return new LogChunk([], offset);
        var data = log.AsSpan((int)offset, (int)Math.Min(maxBytes, log.Length - offset)).ToArray();
        return new LogChunk(data, offset + data.Length);
    }

    /// <summary>A pod's phase and its container's end in the contract's three states. Pure.</summary>
    internal static Observation Observe(V1Pod pod)
    {
        var name = pod.Metadata.Name;
        var phase = pod.Status?.Phase ?? "Pending";
        var terminated = pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == ContainerName)?.State?.Terminated;
        switch (phase)
        {
            case "Succeeded":
                return new Observation(ObservedState.Exited, 0, null, $"pod {name} Succeeded");
            case "Failed" when terminated is not null:
                var code = terminated.ExitCode;
                int? signal = terminated.Signal is > 0 ? terminated.Signal : code is > 128 and <= 128 + 64 ? code - 128 : null;
                if (signal is { } s)
                    code = 128 + s;
                return new Observation(ObservedState.Exited, code, signal,
                    $"pod {name} Failed: {terminated.Reason ?? "Error"}, exit code {code.ToString(CultureInfo.InvariantCulture)}");
            case "Failed":
                // Evicted or its node lost before the container ran or reported: no exit status.
                return new Observation(ObservedState.Lost, Detail: $"pod {name} Failed without an exit status: {pod.Status?.Reason} {pod.Status?.Message}".TrimEnd());
            default:
                var where = string.IsNullOrEmpty(pod.Spec?.NodeName) ? "not bound yet" : "on node " + pod.Spec.NodeName;
                var terminating = pod.Metadata.DeletionTimestamp is { } t
                    ? $", terminating (grace until {t.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)})"
                    : "";
                return new Observation(ObservedState.Running, Detail: $"pod {name} {phase} {where}{terminating}");
        }
    }

    /// <summary>The pods of one attempt, or why it cannot run on Kubernetes. Pure.</summary>
    internal static (IReadOnlyList<V1Pod>? Pods, string? Error) Pods(RuntimeWorkload w, KubernetesRuntimeOptions options)
    {
        if (w.Placements.Count == 0 || w.Command.Count == 0)
            return (null, "the job has no placement or no command");
        if (w.Placements.Any(p => p.GpuMilli is > 0 and < 1000))
            return (null, "the kubernetes runtime runs whole GPUs only; a fractional GPU (gpu_milli below 1000) cannot be requested as " + options.GpuResource);
        if (w.Environment.Keys.FirstOrDefault(k => k.StartsWith("HEADROOM_", StringComparison.Ordinal)) is { } reserved)
            return (null, $"env: {reserved} is reserved for Headroom");
        var shared = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SharedDirectory));
        var checkpoint = CheckpointDir(shared, w.JobId);
        var labels = new Dictionary<string, string>
        {
            [ManagedBy] = "headroom",
            [JobLabel] = w.JobId,
            [AttemptLabel] = w.Attempt.ToString(CultureInfo.InvariantCulture),
            ["headroom.dev/org"] = w.OrgId,
            ["headroom.dev/project"] = w.ProjectId,
            ["headroom.dev/tier"] = Core.Workloads.WorkloadCodes.ToCode(w.Tier),
        };
        var pods = new List<V1Pod>();
        for (var rank = 0; rank < w.Placements.Count; rank++)
        {
            var placement = w.Placements[rank];
            var env = w.Environment.Select(e => new V1EnvVar { Name = e.Key, Value = e.Value }).ToList();
            env.AddRange(new Dictionary<string, string>
            {
                ["HEADROOM_JOB_ID"] = w.JobId,
                ["HEADROOM_ORG"] = w.OrgId,
                ["HEADROOM_PROJECT"] = w.ProjectId,
                ["HEADROOM_ATTEMPT"] = w.Attempt.ToString(CultureInfo.InvariantCulture),
                ["HEADROOM_NODE_RANK"] = rank.ToString(CultureInfo.InvariantCulture),
                ["HEADROOM_NODE_COUNT"] = w.Placements.Count.ToString(CultureInfo.InvariantCulture),
                ["HEADROOM_CHECKPOINT_DIR"] = checkpoint,
                ["HEADROOM_PREEMPT_AT_FILE"] = Path.Combine(checkpoint, PreemptAtFileName),
            }.Select(e => new V1EnvVar { Name = e.Key, Value = e.Value }));
            var resources = new Dictionary<string, ResourceQuantity>();
            if (placement.Gpus.Count > 0)
                resources[options.GpuResource] = new ResourceQuantity(placement.Gpus.Count.ToString(CultureInfo.InvariantCulture));
            if (w.CpuMilliPerNode > 0)
                resources["cpu"] = new ResourceQuantity(w.CpuMilliPerNode.ToString(CultureInfo.InvariantCulture) + "m");
            if (w.MemoryMibPerNode > 0)
                resources["memory"] = new ResourceQuantity(w.MemoryMibPerNode.ToString(CultureInfo.InvariantCulture) + "Mi");
            pods.Add(new V1Pod
            {
                ApiVersion = "v1",
                Kind = "Pod",
                Metadata = new V1ObjectMeta
                {
                    Name = PodName(w.JobId, w.Attempt, rank),
                    NamespaceProperty = options.Namespace,
                    Labels = labels,
                },
                Spec = new V1PodSpec
                {
                    SchedulerName = options.SchedulerName,
                    RestartPolicy = "Never",
                    // The notice's grace: the kubelet's TERM comes this long before its KILL on any deletion without a grace of its own.
                    TerminationGracePeriodSeconds = (long)Math.Ceiling(w.NoticeGrace.TotalSeconds),
                    AutomountServiceAccountToken = false,
                    EnableServiceLinks = false,
                    Containers =
                    [
                        new V1Container
                        {
                            Name = ContainerName,
                            Image = options.DefaultImage,
                            Command = [.. w.Command],
                            Env = env,
                            Resources = new V1ResourceRequirements { Limits = resources, Requests = resources },
                            VolumeMounts = [new V1VolumeMount { Name = "checkpoint", MountPath = checkpoint }],
                        },
                    ],
                    Volumes = [new V1Volume { Name = "checkpoint", HostPath = new V1HostPathVolumeSource { Path = checkpoint, Type = "DirectoryOrCreate" } }],
                },
            });
        }
        return (pods, null);
    }

    /// <summary>A pod the API server no longer has: how this instance saw it end, else Lost.</summary>
    private Observation Gone(string name)
    {
        if (_ended.TryGetValue(name, out var ended))
            return ended;
        return new Observation(ObservedState.Lost, Detail: $"pod {name} is gone without an exit status Headroom saw");
    }

    private async Task DeleteAsync(string pod, long grace, CancellationToken cancellationToken, string? ns = null)
    {
        try
        {
            await Call(ct => _client.CoreV1.DeleteNamespacedPodAsync(pod, ns ?? _options.Namespace,
                new V1DeleteOptions { GracePeriodSeconds = grace }, gracePeriodSeconds: (int)Math.Min(int.MaxValue, grace), cancellationToken: ct), "delete pod", cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone: nothing left to stop.
        }
    }

    /// <summary>
    /// One API call under the request timeout. The API server's answers (4xx) come back as <see cref="HttpOperationException"/>
    /// for the caller to read; not reaching it, or a 5xx, throws <see cref="InvalidOperationException"/>, which the
    /// scheduler's next cycle retries from the stored state.
    /// </summary>
    private async Task<T> Call<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            return await call(timeout.Token);
        }
        catch (HttpOperationException e) when ((int)e.Response.StatusCode >= 500)
        {
            throw new InvalidOperationException($"the Kubernetes API server failed ({what}): {Reason(e)}", e);
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"the Kubernetes API server is unavailable ({what}): {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"the Kubernetes API server did not answer within {_options.RequestTimeout.TotalSeconds} s ({what})", e);
        }
    }

    private static string Reason(HttpOperationException e)
    {
        try
        {
            return JsonSerializer.Deserialize<V1Status>(e.Response.Content)?.Message ?? e.Response.ReasonPhrase ?? e.Message;
        }
        catch (JsonException)
        {
            return e.Response.Content is { Length: > 0 } c ? c : e.Message;
        }
    }

    private void EnsureWatching()
    {
        if (_watch is not null)
            return;
        lock (_gate)
            _watch ??= Task.Run(() => WatchAsync(_stopping.Token));
    }

    /// <summary>
    /// List, then watch from the list's resource version, for as long as the runtime lives; on any end or error the
    /// cache is marked stale (observations GET meanwhile) and it lists again.
    /// </summary>
    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        var selector = $"{ManagedBy}=headroom";
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var list = await _client.CoreV1.ListNamespacedPodAsync(_options.Namespace, labelSelector: selector, cancellationToken: cancellationToken);
                foreach (var pod in list.Items)
                    Seen(pod);
                _synced = true;
                var events = _client.CoreV1.WatchListNamespacedPodAsync(_options.Namespace, labelSelector: selector,
                    resourceVersion: list.Metadata.ResourceVersion, timeoutSeconds: 300, cancellationToken: cancellationToken);
                await foreach (var (type, pod) in events)
                {
                    if (type == WatchEventType.Deleted)
                    {
                        Seen(pod);
                        _pods.TryRemove(pod.Metadata.Name, out _);
                        _ended.TryAdd(pod.Metadata.Name, Gone(pod.Metadata.Name));
                    }
                    else if (type is WatchEventType.Added or WatchEventType.Modified)
                    {
                        Seen(pod);
                    }
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Disposed: whatever the cancelled call threw ends the watch.
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or JsonException or KubernetesException)
            {
                LogWatchFailed(_logger, e.Message);
            }
            _synced = false;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Seen(V1Pod pod)
    {
        _pods[pod.Metadata.Name] = pod;
        if (Observe(pod) is { State: ObservedState.Exited } ended)
            _ended[pod.Metadata.Name] = ended;
    }

    private KubernetesHandle Parse(string handle)
    {
        var h = KubernetesHandle.Parse(handle);
        if (!Path.GetFullPath(h.CheckpointDir).StartsWith(_shared + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"The handle's checkpoint directory is not under this runtime's shared directory {_shared}.", nameof(handle));
        return h;
    }

    /// <summary>Ends the watch (it stops at its next event or at once when idle) and the client.</summary>
    public void Dispose()
    {
        _stopping.Cancel();
        _client.Dispose();
    }

    [LoggerMessage(EventId = 5501, Level = LogLevel.Information, Message = "Created pod {Pod} for job {JobId} attempt {Attempt}, binding it to {Node}")]
    private static partial void LogCreated(ILogger logger, string jobId, int attempt, string pod, string node);

    [LoggerMessage(EventId = 5502, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} already has pod {Pod}; adopting it, not creating it again")]
    private static partial void LogAdopted(ILogger logger, string jobId, int attempt, string pod);

    [LoggerMessage(EventId = 5503, Level = LogLevel.Information, Message = "Noticed pod {Pod}: deadline {Deadline}, deleted with a grace of {GraceSeconds} s")]
    private static partial void LogNoticed(ILogger logger, string pod, string deadline, long graceSeconds);

    [LoggerMessage(EventId = 5504, Level = LogLevel.Information, Message = "Stopped pod {Pod} (deleted with grace 0)")]
    private static partial void LogStopped(ILogger logger, string pod);

    [LoggerMessage(EventId = 5505, Level = LogLevel.Warning, Message = "The pod watch ended ({Reason}); listing again")]
    private static partial void LogWatchFailed(ILogger logger, string reason);
}

/// <summary>
/// What the control plane persists for one Kubernetes attempt, as compact JSON, e.g.
/// <c>{"namespace":"default","pods":["hr-job-01j...-a1-0"],"checkpoint":"/shared/headroom/checkpoints/job_01j..."}</c>.
/// </summary>
internal sealed record KubernetesHandle(
    [property: JsonPropertyName("namespace")] string Namespace,
    [property: JsonPropertyName("pods")] IReadOnlyList<string> Pods,
    [property: JsonPropertyName("checkpoint")] string CheckpointDir)
{
    public string Serialize() => JsonSerializer.Serialize(this);

    /// <summary>Reads a handle this runtime made; throws <see cref="ArgumentException"/> for anything else (a caller bug, not an outcome).</summary>
    public static KubernetesHandle Parse(string handle) => RuntimeHandles.Parse<KubernetesHandle>(handle, "kubernetes", h =>
        !string.IsNullOrEmpty(h.Namespace) && h.Pods is { Count: > 0 } && !h.Pods.Any(string.IsNullOrEmpty) && RuntimeHandles.IsAbsolute(h.CheckpointDir));
}
