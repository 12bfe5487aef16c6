using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Headroom.Server.Jobs.Local;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Tests.Jobs.Kubernetes;

/// <summary>
/// A kubelet for tests against a real API server (deploy/kubernetes/dev-cluster.sh), without containers: it registers
/// GPU nodes (capacity and allocatable <c>nvidia.com/gpu</c>, Ready, without the not-ready taint that only the absent
/// node-lifecycle controller would remove), watches the pods bound to them and runs each pod's container command as a
/// real local process (the image is ignored, the environment is the container's), reports Running, then Succeeded or
/// Failed with the real exit code and signal. A graceful deletion gets SIGTERM, SIGKILL at the end of its grace, and is
/// then confirmed (deleted with grace 0), as a kubelet does; a pod deleted outright is killed at once.
/// <para>
/// Logs: it serves the kubelet's <c>/containerLogs/&lt;ns&gt;/&lt;pod&gt;/&lt;container&gt;</c> over HTTPS (self-signed; a
/// 1.20 API server without a kubelet CA does not verify it) at the port its nodes advertise as their kubelet endpoint,
/// so the pod log API works through the API server as it does with a real kubelet.
/// </para>
/// </summary>
internal sealed class FakeKubelet : IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly HashSet<string> _nodes;
    private readonly string _logs;
    private readonly ConcurrentDictionary<string, Workload> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private WebApplication? _server;
    private Task? _watch;

    private FakeKubelet(IKubernetes client, IEnumerable<string> nodes, string logs)
    {
        _client = client;
        _nodes = [.. nodes];
        _logs = logs;
    }

    /// <summary>Registers <paramref name="nodes"/> with <paramref name="gpus"/> GPUs each and starts driving their pods.</summary>
    public static async Task<FakeKubelet> StartAsync(IKubernetes client, IReadOnlyList<string> nodes, int gpus, string logDirectory)
    {
        Directory.CreateDirectory(logDirectory);
        var kubelet = new FakeKubelet(client, nodes, logDirectory);
        var port = await kubelet.ServeLogsAsync();
        foreach (var node in nodes)
            await kubelet.RegisterAsync(node, gpus, port);
        // Watch from the present on: pods bound before this kubelet started are not its business.
        var list = await client.CoreV1.ListPodForAllNamespacesAsync();
        kubelet._watch = Task.Run(() => kubelet.WatchAsync(list.Metadata.ResourceVersion, kubelet._stop.Token));
        return kubelet;
    }

    private async Task RegisterAsync(string name, int gpus, int port)
    {
        try
        {
            await _client.CoreV1.CreateNodeAsync(new V1Node
            {
                Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["kubernetes.io/hostname"] = name } },
            });
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Registered by an earlier run on the same control plane: take it over.
        }
        var now = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var resources = new Dictionary<string, string> { ["cpu"] = "64", ["memory"] = "512Gi", ["pods"] = "110", ["nvidia.com/gpu"] = gpus.ToString(CultureInfo.InvariantCulture) };
        var status = new
        {
            status = new
            {
                capacity = resources,
                allocatable = resources,
                conditions = new[] { new { type = "Ready", status = "True", reason = "KubeletReady", message = "fake kubelet", lastHeartbeatTime = now, lastTransitionTime = now } },
                addresses = new[] { new { type = "InternalIP", address = "127.0.0.1" }, new { type = "Hostname", address = "127.0.0.1" } },
                daemonEndpoints = new { kubeletEndpoint = new { Port = port } },
                nodeInfo = new
                {
                    kubeletVersion = "v1.20.2-fake", machineID = "", systemUUID = "", bootID = "", kernelVersion = "", osImage = "fake",
                    containerRuntimeVersion = "fake://1", kubeProxyVersion = "", operatingSystem = "linux", architecture = "amd64",
                },
            },
        };
        await _client.CoreV1.PatchNodeStatusAsync(Merge(status), name);
        // The TaintNodesByCondition admission adds node.kubernetes.io/not-ready:NoSchedule at creation; the node-lifecycle
        // controller (not run) would remove it once the node is Ready, so the kubelet does it.
        await _client.CoreV1.PatchNodeAsync(new V1Patch("{\"spec\":{\"taints\":null}}", V1Patch.PatchType.MergePatch), name);
    }

    private async Task WatchAsync(string resourceVersion, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var events = _client.CoreV1.WatchListPodForAllNamespacesAsync(fieldSelector: "spec.nodeName!=", resourceVersion: resourceVersion,
                    timeoutSeconds: 300, cancellationToken: cancellationToken);
                await foreach (var (type, pod) in events)
                {
                    resourceVersion = pod.Metadata.ResourceVersion;
                    if (!_nodes.Contains(pod.Spec.NodeName ?? ""))
                        continue;
                    await HandleAsync(type, pod);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or KubernetesException)
            {
                // The watch broke (or its resource version is too old): relist what is bound here and go on from there.
                var list = await _client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: "spec.nodeName!=", cancellationToken: cancellationToken);
                resourceVersion = list.Metadata.ResourceVersion;
                foreach (var pod in list.Items.Where(p => _nodes.Contains(p.Spec.NodeName ?? "")))
                    await HandleAsync(WatchEventType.Modified, pod);
            }
        }
    }

    private async Task HandleAsync(WatchEventType type, V1Pod pod)
    {
        var key = pod.Metadata.Uid;
        _running.TryGetValue(key, out var workload);
        if (type == WatchEventType.Deleted)
        {
            // Gone from the API (a stop, grace 0): nothing to report to, so kill at once.
            workload?.Kill(Processes.SigKill);
            return;
        }
        if (pod.Metadata.DeletionTimestamp is not null)
        {
            if (workload is null || workload.Exited.IsCompleted)
            {
                await ConfirmDeletionAsync(pod);
                return;
            }
            workload.Terminate(TimeSpan.FromSeconds(pod.Metadata.DeletionGracePeriodSeconds ?? 30));
            return;
        }
        if (workload is null && pod.Status?.Phase is null or "Pending")
            await RunAsync(pod);
    }

    private async Task RunAsync(V1Pod pod)
    {
        var container = pod.Spec.Containers[0];
        var log = LogPath(pod.Metadata.NamespaceProperty, pod.Metadata.Name, container.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        // setsid: the workload leads its own process group, so signals reach what it started too.
        var start = new ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var arg in (string[])["/bin/sh", "-c", "exec \"$@\" >>\"$0\" 2>&1 </dev/null", log])
            start.ArgumentList.Add(arg);
        foreach (var arg in (container.Command ?? []).Concat(container.Args ?? []))
            start.ArgumentList.Add(arg);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var env in container.Env ?? [])
            start.Environment[env.Name] = env.Value ?? "";
        var process = Process.Start(start)!;
        var workload = new Workload(process);
        _running[pod.Metadata.Uid] = workload;
        var now = Now();
        await PatchStatusAsync(pod, new
        {
            status = new
            {
                phase = "Running", startTime = now, hostIP = "127.0.0.1", podIP = "10.244.0.1",
                conditions = new[] { new { type = "Ready", status = "True", lastTransitionTime = now } },
                containerStatuses = new[] { new { name = container.Name, ready = true, restartCount = 0, image = container.Image, imageID = "", state = new { running = new { startedAt = now } } } },
            },
        });
        _ = Task.Run(async () =>
        {
            await workload.Exited;
            var code = process.ExitCode;
            var signal = code is > 128 and <= 192 ? code - 128 : 0;
            var end = Now();
            await PatchStatusAsync(pod, new
            {
                status = new
                {
                    phase = code == 0 ? "Succeeded" : "Failed",
                    conditions = new[] { new { type = "Ready", status = "False", lastTransitionTime = end } },
                    containerStatuses = new[]
                    {
                        new
                        {
                            name = container.Name, ready = false, restartCount = 0, image = container.Image, imageID = "",
                            state = new { terminated = new { exitCode = code, signal, reason = code == 0 ? "Completed" : "Error", startedAt = now, finishedAt = end } },
                        },
                    },
                },
            });
            // A pod whose deletion waited for it to end is deleted for good now.
            if (workload.Terminating)
                await ConfirmDeletionAsync(pod);
        });
    }

    private async Task PatchStatusAsync(V1Pod pod, object status)
    {
        try
        {
            await _client.CoreV1.PatchNamespacedPodStatusAsync(Merge(status), pod.Metadata.Name, pod.Metadata.NamespaceProperty);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Deleted outright meanwhile.
        }
    }

    private async Task ConfirmDeletionAsync(V1Pod pod)
    {
        try
        {
            await _client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, pod.Metadata.NamespaceProperty, new V1DeleteOptions { GracePeriodSeconds = 0 }, gracePeriodSeconds: 0);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    private string LogPath(string ns, string pod, string container) => Path.Combine(_logs, ns, pod, container + ".log");

    /// <summary>The kubelet's container log endpoint over HTTPS on a free loopback port; returns the port.</summary>
    private async Task<int> ServeLogsAsync()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=fake-kubelet", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var generated = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certificate = X509CertificateLoader.LoadPkcs12(generated.Export(X509ContentType.Pkcs12), null);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        app.MapGet("/containerLogs/{ns}/{pod}/{container}", async (string ns, string pod, string container, int? limitBytes, HttpContext context) =>
        {
            var path = LogPath(ns, pod, container);
            if (!File.Exists(path))
                return Results.NotFound();
            var bytes = await File.ReadAllBytesAsync(path, context.RequestAborted);
            if (limitBytes is { } limit && limit < bytes.Length)
                bytes = bytes[..limit];
            return Results.Bytes(bytes, "text/plain");
        });
        await app.StartAsync();
        _server = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address).Port;
    }

    private static V1Patch Merge(object body) => new(JsonSerializer.Serialize(body), V1Patch.PatchType.MergePatch);

    private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var workload in _running.Values)
            workload.Kill(Processes.SigKill);
        if (_watch is not null)
            await _watch;
        if (_server is not null)
            await _server.DisposeAsync();
        foreach (var node in _nodes)
        {
            try
            {
                await _client.CoreV1.DeleteNodeAsync(node);
            }
            catch (HttpOperationException)
            {
            }
        }
        _stop.Dispose();
    }

    /// <summary>One pod's process: its group gets the signals; a graceful termination is TERM, then KILL after the grace.</summary>
    private sealed class Workload(Process process)
    {
        private int _terminating;

        public Task Exited { get; } = process.WaitForExitAsync();

        public bool Terminating => Volatile.Read(ref _terminating) == 1;

        public void Terminate(TimeSpan grace)
        {
            if (Interlocked.Exchange(ref _terminating, 1) == 1)
                return;
            Kill(15);
            _ = Task.Run(async () =>
            {
                if (await Task.WhenAny(Exited, Task.Delay(grace)) != Exited)
                    Kill(Processes.SigKill);
            });
        }

        public void Kill(int signal)
        {
            if (!Exited.IsCompleted)
                Processes.Signal(-process.Id, signal);
        }
    }
}
