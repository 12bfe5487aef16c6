using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Simulation.Trace;

/// <summary>What one tier got out of a replay. Times in seconds; GPU-hours as allocated.</summary>
public sealed record TierOutcome(
    Tier Tier,
    int Jobs,
    int Started,
    int Completed,
    double GpuHours,
    double MeanQueueSeconds,
    double P95QueueSeconds,
    double MeanCompletionSeconds,
    int Preemptions,
    double WorkLostGpuHours);

/// <summary>The outcome of a trace replay: utilization, GPU-hours per tier, idle GPU-hours, delays, preemptions.</summary>
public sealed record TraceReport(
    int Nodes,
    int Gpus,
    DateTimeOffset Start,
    DateTimeOffset End,
    int Cycles,
    double UtilizationPercent,
    double IdleGpuHours,
    int NeverStarted,
    ImmutableArray<TierOutcome> Tiers,
    ImmutableArray<UtilizationSample> Series)
{
    /// <summary>Utilization from the first to the last arrival, before the queue drains.</summary>
    public double ArrivalWindowUtilizationPercent { get; init; }

    internal static TraceReport From(int nodes, int gpus, DateTimeOffset start, DateTimeOffset end, IEnumerable<TraceReplay.JobState> jobs, double[] gpuSeconds, List<UtilizationSample> series, int cycles)
    {
        var all = jobs.ToList();
        var span = Math.Max(1, (end - start).TotalSeconds);
        var used = gpuSeconds.Sum();
        var tiers = Enum.GetValues<Tier>().OrderByDescending(t => t).Select(tier =>
        {
            var mine = all.Where(j => j.Workload.Tier == tier).ToList();
            var queue = mine.Where(j => j.FirstStartedAt is not null).Select(j => (j.FirstStartedAt!.Value - j.Job.Arrival).TotalSeconds).Order().ToList();
            var done = mine.Where(j => j.FinishedAt is not null).Select(j => (j.FinishedAt!.Value - j.Job.Arrival).TotalSeconds).ToList();
            return new TierOutcome(
                tier,
                mine.Count,
                queue.Count,
                done.Count,
                gpuSeconds[(int)tier] / 3600,
                queue.Count == 0 ? 0 : queue.Average(),
                queue.Count == 0 ? 0 : queue[Math.Min(queue.Count - 1, (int)Math.Ceiling(queue.Count * 0.95) - 1)],
                done.Count == 0 ? 0 : done.Average(),
                mine.Sum(j => j.Preemptions),
                mine.Sum(j => j.WorkLostGpuSeconds) / 3600);
        }).ToImmutableArray();
        return new TraceReport(nodes, gpus, start, end, cycles, 100 * used / (gpus * span), ((gpus * span) - used) / 3600,
            all.Count(j => j.FirstStartedAt is null), tiers, [.. series]);
    }

    public string ToText()
    {
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.AppendLine(string.Create(inv, $"{Nodes} nodes, {Gpus} GPUs, {Start:yyyy-MM-dd HH:mm} to {End:yyyy-MM-dd HH:mm} UTC, {Cycles} scheduling cycles"));
        b.AppendLine(string.Create(inv, $"utilization {UtilizationPercent:F1} % until the last job ends ({ArrivalWindowUtilizationPercent:F1} % while jobs arrive), idle {IdleGpuHours:N0} GPU-hours, never started {NeverStarted}"));
        b.AppendLine("tier        jobs  started  done  GPU-hours  queue mean  queue p95  completion mean  preempted  work lost GPU-h");
        foreach (var t in Tiers)
        {
            b.AppendLine(string.Create(inv,
                $"{Name(t.Tier),-10} {t.Jobs,5} {t.Started,8} {t.Completed,5} {t.GpuHours,10:N0} {Duration(t.MeanQueueSeconds),11} {Duration(t.P95QueueSeconds),10} {Duration(t.MeanCompletionSeconds),16} {t.Preemptions,10} {t.WorkLostGpuHours,16:N1}"));
        }
        return b.ToString();
    }

    /// <summary>A stacked area chart of GPUs allocated by tier over time, as an SVG document.</summary>
    public string ToSvg(int width = 900, int height = 360)
    {
        var inv = CultureInfo.InvariantCulture;
        const int left = 60, right = 140, top = 20, bottom = 40;
        double w = width - left - right, h = height - top - bottom;
        var span = Math.Max(1, (End - Start).TotalSeconds);
        double X(DateTimeOffset t) => left + (w * (t - Start).TotalSeconds / span);
        double Y(double gpus) => top + h - (h * gpus / Math.Max(1, Gpus));
        var b = new StringBuilder();
        b.AppendLine(string.Create(inv, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"""));
        b.AppendLine(string.Create(inv, $"""<rect x="{left}" y="{top}" width="{w:F0}" height="{h:F0}" fill="#f7f7f7" stroke="#999"/>"""));
        string[] colors = ["#e8a33d", "#5b8def", "#8e6bd1", "#2e9e5b"]; // spot, on-demand, reserved, internal
        // Draw from the top band down: each band's upper edge is the sum of its tier and the tiers below it.
        // One sample per pixel column is all a reader can see; it keeps the file small.
        var shown = Series.Where((s, i) => i == 0 || (int)X(s.At) != (int)X(Series[i - 1].At)).ToList();
        foreach (var tier in Enum.GetValues<Tier>().OrderByDescending(t => t))
        {
            var points = new StringBuilder();
            for (var i = 0; i < shown.Count; i++)
            {
                var s = shown[i];
                var stacked = Enumerable.Range(0, (int)tier + 1).Sum(t => s.GpusByTier[t]);
                var x1 = X(s.At);
                var x2 = i + 1 < shown.Count ? X(shown[i + 1].At) : X(End);
                points.Append(string.Create(inv, $"{x1:F1},{Y(stacked):F1} {x2:F1},{Y(stacked):F1} "));
            }
            if (points.Length == 0)
                continue;
            b.AppendLine(string.Create(inv, $"""<polygon fill="{colors[(int)tier]}" points="{left},{Y(0):F1} {points}{X(End):F1},{Y(0):F1}"/>"""));
        }
        for (var i = 0; i <= 4; i++)
        {
            var g = Gpus * i / 4;
            b.AppendLine(string.Create(inv, $"""<text x="{left - 6}" y="{Y(g) + 4:F1}" text-anchor="end">{g}</text>"""));
        }
        b.AppendLine(string.Create(inv, $"""<text x="{left}" y="{height - 12}">{Start:yyyy-MM-dd HH:mm}</text>"""));
        b.AppendLine(string.Create(inv, $"""<text x="{left + w:F0}" y="{height - 12}" text-anchor="end">{End:yyyy-MM-dd HH:mm} UTC</text>"""));
        b.AppendLine(string.Create(inv, $"""<text x="14" y="{top + (h / 2):F0}" transform="rotate(-90 14 {top + (h / 2):F0})" text-anchor="middle">GPUs allocated</text>"""));
        foreach (var tier in Enum.GetValues<Tier>().OrderByDescending(t => t))
        {
            var y = top + 10 + (20 * (3 - (int)tier));
            b.AppendLine(string.Create(inv, $"""<rect x="{left + w + 12:F0}" y="{y - 10}" width="12" height="12" fill="{colors[(int)tier]}"/><text x="{left + w + 30:F0}" y="{y}">{Name(tier)}</text>"""));
        }
        b.AppendLine("</svg>");
        return b.ToString();
    }

    public static string Name(Tier tier) => tier switch
    {
        Tier.Internal => "internal",
        Tier.Reserved => "reserved",
        Tier.OnDemand => "on-demand",
        _ => "spot",
    };

    private static string Duration(double seconds) =>
        seconds < 120 ? string.Create(CultureInfo.InvariantCulture, $"{seconds:F0}s")
        : seconds < 7200 ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:F1}m")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:F1}h");
}
