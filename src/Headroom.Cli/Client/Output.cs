using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>
/// What a client command prints: tables and fields for people, the API's JSON for scripts (<c>--json</c>), errors on
/// stderr with the API's message and request id. Colour only when stdout is a terminal, <c>NO_COLOR</c> is unset
/// and <c>TERM</c> is not <c>dumb</c> (https://no-color.org).
/// </summary>
internal sealed class Output(bool json)
{
    private const string Reset = "\u001b[0m";

    public bool Json { get; } = json;

    public bool Color { get; } = !Console.IsOutputRedirected
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
        && Environment.GetEnvironmentVariable("TERM") != "dumb";

    public static TextWriter Out => Console.Out;

    /// <summary>Prints an API failure with its message, status, code and request id; returns the exit code it maps to.</summary>
    public static int Fail(ApiResult result)
    {
        var detail = new List<string>();
        if (result.Status > 0)
            detail.Add(result.Code is null ? $"HTTP {result.Status}" : $"HTTP {result.Status} {result.Code}");
        if (result.RequestId is not null)
            detail.Add($"request {result.RequestId}");
        Console.Error.WriteLine(detail.Count == 0 ? $"headroom: {result.Message}" : $"headroom: {result.Message} ({string.Join(", ", detail)})");
        return result.ExitCode;
    }

    /// <summary>Prints a usage problem (bad argument, no saved login); returns exit code 2.</summary>
    public static int Usage(string message)
    {
        Console.Error.WriteLine($"headroom: {message}");
        return ExitCodes.BadSettings;
    }

    /// <summary>The body as the API sent it; indented when a person is reading.</summary>
    public void Raw(ApiResult result)
    {
        if (!Color || result.Body.Length == 0)
        {
            Out.WriteLine(result.Body);
            return;
        }
        Out.WriteLine(JsonSerializer.Serialize(JsonNode.Parse(result.Body), new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A list page as a table (with the next-page hint), or its JSON with --json; a failure as an error.</summary>
    public int Page(ApiResult page, IReadOnlyList<string> headers, Func<JsonNode, IReadOnlyList<string>> row)
    {
        if (!page.Ok)
            return Fail(page);
        if (Json)
        {
            Raw(page);
            return ExitCodes.Ok;
        }
        Table(headers, page.Json["data"]!.AsArray().Select(n => row(n!)));
        More(page.Json);
        return ExitCodes.Ok;
    }

    /// <summary>A one-object answer: its JSON with --json, else one sentence; a failure as an error.</summary>
    public int One(ApiResult result, Func<JsonNode, string> sentence)
    {
        if (!result.Ok)
            return Fail(result);
        if (Json)
            Raw(result);
        else
            Out.WriteLine(sentence(result.Json));
        return ExitCodes.Ok;
    }

    /// <summary>Columns padded to their widest cell; a STATE or RESULT column is coloured by its value.</summary>
    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        if (all.Count == 0)
        {
            Out.WriteLine("(none)");
            return;
        }
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Max(r => r[i].Length))).ToArray();
        var state = headers.ToList().FindIndex(h => h is "STATE" or "RESULT");
        var line = new StringBuilder();
        for (var i = 0; i < headers.Count; i++)
            line.Append(i == headers.Count - 1 ? headers[i] : headers[i].PadRight(widths[i] + 2));
        Out.WriteLine(Paint(line.ToString(), "1"));
        foreach (var row in all)
        {
            line.Clear();
            for (var i = 0; i < row.Count; i++)
            {
                // Pad the plain text first, so colour codes do not count towards the width.
                var cell = i == row.Count - 1 ? row[i] : row[i].PadRight(widths[i] + 2);
                line.Append(i == state ? Paint(cell, StateColour(row[i])) : cell);
            }
            Out.WriteLine(line.ToString().TrimEnd());
        }
    }

    /// <summary>One object as aligned <c>name: value</c> lines; null values are left out.</summary>
    public void Fields(IEnumerable<(string Name, string? Value)> fields)
    {
        var present = fields.Where(f => f.Value is { Length: > 0 }).ToList();
        var width = present.Count == 0 ? 0 : present.Max(f => f.Name.Length) + 1;
        foreach (var (name, value) in present)
        {
            var shown = name == "state" ? Paint(value!, StateColour(value!.Split(' ')[0])) : value;
            Out.WriteLine($"{Paint((name + ":").PadRight(width), "1")} {shown}");
        }
    }

    /// <summary>After a page of a list: how to ask for the next one.</summary>
    public static void More(JsonNode page)
    {
        if (page["has_more"]?.GetValue<bool>() == true && page["last_id"]?.GetValue<string>() is { } last)
            Console.Error.WriteLine($"More results: add --after {last}");
    }

    public string Paint(string text, string? sgr) => Color && sgr is not null ? $"\u001b[{sgr}m{text}{Reset}" : text;

    public static string? StateColour(string state) => state switch
    {
        "succeeded" or "ready" or "success" => "32",
        "failed" or "lost" or "down" or "failure" or "revoked" => "31",
        "cancelled" or "preempted" or "cordoned" or "draining" or "expired" => "33",
        "running" or "starting" or "scheduled" => "36",
        _ => null,
    };

    /// <summary>An API time as <c>2026-11-26 14:24:28Z</c>, or "" for null.</summary>
    public static string Time(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : "";

    /// <summary>How long ago an API time was, as <c>45s</c>, <c>12m</c>, <c>3h</c> or <c>2d</c>.</summary>
    public static string Age(JsonNode? node, DateTimeOffset now)
    {
        if (node is not JsonValue v || !v.TryGetValue<string>(out var text) || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            return "";
        var age = now - t;
        return age.TotalSeconds < 60 ? $"{Math.Max(0, (int)age.TotalSeconds)}s"
            : age.TotalMinutes < 60 ? $"{(int)age.TotalMinutes}m"
            : age.TotalHours < 48 ? $"{(int)age.TotalHours}h"
            : $"{(int)age.TotalDays}d";
    }

    /// <summary>A JSON value as text: strings as they are, numbers and booleans invariant, null as "".</summary>
    public static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonArray a => string.Join(",", a.Select(Text)),
        _ => node.ToJsonString(),
    };
}
