namespace Headroom.Core.Fleet;

/// <summary>
/// The string codes of the fleet enums, as they appear in fleet files, the REST API and the
/// database. Frozen: a code, once shipped, never changes meaning.
/// </summary>
public static class FleetCodes
{
    public static string ToCode(this NodeState state) => state switch
    {
        NodeState.Ready => "ready",
        NodeState.Cordoned => "cordoned",
        NodeState.Draining => "draining",
        NodeState.Down => "down",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static string ToCode(this Runtime runtime) => runtime switch
    {
        Runtime.Local => "local",
        Runtime.Slurm => "slurm",
        Runtime.Kubernetes => "kubernetes",
        _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, null),
    };

    public static string ToCode(this GpuHealthIssueKind kind) => kind switch
    {
        GpuHealthIssueKind.MissingGpus => "missing_gpus",
        GpuHealthIssueKind.UncorrectableEccErrors => "uncorrectable_ecc_errors",
        GpuHealthIssueKind.OverTemperature => "over_temperature",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static bool TryParseNodeState(string code, out NodeState state) => NodeStatesByCode.TryGetValue(code, out state);

    public static bool TryParseRuntime(string code, out Runtime runtime) => RuntimesByCode.TryGetValue(code, out runtime);

    // Codes match exactly (lower case): a file that says "Slurm" has a typo worth reporting, not
    // a second spelling to support forever.
    internal static readonly IReadOnlyDictionary<string, NodeState> NodeStatesByCode =
        Enum.GetValues<NodeState>().ToDictionary(s => s.ToCode(), StringComparer.Ordinal);

    internal static readonly IReadOnlyDictionary<string, Runtime> RuntimesByCode =
        Enum.GetValues<Runtime>().ToDictionary(r => r.ToCode(), StringComparer.Ordinal);
}
