using System.Globalization;

namespace Headroom.Core.Simulation.Trace;

/// <summary>One job of a time-based trace: when it arrives, how long it runs, how many GPUs, whose it is.</summary>
public sealed record TraceJob(string Id, DateTimeOffset Arrival, int DurationSeconds, int Gpus, string Tenant);

/// <summary>
/// Parses the Philly trace as the Pollux artifact prepared it:
/// <c>timestamp,duration,num_gpus,gpu_time,cluster</c>, timestamps <c>yyyy-MM-dd HH:mm:ss</c> in UTC.
/// Rows come back sorted by arrival, then by line; ids are <c>j</c> + the line number.
/// </summary>
public static class PhillyTrace
{
    public static IReadOnlyList<TraceJob> Parse(string csv)
    {
        ArgumentNullException.ThrowIfNull(csv);
        var lines = csv.Split('\n');
        var header = lines[0].TrimEnd('\r').Split(',');
        int ts = Array.IndexOf(header, "timestamp"), dur = Array.IndexOf(header, "duration"), gpus = Array.IndexOf(header, "num_gpus"), cluster = Array.IndexOf(header, "cluster");
        if (ts < 0 || dur < 0 || gpus < 0 || cluster < 0)
            throw new FormatException($"expected columns timestamp,duration,num_gpus,cluster (header: {lines[0].TrimEnd('\r')})");
        var jobs = new List<TraceJob>(lines.Length);
        var errors = new List<string>();
        for (var l = 1; l < lines.Length; l++)
        {
            var text = lines[l].TrimEnd('\r');
            if (text.Length == 0)
                continue;
            var f = text.Split(',');
            if (f.Length > Math.Max(Math.Max(ts, dur), Math.Max(gpus, cluster))
                && DateTimeOffset.TryParseExact(f[ts], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var arrival)
                && double.TryParse(f[dur], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
                && int.TryParse(f[gpus], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0)
            {
                jobs.Add(new TraceJob($"j{l + 1}", arrival, (int)Math.Ceiling(seconds), n, f[cluster]));
            }
            else if (errors.Count < 20)
            {
                errors.Add($"line {l + 1}: bad job row");
            }
        }
        if (errors.Count > 0)
            throw new FormatException(string.Join(Environment.NewLine, errors));
        return [.. jobs.OrderBy(j => j.Arrival).ThenBy(j => int.Parse(j.Id.AsSpan(1), CultureInfo.InvariantCulture))];
    }
}
