using System.Collections.Immutable;
using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Headroom.Core.Fleet;

/// <summary>
/// The nvidia-smi command lines Headroom runs to discover a node's GPUs, and parsers for their
/// output. Running the command is the caller's business; these only read text.
/// </summary>
public static class NvidiaSmi
{
    public const string FileName = "nvidia-smi";

    /// <summary>The fields <see cref="QueryArguments"/> asks for, in the order the output lists them.</summary>
    public static readonly ImmutableArray<string> QueryFields =
    [
        "index", "uuid", "name", "pci.bus_id", "memory.total", "memory.used", "memory.free",
        "utilization.gpu", "utilization.memory", "temperature.gpu", "power.draw", "power.limit",
        "clocks.sm", "clocks.max.sm", "ecc.errors.uncorrected.volatile.total", "pstate", "mig.mode.current",
    ];

    /// <summary>Arguments for one CSV line per GPU, read by <see cref="ParseQueryCsv"/>.</summary>
    public static readonly ImmutableArray<string> QueryArguments =
        [$"--query-gpu={string.Join(',', QueryFields)}", "--format=csv,noheader,nounits"];

    /// <summary>Arguments for the full XML report, read by <see cref="ParseXml"/>.</summary>
    public static readonly ImmutableArray<string> XmlArguments = ["-q", "-x"];

    /// <summary>An 8-GPU node's XML report is about 250 KB; anything far larger is not nvidia-smi output.</summary>
    public const int MaxOutputChars = 8 << 20;

    /// <summary>
    /// Reads <c>--query-gpu</c> CSV output: the <c>noheader,nounits</c> form of
    /// <see cref="QueryArguments"/> (fields in <see cref="QueryFields"/> order), or any form with
    /// a header line, whose column names (units in brackets are ignored) say which field is
    /// which. A header needs at least index, uuid and name. Every line is one reading, so output
    /// sampled repeatedly (<c>-l 1</c>) gives several readings per GPU.
    /// </summary>
    public static ParseResult<IReadOnlyList<GpuReading>> ParseQueryCsv(string csv, GpuCatalog? catalog = null)
    {
        if (csv.Length > MaxOutputChars)
            return TooLarge(csv);
        catalog ??= GpuCatalog.BuiltIn;
        var lines = csv.Split('\n').Select((text, i) => (Text: text.TrimEnd('\r'), Number: i + 1)).Where(l => l.Text.Trim().Length > 0).ToList();
        if (lines is [{ Text: var only }] && only.Trim() == "No devices were found")
            return ParseResult.Success<IReadOnlyList<GpuReading>>([]);

        var problems = new List<ParseProblem>();
        IReadOnlyList<string> columns = QueryFields;
        if (lines is [var first, ..] && !int.TryParse(Fields(first.Text)[0], NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            columns = [.. Fields(first.Text).Select(ColumnName)];
            lines.RemoveAt(0);
            foreach (var required in (string[])["index", "uuid", "name"])
            {
                if (!columns.Contains(required))
                    problems.Add(new ParseProblem(required, $"the header has no '{required}' column", first.Number));
            }
            foreach (var repeated in columns.GroupBy(c => c, StringComparer.Ordinal).Where(g => g.Count() > 1))
                problems.Add(new ParseProblem(repeated.Key, $"the header names '{repeated.Key}' more than once", first.Number));
            if (problems.Count > 0)
                return ParseResult.Failure<IReadOnlyList<GpuReading>>(problems);
        }

        var readings = new List<GpuReading>();
        foreach (var (text, number) in lines)
        {
            var fields = Fields(text);
            if (fields.Length != columns.Count)
            {
                problems.Add(new ParseProblem("", $"expected {columns.Count} fields; found {fields.Length}", number));
                continue;
            }
            var row = new Row(columns.Zip(fields).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal), number, problems);
            if (Reading(row.Integer("index"), row.Text("uuid"), row.Text("name"), catalog, row.Text("pci.bus_id"),
                    row.Integer("memory.total"), row.Integer("memory.used"), row.Integer("memory.free"),
                    row.Integer("utilization.gpu"), row.Integer("utilization.memory"), row.Integer("temperature.gpu"),
                    row.Integer("power.draw", 1000), row.Integer("power.limit", 1000), row.Integer("clocks.sm"), row.Integer("clocks.max.sm"),
                    row.Integer("ecc.errors.uncorrected.volatile.total"), row.Text("pstate"), row.Text("mig.mode.current")) is { } reading)
            {
                readings.Add(reading);
            }
            else if (!row.HasProblems)
            {
                problems.Add(new ParseProblem("", "index, uuid and name are required", number));
            }
        }
        return problems.Count == 0 ? ParseResult.Success<IReadOnlyList<GpuReading>>(readings) : ParseResult.Failure<IReadOnlyList<GpuReading>>(problems);
    }

