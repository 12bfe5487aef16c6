using k8s;

namespace Headroom.Server.Jobs.Kubernetes;

/// <summary>
/// Settings of the <c>kubernetes</c> runtime (the <c>kubernetes</c> section of the settings; see docs/runtimes.md). The
/// runtime exists on a replica only when they are given.
/// </summary>
public sealed record KubernetesRuntimeOptions
{
    /// <summary>The kubeconfig to reach the API server with (its current context); null or empty: the in-cluster service account.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>The namespace every pod of every attempt is created in.</summary>
    public string Namespace { get; init; } = "default";

    /// <summary>The container image of jobs that give only a command (all of them today).</summary>
    public string DefaultImage { get; init; } = "debian:bookworm-slim";

    /// <summary>The extended resource a node's device plugin advertises GPUs as; pods request it per node.</summary>
    public string GpuResource { get; init; } = "nvidia.com/gpu";

    /// <summary>The pods' <c>schedulerName</c>: no other scheduler must place them, Headroom binds them itself.</summary>
    public string SchedulerName { get; init; } = "headroom";

    /// <summary>
    /// A directory the control plane and every node see at the same path (shared storage): each job's checkpoints
    /// (<c>checkpoints/&lt;job&gt;</c>) live here and are mounted into its pods as a hostPath volume at the same path.
    /// </summary>
    public required string SharedDirectory { get; init; }

    /// <summary>How long one API request may take; past it the call counts as the API server being unavailable.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem with these settings, named as the settings name them; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!string.IsNullOrEmpty(Kubeconfig) && !File.Exists(Kubeconfig))
            problems.Add($"kubernetes: kubeconfig '{Kubeconfig}' does not exist");
        else if (string.IsNullOrEmpty(Kubeconfig) && !KubernetesClientConfiguration.IsInCluster())
            problems.Add("kubernetes: kubeconfig is required outside a cluster (there is no in-cluster service account here)");
        if (!IsDnsLabel(Namespace))
            problems.Add($"kubernetes: namespace '{Namespace}' is not a DNS label (lower-case letters, digits, '-', at most 63)");
        if (string.IsNullOrWhiteSpace(DefaultImage) || DefaultImage.Any(char.IsWhiteSpace))
            problems.Add("kubernetes: default_image must be an image reference without spaces");
        if (string.IsNullOrWhiteSpace(GpuResource) || !GpuResource.Contains('/', StringComparison.Ordinal) || GpuResource.Any(char.IsWhiteSpace))
            problems.Add($"kubernetes: gpu_resource '{GpuResource}' is not an extended resource name (vendor/name, e.g. nvidia.com/gpu)");
        if (string.IsNullOrWhiteSpace(SchedulerName) || SchedulerName.Any(char.IsWhiteSpace))
            problems.Add("kubernetes: scheduler_name must be a name without spaces");
        if (string.IsNullOrWhiteSpace(SharedDirectory) || !Path.IsPathFullyQualified(SharedDirectory))
            problems.Add("kubernetes: shared_directory must be an absolute path");
        if (RequestTimeout <= TimeSpan.Zero)
            problems.Add("kubernetes: request_timeout_seconds must be positive");
        return problems;
    }

    private static bool IsDnsLabel(string? s) =>
        s is { Length: > 0 and <= 63 } && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') && s[0] != '-' && s[^1] != '-';
}
