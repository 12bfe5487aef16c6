using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Headroom.Core.Fleet;

/// <summary>
/// Walks a loaded fleet document once, collecting every problem instead of stopping at the
/// first; a spec is built only when there are none. Each read helper returns null after
/// recording a problem, so a caller only has to check for null.
/// </summary>
internal sealed partial class FleetFileReader
{
    internal static readonly string[] TopLevelKeys = ["version", "gpu_models", "regions"];
    internal static readonly string[] GpuModelKeys = ["id", "name", "memory_mib", "aliases"];
    internal static readonly string[] RegionKeys = ["name", "clusters"];
    internal static readonly string[] ClusterKeys = ["name", "runtime", "nodes"];
    internal static readonly string[] NodeKeys = ["name", "count", "gpu_model", "gpu_count", "cpu_millicores", "memory_mib", "runtime", "state", "labels"];

    internal const int MaxNodes = 100_000;
    internal const int MaxProblems = 500;
    private const int MaxLabelValueLength = 256;

    private readonly List<ParseProblem> _problems = [];
    private readonly Dictionary<string, string> _modelPaths = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _regionPaths = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nodePaths = new(StringComparer.Ordinal);
    private GpuCatalog _catalog = GpuCatalog.BuiltIn;
    private int _nodeCount;

    public ParseResult<FleetSpec> Read(YamlNode root)
    {
        var file = Mapping(root, "", TopLevelKeys);
        if (file is null)
            return ParseResult.Failure<FleetSpec>(_problems);

        if (Integer(file, "version", required: false, min: 1) is { } version and not 1)
            Problem(file.PathOf("version"), file.Values["version"], $"unsupported version {version}; this Headroom reads version 1");

        if (Sequence(file, "gpu_models", required: false) is { } models)
            _catalog = _catalog.With(Each(models, file.PathOf("gpu_models"), GpuModelOf).ToList());

        var regions = Sequence(file, "regions", required: true) is { } regionNodes
            ? Each(regionNodes, file.PathOf("regions"), RegionOf).ToList()
            : [];

        // Problems are found in the order of the walk; a reader wants them in the order of the file.
        return _problems.Count == 0
            ? ParseResult.Success(new FleetSpec(_catalog.Models, regions))
            : ParseResult.Failure<FleetSpec>([.. _problems.OrderBy(p => p.Line ?? int.MaxValue).ThenBy(p => p.Column ?? 0)]);
    }

    private GpuModel? GpuModelOf(YamlNode node, string path)
    {
        if (Mapping(node, path, GpuModelKeys) is not { } s)
            return null;
        var id = Name(s, "id", IdPattern(), IdRule);
        if (id is not null && _catalog.Find(id) is not null)
            Problem(s.PathOf("id"), s.Values["id"], $"GPU model '{id}' is built in");
        else if (id is not null && !_modelPaths.TryAdd(id, s.PathOf("id")))
            Problem(s.PathOf("id"), s.Values["id"], $"duplicate GPU model id '{id}', already declared at {_modelPaths[id]}");
        var name = Text(s, "name", required: true);
        var memory = Integer(s, "memory_mib", required: true, min: 1);
        var aliases = Sequence(s, "aliases", required: false) is { } aliasNodes
            ? Each(aliasNodes, s.PathOf("aliases"), ScalarText).ToList()
            : [];
        return id is null || name is null || memory is null || s.HasNewProblems
            ? null
            : new GpuModel(id, name, memory.Value) { Aliases = aliases };
    }

    private RegionSpec? RegionOf(YamlNode node, string path)
    {
        if (Mapping(node, path, RegionKeys) is not { } s)
            return null;
        var name = Name(s, "name", IdPattern(), IdRule);
        if (name is not null)
            Unique(_regionPaths, name, s, "region");
        var clusterPaths = new Dictionary<string, string>(StringComparer.Ordinal);
        var clusters = Sequence(s, "clusters", required: true) is { } clusterNodes
            ? Each(clusterNodes, s.PathOf("clusters"), (n, p) => ClusterOf(n, p, clusterPaths)).ToList()
            : [];
        return name is null || s.HasNewProblems ? null : new RegionSpec(name, clusters);
    }

    /// <param name="clusterPaths">The region's cluster names so far: cluster names are unique within a region.</param>
    private ClusterSpec? ClusterOf(YamlNode node, string path, Dictionary<string, string> clusterPaths)
    {
        if (Mapping(node, path, ClusterKeys) is not { } s)
            return null;
        var name = Name(s, "name", IdPattern(), IdRule);
        if (name is not null)
            Unique(clusterPaths, name, s, "cluster");
        var runtime = Code(s, "runtime", FleetCodes.RuntimesByCode) ?? Runtime.Local;
        var nodes = Sequence(s, "nodes", required: true) is { } nodeNodes
            ? Each(nodeNodes, s.PathOf("nodes"), (n, p) => NodesOf(n, p, runtime)).SelectMany(n => n).ToList()
            : [];
        return name is null || s.HasNewProblems ? null : new ClusterSpec(name, runtime, nodes);
    }

