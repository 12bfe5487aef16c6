using System.Globalization;

namespace Headroom.Server.WebConsole;

/// <summary>How the console writes numbers and times: invariant culture, UTC, units spelt out.</summary>
internal static class Format
{
    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : "—";

    public static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A gpu_seconds quantity (milli-GPU-seconds) as GPU-hours, to two decimals.</summary>
    public static string GpuHours(long milliGpuSeconds) => (milliGpuSeconds / 3_600_000m).ToString("0.00##", CultureInfo.InvariantCulture);

    /// <summary>A usage quantity in its meter's unit: GPU-hours for GPU time, a count for tokens.</summary>
    public static string Quantity(string? meter, long? quantity) => quantity is not { } q ? "—"
        : meter == "gpu_seconds" ? GpuHours(q) + " GPU-h" : q.ToString("N0", CultureInfo.InvariantCulture);

    public static string Duration(DateTimeOffset? start, DateTimeOffset? end)
    {
        if (start is null || end is null)
            return "—";
        var span = end.Value - start.Value;
        return span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min" : span.TotalMinutes >= 1 ? $"{span.Minutes} min {span.Seconds} s" : $"{span.TotalSeconds:0.#} s";
    }

    public static string Int(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
