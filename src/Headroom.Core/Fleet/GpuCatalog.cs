namespace Headroom.Core.Fleet;

/// <summary>The GPU models a fleet knows: the built-in ones plus any a fleet file declares.</summary>
public sealed class GpuCatalog
{
    private readonly Dictionary<string, GpuModel> _byId;
    private readonly Dictionary<string, GpuModel> _byProductName;

    public static GpuCatalog BuiltIn { get; } = new(
    [
        new("h100-80gb", "NVIDIA H100 80GB HBM3", 81559) { Aliases = ["NVIDIA H100 PCIe", "NVIDIA H100"] },
        new("h200-141gb", "NVIDIA H200", 143771) { Aliases = ["NVIDIA H200 NVL"] },
        new("a100-80gb", "NVIDIA A100-SXM4-80GB", 81920) { Aliases = ["NVIDIA A100 80GB PCIe"] },
        new("a100-40gb", "NVIDIA A100-SXM4-40GB", 40960) { Aliases = ["NVIDIA A100-PCIE-40GB"] },
        new("l40s-48gb", "NVIDIA L40S", 46068),
        new("l4-24gb", "NVIDIA L4", 23034),
        new("b200-180gb", "NVIDIA B200", 183359),
    ]);

    /// <param name="models">Models with distinct ids; a caller that reads them from a file checks that first.</param>
    public GpuCatalog(IEnumerable<GpuModel> models)
    {
        Models = [.. models];
        _byId = Models.ToDictionary(m => m.Id, StringComparer.Ordinal);
        _byProductName = Models
            .SelectMany(m => m.Aliases.Prepend(m.Name).Select(name => (Key: NormalizeProductName(name), Model: m)))
            .DistinctBy(p => p.Key)
            .ToDictionary(p => p.Key, p => p.Model, StringComparer.Ordinal);
    }

    public IReadOnlyList<GpuModel> Models { get; }

    public GpuModel? Find(string id) => _byId.GetValueOrDefault(id);

    /// <summary>This catalog with <paramref name="extra"/> models added after the existing ones.</summary>
    public GpuCatalog With(IEnumerable<GpuModel> extra) => new(Models.Concat(extra));

    /// <summary>
    /// The model id for an nvidia-smi product name, or null when no model claims it. Matching
    /// ignores case, punctuation and a leading "NVIDIA", because drivers have changed all three
    /// over the years ("A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB").
    /// </summary>
    public string? ModelIdFor(string productName) =>
        _byProductName.GetValueOrDefault(NormalizeProductName(productName))?.Id;

    internal static string NormalizeProductName(string productName) =>
        string.Concat(StripVendor(productName).ToUpperInvariant().Where(char.IsAsciiLetterOrDigit));

    internal static string StripVendor(string productName)
    {
        var name = productName.Trim();
        return name.StartsWith("NVIDIA", StringComparison.OrdinalIgnoreCase) ? name["NVIDIA".Length..].TrimStart() : name;
    }
}