    /// <summary>One node entry: a single node, or <c>count</c> identical ones named <c>{name}-01</c>, <c>{name}-02</c>, ….</summary>
    private NodeSpec[]? NodesOf(YamlNode node, string path, Runtime clusterRuntime)
    {
        if (Mapping(node, path, NodeKeys) is not { } s)
            return null;
        var name = Name(s, "name", NodeNamePattern(), NodeNameRule);
        var count = Integer(s, "count", required: false, min: 1);
        var gpuModel = Text(s, "gpu_model", required: false);
        var gpuCount = Integer(s, "gpu_count", required: gpuModel is not null, min: gpuModel is null ? 0 : 1) ?? 0;
        if (gpuModel is null && gpuCount > 0 && !Present(s, "gpu_model", required: false, out _))
            Problem(s.PathOf("gpu_model"), s.Node, "is required when gpu_count is above 0");
        if (gpuModel is not null && _catalog.Find(gpuModel) is null)
        {
            var known = string.Join(", ", _catalog.Models.Select(m => m.Id).Order(StringComparer.Ordinal));
            Problem(s.PathOf("gpu_model"), s.Values["gpu_model"], $"unknown GPU model '{gpuModel}'; known models: {known}");
        }
        var cpu = Integer(s, "cpu_millicores", required: true, min: 1);
        var memory = Integer(s, "memory_mib", required: true, min: 1);
        var runtime = Code(s, "runtime", FleetCodes.RuntimesByCode) ?? clusterRuntime;
        var state = Code(s, "state", FleetCodes.NodeStatesByCode) ?? NodeState.Ready;
        var labels = Labels(s);
        // Names are claimed even when the entry has other problems, so that a clash is reported
        // alongside them; only an invalid count leaves the names unknown.
        var names = name is null || (count is null && Present(s, "count", required: false, out _)) ? null : ClaimNames(s, name, count);
        if (names is null || cpu is null || memory is null || labels is null || s.HasNewProblems)
            return null;
        return [.. names.Select(nodeName => new NodeSpec(nodeName, gpuModel, gpuCount, cpu.Value, memory.Value, labels, runtime, state))];
    }

    /// <summary>
    /// The entry's node names, recorded as taken; null after a problem when one is taken already
    /// (node names are unique across the fleet) or the fleet grows past <see cref="MaxNodes"/>.
    /// Clashes from one counted entry make one problem, not one per name.
    /// </summary>
    private string[]? ClaimNames(Section s, string name, int? count)
    {
        // Compared this way round because a count near int.MaxValue would overflow the sum.
        if ((count ?? 1) > MaxNodes - _nodeCount)
        {
            Problem(s.PathOf("count"), s.Node, $"the fleet declares more than {MaxNodes} nodes");
            return null;
        }
        _nodeCount += count ?? 1;

        var names = count is { } n ? CountedNames(name, n) : [name];
        var clashes = names.Where(candidate => !_nodePaths.TryAdd(candidate, s.PathOf("name"))).ToList();
        if (clashes.Count == 0)
            return names;
        var more = clashes.Count > 1 ? $" (and {clashes.Count - 1} more names from count)" : "";
        Problem(s.PathOf("name"), s.Values["name"], $"duplicate node name '{clashes[0]}', already declared at {_nodePaths[clashes[0]]}{more}");
        return null;
    }

    /// <summary>Numbered names, zero-padded to at least two digits so that they sort in order.</summary>
    internal static string[] CountedNames(string name, int count)
    {
        var width = Math.Max(2, count.ToString(CultureInfo.InvariantCulture).Length);
        return [.. Enumerable.Range(1, count).Select(i => $"{name}-{i.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0')}")];
    }

