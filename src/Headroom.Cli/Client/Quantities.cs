using System.Globalization;
using System.Text.RegularExpressions;

namespace Headroom.Cli.Client;

/// <summary>
/// The units people type, turned into the API's integers: CPU cores into milli-CPUs, memory sizes into MiB, durations
/// into seconds. Each returns false for text it cannot read exactly (no rounding of what was asked for).
/// </summary>
internal static partial class Quantities
{
    /// <summary><c>4</c>, <c>0.5</c> (cores) or <c>500m</c> (milli-CPUs) → milli-CPUs.</summary>
    public static bool TryCpuMilli(string text, out int milli)
    {
        milli = 0;
        if (text.EndsWith('m'))
            return int.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out milli);
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores))
            return false;
        var value = cores * 1000;
        if (value != decimal.Truncate(value) || value > int.MaxValue)
            return false;
        milli = (int)value;
        return true;
    }

    /// <summary><c>512</c> (MiB), <c>512Mi</c>, <c>16Gi</c>, <c>1Ti</c>, and the same with M, G, T read as binary units → MiB.</summary>
    public static bool TryMemoryMib(string text, out int mib)
    {
        mib = 0;
        var m = MemoryPattern().Match(text);
        if (!m.Success || !decimal.TryParse(m.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            return false;
        var value = amount * (m.Groups[2].Value.ToUpperInvariant() switch { "G" => 1024m, "T" => 1024m * 1024, _ => 1m });
        if (value != decimal.Truncate(value) || value > int.MaxValue)
            return false;
        mib = (int)value;
        return true;
    }

    /// <summary><c>3600</c> (seconds), <c>90s</c>, <c>30m</c>, <c>2h</c>, <c>1d</c>, or combined as <c>1h30m</c> → seconds.</summary>
    public static bool TryDurationSeconds(string text, out long seconds)
    {
        seconds = 0;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out seconds))
            return true;
        var m = DurationPattern().Match(text);
        if (!m.Success || text.Length == 0)
            return false;
        long total = 0;
        foreach (var (group, unit) in new[] { (1, 86400L), (2, 3600L), (3, 60L), (4, 1L) })
        {
            if (m.Groups[group].Success)
                total += long.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture) * unit;
        }
        seconds = total;
        return true;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(?:(M|G|T)i?)?$", RegexOptions.IgnoreCase)]
    private static partial Regex MemoryPattern();

    [GeneratedRegex(@"^(?:(\d{1,6})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,10})s)?$")]
    private static partial Regex DurationPattern();
}
