namespace Headroom.Server.Jobs;

/// <summary>The runtimes this replica can drive, by the code nodes name them with in the fleet.</summary>
internal sealed class JobRuntimes(IEnumerable<IWorkloadRuntime> runtimes)
{
    private readonly Dictionary<string, IWorkloadRuntime> _byName = runtimes.ToDictionary(r => r.Name, StringComparer.Ordinal);

    public IReadOnlyCollection<string> Names => _byName.Keys;

    public IWorkloadRuntime? For(string? name) => name is null ? null : _byName.GetValueOrDefault(name);
}