    /// <summary>
    /// Reads <c>nvidia-smi -q -x</c> output. The report lists GPUs in index order and does not
    /// state the index, so a GPU's index is its position.
    /// </summary>
    public static ParseResult<IReadOnlyList<GpuReading>> ParseXml(string xml, GpuCatalog? catalog = null)
    {
        if (xml.Length > MaxOutputChars)
            return TooLarge(xml);
        catalog ??= GpuCatalog.BuiltIn;
        var (document, problem) = LoadXml(xml);
        if (problem is not null)
            return ParseResult.Failure<IReadOnlyList<GpuReading>>([problem]);
        if (document?.Root is not { Name.LocalName: "nvidia_smi_log" } root)
            return ParseResult.Failure<IReadOnlyList<GpuReading>>("", "expected an nvidia_smi_log document");

        var problems = new List<ParseProblem>();
        var readings = new List<GpuReading>();
        foreach (var (gpu, index) in root.Elements("gpu").Select((gpu, index) => (gpu, index)))
        {
            var element = new GpuElement(gpu, $"gpu[{index}]", problems);
            var power = element.Integer("gpu_power_readings/average_power_draw", 1000)
                ?? element.Integer("gpu_power_readings/instant_power_draw", 1000)
                ?? element.Integer("power_readings/power_draw", 1000);
            var powerLimit = element.Integer("gpu_power_readings/current_power_limit", 1000)
                ?? element.Integer("power_readings/power_limit", 1000);
            var reading = Reading(index, element.Text("uuid"), element.Text("product_name"), catalog,
                element.Text("pci/pci_bus_id") ?? (string?)gpu.Attribute("id"),
                element.Integer("fb_memory_usage/total"), element.Integer("fb_memory_usage/used"), element.Integer("fb_memory_usage/free"),
                element.Integer("utilization/gpu_util"), element.Integer("utilization/memory_util"), element.Integer("temperature/gpu_temp"),
                power, powerLimit, element.Integer("clocks/sm_clock"), element.Integer("max_clocks/sm_clock"),
                element.UncorrectedVolatileEcc(), element.Text("performance_state"), element.Text("mig_mode/current_mig"));
            if (reading is not null)
                readings.Add(reading);
            else if (!element.HasProblems)
                problems.Add(new ParseProblem($"gpu[{index}]", "uuid and product_name are required", Line(gpu)));
        }
        return problems.Count == 0 ? ParseResult.Success<IReadOnlyList<GpuReading>>(readings) : ParseResult.Failure<IReadOnlyList<GpuReading>>(problems);
    }

