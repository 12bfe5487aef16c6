using System.Globalization;
using System.Text;

namespace Headroom.Core.Fleet;

/// <summary>
/// The fleet of one machine, for <c>headroom up</c> without a fleet file: region <c>local</c>,
/// cluster <c>local</c>, one node named after the host, run by the local runtime.
/// </summary>
public static class LocalFleet
{
    public const string RegionName = "local";
    public const string ClusterName = "local";

    /// <param name="hostName">The machine's name; it is lower-cased and anything a node name cannot hold becomes '-'.</param>
    /// <param name="readings">What nvidia-smi reported; empty when it is absent, which makes a node without GPUs.</param>
    /// <remarks>
    /// A node has one GPU model, so on a machine with mixed GPUs the node counts the most
    /// numerous model (ties: the one at the lowest index) and leaves the others out. A product
    /// the catalog does not know becomes a model of its own, named after the product and its
    /// memory (<c>geforce-rtx-4090-24gb</c>), and is added to the spec's models.
    /// </remarks>
    public static FleetSpec Build(string hostName, int cpuMillicores, int memoryMiB, IReadOnlyList<GpuReading> readings, GpuCatalog? catalog = null)
    {
        catalog ??= GpuCatalog.BuiltIn;
        var gpus = readings.DistinctBy(r => r.Uuid, StringComparer.Ordinal).OrderBy(r => r.Index).ToList();
        var largest = gpus
            .Select(r => (Reading: r, Model: catalog.ModelIdFor(r.Name) is { } id ? catalog.Find(id)! : UnknownModel(r)))
            .GroupBy(g => g.Model.Id, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .ThenBy(g => g.Min(r => r.Reading.Index))
            .FirstOrDefault();
        var model = largest?.First().Model;
        var models = model is null || catalog.Find(model.Id) is not null ? catalog.Models : [.. catalog.Models, model];

        var node = new NodeSpec(
            NodeName(hostName), model?.Id, largest?.Count() ?? 0, cpuMillicores, memoryMiB,
            new Dictionary<string, string>(), Runtime.Local, NodeState.Ready);
        return new FleetSpec(models, [new RegionSpec(RegionName, [new ClusterSpec(ClusterName, Runtime.Local, [node])])]);
    }

    internal static string NodeName(string hostName)
    {
        var name = new StringBuilder(hostName.Length);
        foreach (var c in hostName.Trim().ToLowerInvariant())
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-');
        var trimmed = name.ToString().Trim('-', '.');
        return trimmed.Length == 0 ? "localhost" : trimmed[..Math.Min(trimmed.Length, 253)].TrimEnd('-', '.');
    }

    private static GpuModel UnknownModel(GpuReading reading)
    {
        var slug = new StringBuilder();
        foreach (var c in GpuCatalog.StripVendor(reading.Name).ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
                slug.Append(c);
            else if (slug.Length > 0 && slug[^1] != '-')
                slug.Append('-');
        }
        var product = slug.ToString().Trim('-');
        var memory = reading.MemoryTotalMiB is { } mib ? $"-{((mib + 512) / 1024).ToString(CultureInfo.InvariantCulture)}gb" : "";
        var id = (product.Length == 0 ? "gpu" : product[..Math.Min(product.Length, 50)].TrimEnd('-')) + memory;
        return new GpuModel(id, reading.Name, reading.MemoryTotalMiB ?? 0);
    }
}
