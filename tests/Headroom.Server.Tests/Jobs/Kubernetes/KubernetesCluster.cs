using System.Collections.Immutable;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Server.Tests.Infrastructure;
using k8s;

namespace Headroom.Server.Tests.Jobs.Kubernetes;

/// <summary>
/// The real control plane the Kubernetes tests run against: etcd and kube-apiserver v1.20.2 that
/// deploy/kubernetes/dev-cluster.sh starts, with nodes from a <see cref="FakeKubelet"/> per test (names of its own, so
/// tests running side by side never share a node). Without KUBECONFIG every test using it fails, saying how to start
/// one; none passes silently.
/// </summary>
internal static class KubernetesCluster
{
    public static string Kubeconfig
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("KUBECONFIG");
            if (string.IsNullOrEmpty(path))
            {
                throw new InvalidOperationException(
                    "KUBECONFIG is not set. The Kubernetes tests run against a real API server: run `deploy/kubernetes/dev-cluster.sh build` and " +
                    "`eval \"$(deploy/kubernetes/dev-cluster.sh start)\"` as root (scripts/test.sh does both), then run the tests again.");
            }
            if (!File.Exists(path))
                throw new InvalidOperationException($"KUBECONFIG={path} does not exist. Start the control plane with `deploy/kubernetes/dev-cluster.sh start`.");
            return path;
        }
    }

    public static IKubernetes Client() => new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(Kubeconfig));

    /// <summary>Node names no other test uses: <c>&lt;prefix&gt;-&lt;random&gt;-1..count</c>.</summary>
    public static IReadOnlyList<string> NewNodes(string prefix, int count)
    {
        var tag = Guid.NewGuid().ToString("N")[..6];
        return [.. Enumerable.Range(1, count).Select(i => $"{prefix}-{tag}-{i}")];
    }

    public static KubernetesRuntimeOptions Options(string sharedDirectory) => new()
    {
        Kubeconfig = Kubeconfig,
        SharedDirectory = sharedDirectory,
        RequestTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>One fake node of 8 GPUs as a fleet whose cluster runs on kubernetes.</summary>
    public static string Fleet(string node) => $$"""
        regions:
          - name: lab
            clusters:
              - name: k8s
                runtime: kubernetes
                nodes:
                  - name: {{node}}
                    gpu_model: h100-80gb
                    gpu_count: 8
                    cpu_millicores: 16000
                    memory_mib: 64000
        """;

    /// <summary>A server whose only GPU node is <paramref name="node"/>, run by the kubernetes runtime.</summary>
    public static Task<TestServer> StartServerAsync(string node, TimeSpan grace) => TestServer.StartAsync(fleetYaml: Fleet(node), configure: s => s with
    {
        SchedulerPeriod = TimeSpan.FromMilliseconds(200),
        LeaseTtl = TimeSpan.FromSeconds(3),
        Scheduler = new SchedulerConfig
        {
            Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => grace),
            SpotMinimumRunTime = TimeSpan.Zero,
        },
        Kubernetes = Options(s.JobsDir),
    });
}