    /// <summary>
    /// Parses in two passes: the first only checks the nesting, because XDocument takes time
    /// quadratic in depth and a hostile document could nest a million levels; the report itself
    /// nests five.
    /// </summary>
    private static (XDocument? Document, ParseProblem? Problem) LoadXml(string xml)
    {
        const int maxDepth = 16;
        // The report names a DTD that is not there; it is ignored rather than fetched.
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null };
        try
        {
            using (var probe = XmlReader.Create(new StringReader(xml), settings))
            {
                while (probe.Read())
                {
                    if (probe.Depth > maxDepth)
                    {
                        var at = (IXmlLineInfo)probe;
                        return (null, new ParseProblem("", $"nesting deeper than {maxDepth} levels", at.LineNumber, at.LinePosition));
                    }
                }
            }
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            return (XDocument.Load(reader, LoadOptions.SetLineInfo), null);
        }
        catch (XmlException e)
        {
            return (null, new ParseProblem("", $"invalid XML: {e.Message}", e.LineNumber, e.LinePosition));
        }
    }

    private static GpuReading? Reading(
        long? index, string? uuid, string? name, GpuCatalog catalog, string? pciBusId,
        long? memoryTotal, long? memoryUsed, long? memoryFree, long? utilizationGpu, long? utilizationMemory, long? temperature,
        long? power, long? powerLimit, long? smClock, long? maxSmClock, long? ecc, string? pstate, string? migMode) =>
        index is null || uuid is null || name is null
            ? null
            : new GpuReading((int)index, uuid, name, catalog.ModelIdFor(name), pciBusId,
                Int(memoryTotal), Int(memoryUsed), Int(memoryFree), Int(utilizationGpu), Int(utilizationMemory), Int(temperature),
                Int(power), Int(powerLimit), Int(smClock), Int(maxSmClock), ecc, pstate, migMode);

    // Number keeps every value within int's range, so this narrowing never truncates.
    private static int? Int(long? value) => (int?)value;

    private static ParseResult<IReadOnlyList<GpuReading>> TooLarge(string text) =>
        ParseResult.Failure<IReadOnlyList<GpuReading>>("", $"the output has {text.Length} characters; the limit is {MaxOutputChars}");

    private static string[] Fields(string line) => [.. line.Split(',').Select(f => f.Trim())];

    // "memory.total [MiB]" → "memory.total"; nvidia-smi echoes clocks.sm back as clocks.current.sm.
    private static string ColumnName(string header)
    {
        var bracket = header.IndexOf(" [", StringComparison.Ordinal);
        var name = bracket < 0 ? header : header[..bracket];
        return name switch
        {
            "clocks.current.sm" => "clocks.sm",
            "clocks.max.streaming_multiprocessor" => "clocks.max.sm",
            _ => name,
        };
    }

    /// <summary>
    /// nvidia-smi marks what it cannot report in brackets ("[N/A]", "[Not Supported]",
    /// "[Unknown Error]") in CSV and bare ("N/A") in XML; both mean no value.
    /// </summary>
    private static bool IsUnavailable(string value) =>
        value.Length == 0
        || (value.StartsWith('[') && value.EndsWith(']'))
        || value.Equals("N/A", StringComparison.OrdinalIgnoreCase)
        || value.Equals("Not Supported", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A number with an optional unit after a space ("81559 MiB", "73.21 W"), times
    /// <paramref name="scale"/>, rounded to an integer that fits an int. Returns false when the
    /// text is not such a number; <paramref name="value"/> is null when the text says the value
    /// is unavailable.
    /// </summary>
    private static bool Number(string text, int scale, out long? value)
    {
        value = null;
        if (IsUnavailable(text))
            return true;
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var number = space < 0 ? text : text[..space];
        if (!decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var parsed))
            return false;
        if (Math.Abs(parsed) > int.MaxValue / scale)
            return false;
        var scaled = Math.Round(parsed * scale, MidpointRounding.AwayFromZero);
        value = (long)scaled;
        return true;
    }

    private static int? Line(XElement element) => ((IXmlLineInfo)element).HasLineInfo() ? ((IXmlLineInfo)element).LineNumber : null;

    private sealed class Row(Dictionary<string, string> values, int line, List<ParseProblem> problems)
    {
        private readonly int _problemsBefore = problems.Count;

        public bool HasProblems => problems.Count > _problemsBefore;

        public string? Text(string field) =>
            values.TryGetValue(field, out var value) && !IsUnavailable(value) ? value : null;

        public long? Integer(string field, int scale = 1)
        {
            if (!values.TryGetValue(field, out var text))
                return null;
            if (Number(text, scale, out var value))
                return value;
            problems.Add(new ParseProblem(field, $"expected a number; found '{text}'", line));
            return null;
        }
    }

    private sealed class GpuElement(XElement gpu, string path, List<ParseProblem> problems)
    {
        private readonly int _problemsBefore = problems.Count;

        public bool HasProblems => problems.Count > _problemsBefore;

        public string? Text(string elementPath) =>
            Find(elementPath) is { } element && !IsUnavailable(element.Value.Trim()) ? element.Value.Trim() : null;

        public long? Integer(string elementPath, int scale = 1) => Find(elementPath) is { } element ? Integer(element, elementPath, scale) : null;

        /// <summary>
        /// The uncorrectable ECC errors since the driver loaded. Older drivers report one total
        /// (volatile/double_bit/total); newer ones count by kind (SRAM parity, SRAM SECDED,
        /// DRAM), which add up to the same thing. Null when ECC is off or not reported.
        /// </summary>
        public long? UncorrectedVolatileEcc()
        {
            if (Find("ecc_errors/volatile/double_bit/total") is { } total)
                return Integer(total, "ecc_errors/volatile/double_bit/total", 1);
            var counters = Find("ecc_errors/volatile")?.Elements().Where(e => e.Name.LocalName.Contains("uncorrectable", StringComparison.Ordinal)) ?? [];
            long? sum = null;
            foreach (var counter in counters)
            {
                if (Integer(counter, $"ecc_errors/volatile/{counter.Name.LocalName}", 1) is { } count)
                    sum = (sum ?? 0) + count;
            }
            return sum;
        }

        private long? Integer(XElement element, string elementPath, int scale)
        {
            var text = element.Value.Trim();
            if (Number(text, scale, out var value))
                return value;
            problems.Add(new ParseProblem($"{path}.{elementPath}", $"expected a number; found '{text}'", Line(element)));
            return null;
        }

        private XElement? Find(string elementPath)
        {
            XElement? element = gpu;
            foreach (var name in elementPath.Split('/'))
                element = element?.Element(name);
            return element;
        }
    }
}