    private Dictionary<string, string>? Labels(Section node)
    {
        if (!node.Values.TryGetValue("labels", out var value) || IsNull(value))
            return [];
        var path = node.PathOf("labels");
        if (value is not YamlMappingNode map)
        {
            Problem(path, value, $"expected a mapping of label keys to values, found {Describe(value)}");
            return null;
        }
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            var labelPath = $"{path}.{key}";
            if (!LabelKeyPattern().IsMatch(key))
                Problem(labelPath, keyNode, "a label key is lower-case letters, digits, '-', '_', '.' and '/', starting and ending with a letter or digit, at most 63 characters");
            else if (valueNode is not YamlScalarNode { Value: { } text } || IsNull(valueNode))
                Problem(labelPath, valueNode, $"a label value is a string, found {Describe(valueNode)}");
            else if (text.Length > MaxLabelValueLength)
                Problem(labelPath, valueNode, $"a label value is at most {MaxLabelValueLength} characters");
            else
                labels[key] = text;
        }
        return labels;
    }

    private Section? Mapping(YamlNode node, string path, string[] allowed)
    {
        if (node is not YamlMappingNode map)
        {
            Problem(path, node, $"expected a mapping with keys {string.Join(", ", allowed)}; found {Describe(node)}");
            return null;
        }
        var values = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value;
            if (key is not null && allowed.Contains(key))
                values[key] = value;
            else
                Problem(Join(path, key ?? Describe(keyNode)), keyNode, $"unknown key; expected one of: {string.Join(", ", allowed)}");
        }
        return new Section(this, path, node, values);
    }

    private static IEnumerable<T> Each<T>(IReadOnlyList<YamlNode> items, string path, Func<YamlNode, string, T?> read) where T : class
    {
        for (var i = 0; i < items.Count; i++)
        {
            if (read(items[i], $"{path}[{i}]") is { } item)
                yield return item;
        }
    }

    private IReadOnlyList<YamlNode>? Sequence(Section section, string key, bool required)
    {
        if (!Present(section, key, required, out var node))
            return null;
        if (node is not YamlSequenceNode { Children: var items })
        {
            Problem(section.PathOf(key), node, $"expected a list; found {Describe(node)}");
            return null;
        }
        if (required && items.Count == 0)
            Problem(section.PathOf(key), node, "must list at least one entry");
        return [.. items];
    }

    private string? Text(Section section, string key, bool required) =>
        Present(section, key, required, out var node) ? ScalarText(node, section.PathOf(key)) : null;

    private string? ScalarText(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: { } text } && !IsNull(node))
            return text;
        Problem(path, node, $"expected a string; found {Describe(node)}");
        return null;
    }

    private string? Name(Section section, string key, Regex pattern, string rule)
    {
        var name = Text(section, key, required: true);
        if (name is null || pattern.IsMatch(name))
            return name;
        Problem(section.PathOf(key), section.Values[key], $"'{name}' is not a valid name: {rule}");
        return null;
    }

    private void Unique(Dictionary<string, string> seen, string name, Section section, string what)
    {
        if (!seen.TryAdd(name, section.PathOf("name")))
            Problem(section.PathOf("name"), section.Values["name"], $"duplicate {what} name '{name}', already declared at {seen[name]}");
    }

    private int? Integer(Section section, string key, bool required, int min)
    {
        if (!Present(section, key, required, out var node))
            return null;
        // Only plain scalars are numbers: "8" in quotes is a string in YAML and in JSON alike.
        if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } text }
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            if (value >= min && value <= int.MaxValue)
                return (int)value;
            Problem(section.PathOf(key), node, value < min ? $"must be at least {min}; found {value}" : $"must be at most {int.MaxValue}; found {value}");
            return null;
        }
        Problem(section.PathOf(key), node, $"expected a whole number; found {Describe(node)}");
        return null;
    }

    private T? Code<T>(Section section, string key, IReadOnlyDictionary<string, T> byCode) where T : struct, Enum
    {
        if (Text(section, key, required: false) is not { } code)
            return null;
        if (byCode.TryGetValue(code, out var value))
            return value;
        Problem(section.PathOf(key), section.Values[key], $"unknown {key} '{code}'; expected one of: {string.Join(", ", byCode.Keys)}");
        return null;
    }

    private bool Present(Section section, string key, bool required, [NotNullWhen(true)] out YamlNode? node)
    {
        if (section.Values.TryGetValue(key, out node) && !IsNull(node))
            return true;
        if (required)
            Problem(section.PathOf(key), node ?? section.Node, "is required");
        node = null;
        return false;
    }

    private void Problem(string path, YamlNode? at, string message)
    {
        if (_problems.Count < MaxProblems)
            _problems.Add(new ParseProblem(path, message, (int?)at?.Start.Line, (int?)at?.Start.Column));
        else if (_problems.Count == MaxProblems)
            _problems.Add(new ParseProblem("", $"more than {MaxProblems} problems; stopped listing them"));
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode scalar when IsNull(scalar) => "nothing",
        YamlScalarNode { Style: ScalarStyle.Plain, Value: var text } => $"'{text}'",
        YamlScalarNode { Value: var text } => $"the string '{text}'",
        _ => "something else",
    };

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    private const string IdRule = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
    private const string NodeNameRule = "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex IdPattern();

    // A DNS subdomain, so that a host name can be a node name as it is.
    [GeneratedRegex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")]
    internal static partial Regex NodeNamePattern();

    [GeneratedRegex("^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$")]
    private static partial Regex LabelKeyPattern();

    /// <summary>A mapping whose keys have been checked. <see cref="HasNewProblems"/> says whether anything inside it was wrong.</summary>
    private sealed class Section(FleetFileReader reader, string path, YamlNode node, Dictionary<string, YamlNode> values)
    {
        private readonly int _problemsBefore = reader._problems.Count;

        public YamlNode Node => node;

        public Dictionary<string, YamlNode> Values => values;

        public bool HasNewProblems => reader._problems.Count > _problemsBefore;

        public string PathOf(string key) => Join(path, key);
    }
}
