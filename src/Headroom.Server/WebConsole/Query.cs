using Microsoft.AspNetCore.WebUtilities;

namespace Headroom.Server.WebConsole;

/// <summary>Query strings for the console's links and the API calls behind its filters.</summary>
internal static class Query
{
    /// <summary>A query string of the given pairs, leaving out empty values; "" when none is left.</summary>
    public static string Of(params (string Name, string? Value)[] pairs)
    {
        var kept = pairs.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => KeyValuePair.Create(p.Name, p.Value)).ToList();
        return kept.Count == 0 ? "" : QueryHelpers.AddQueryString("", kept);
    }

    /// <summary>The query string with one parameter set (or removed when null), keeping the rest.</summary>
    public static string With(string? query, string name, string? value)
    {
        var parsed = QueryHelpers.ParseQuery(query);
        parsed.Remove(name);
        var pairs = parsed.SelectMany(p => p.Value.Select(v => (p.Key, (string?)v))).ToList();
        pairs.Add((name, value));
        return Of([.. pairs]);
    }
}
