namespace Headroom.Runtimes.Slurm;

/// <summary>Slurm's compact node lists (<c>gpu-node[1-3,5],login1</c>) expanded to node names.</summary>
internal static class Hostlist
{
    public static IReadOnlyList<string> Expand(string? hostlist)
    {
        var names = new List<string>();
        if (hostlist is null or "" or "(null)" or "None")
        {
            return names;
        }
        foreach (var item in SplitTopLevel(hostlist))
        {
            var open = item.IndexOf('[', StringComparison.Ordinal);
            var close = item.IndexOf(']', StringComparison.Ordinal);
            if (open < 0 || close < open)
            {
                names.Add(item);
                continue;
            }
            var prefix = item[..open];
            var suffix = item[(close + 1)..];
            foreach (var range in item[(open + 1)..close].Split(','))
            {
                var dash = range.IndexOf('-', StringComparison.Ordinal);
                if (dash < 0)
                {
                    names.Add(prefix + range + suffix);
                    continue;
                }
                var from = range[..dash];
                var to = range[(dash + 1)..];
                if (!int.TryParse(from, out var a) || !int.TryParse(to, out var b))
                {
                    names.Add(item);
                    break;
                }
                // Zero padding is kept: node[01-03] is node01, node02, node03.
                for (var i = a; i <= b; i++)
                {
                    names.Add(prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(from.Length, '0') + suffix);
                }
            }
        }
        return names;
    }

    private static IEnumerable<string> SplitTopLevel(string hostlist)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < hostlist.Length; i++)
        {
            switch (hostlist[i])
            {
                case '[': depth++; break;
                case ']': depth--; break;
                case ',' when depth == 0:
                    if (i > start)
                    {
                        yield return hostlist[start..i];
                    }
                    start = i + 1;
                    break;
            }
        }
        if (start < hostlist.Length)
        {
            yield return hostlist[start..];
        }
    }
}
