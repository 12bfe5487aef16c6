using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Headroom.Core.Fleet;

/// <summary>
/// Reads a fleet file into a <see cref="FleetSpec"/>, or into every problem the file has.
/// docs/fleet.md describes the format and docs/fleet.schema.json is its JSON Schema.
/// </summary>
public static partial class FleetFile
{
    /// <summary>Larger than any real fleet file (a 10 000-node fleet written out node by node is about 2 MB; <c>count</c> makes it far smaller).</summary>
    public const int MaxChars = 4 << 20;

    /// <summary>Deeper nesting than a fleet file needs; the limit keeps a hostile file from exhausting the stack.</summary>
    internal const int MaxDepth = 32;

    /// <param name="text">The file's content.</param>
    /// <param name="fileName">
    /// The file's name, when there is one: a <c>.json</c> name is read as JSON and a <c>.yaml</c>
    /// or <c>.yml</c> name as YAML; otherwise content starting with <c>{</c> is read as JSON.
    /// JSON is checked as strict JSON first so that its mistakes are reported in JSON's terms.
    /// </param>
    public static ParseResult<FleetSpec> Parse(string text, string? fileName = null)
    {
        if (text.Length > MaxChars)
            return ParseResult.Failure<FleetSpec>("", $"the fleet file has {text.Length} characters; the limit is {MaxChars}");
        text = text.TrimStart('\uFEFF');

        if (IsJson(text, fileName) && CheckJson(text) is { } jsonProblem)
            return ParseResult.Failure<FleetSpec>([jsonProblem]);

        var yaml = new YamlStream();
        var parser = new GuardedParser(new Parser(new StringReader(text)));
        try
        {
            yaml.Load(parser);
        }
        catch (YamlException e)
        {
            return ParseResult.Failure<FleetSpec>("", YamlMessage(e), (int)e.Start.Line, (int)e.Start.Column);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet 18.1 throws these on some odd input instead of a YamlException (found by
            // ParserFuzzTests: "- :", "2:\t{\r907:"). The last event it read is the best position we have.
            var at = parser.Current?.End;
            return ParseResult.Failure<FleetSpec>("", $"unreadable YAML: {e.Message}", (int?)at?.Line, (int?)at?.Column);
        }

        return yaml.Documents switch
        {
            [] => ParseResult.Failure<FleetSpec>("", "the fleet file is empty"),
            [var document] => new FleetFileReader().Read(document.RootNode),
            [_, var second, ..] => ParseResult.Failure<FleetSpec>(
                "", "a fleet file holds one YAML document; found a second", (int)second.RootNode.Start.Line, (int)second.RootNode.Start.Column),
        };
    }

    /// <summary>Like <see cref="Parse(string, string?)"/>; stops reading as soon as the text passes <see cref="MaxChars"/>.</summary>
    public static ParseResult<FleetSpec> Parse(TextReader reader, string? fileName = null)
    {
        var text = new StringBuilder();
        var chunk = new char[81920];
        int read;
        while ((read = reader.ReadBlock(chunk)) > 0)
        {
            text.Append(chunk, 0, read);
            if (text.Length > MaxChars)
                return ParseResult.Failure<FleetSpec>("", $"the fleet file has more than {MaxChars} characters");
        }
        return Parse(text.ToString(), fileName);
    }

    private static bool IsJson(string text, string? fileName)
    {
        var extension = Path.GetExtension(fileName ?? "");
        if (extension.Equals(".json", StringComparison.OrdinalIgnoreCase))
            return true;
        if (extension.Equals(".yaml", StringComparison.OrdinalIgnoreCase) || extension.Equals(".yml", StringComparison.OrdinalIgnoreCase))
            return false;
        return text.AsSpan().TrimStart().StartsWith("{");
    }

    private static ParseProblem? CheckJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = MaxDepth });
            return null;
        }
        catch (JsonException e)
        {
            var message = e.Message;
            var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut < 0)
                cut = message.IndexOf(" Path:", StringComparison.Ordinal);
            return new ParseProblem(
                "", $"invalid JSON: {(cut < 0 ? message : message[..cut])}",
                (int?)e.LineNumber + 1, (int?)e.BytePositionInLine + 1);
        }
    }

    // YamlException messages begin with "(Line: 3, Col: 5, Idx: 20) - (Line: 3, Col: 6, Idx: 21): ";
    // the problem carries line and column on its own.
    private static string YamlMessage(YamlException e) => MarkPrefix().Replace(e.Message, "");

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarkPrefix();

    /// <summary>
    /// Refuses what the representation model would otherwise build without limit: nesting deep
    /// enough to overflow its recursive loader, and aliases, which let a small file expand into
    /// a huge one. A fleet file repeats nodes with <c>count</c> instead.
    /// </summary>
    private sealed class GuardedParser(IParser inner) : IParser
    {
        private int _depth;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
                return false;
            switch (inner.Current)
            {
                case SequenceStart or MappingStart when ++_depth > MaxDepth:
                    throw new YamlException(inner.Current.Start, inner.Current.End, $"nesting deeper than {MaxDepth} levels");
                case SequenceEnd or MappingEnd:
                    _depth--;
                    break;
                case AnchorAlias alias:
                    throw new YamlException(alias.Start, alias.End, "YAML aliases are not supported in a fleet file; use count for identical nodes");
            }
            return true;
        }
    }
}
