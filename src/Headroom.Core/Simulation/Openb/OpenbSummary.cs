namespace Headroom.Core.Simulation.Openb;

/// <summary>Mean and sample standard deviation of the allocation % at one arrival level, over seeds.</summary>
public readonly record struct MeanSd(double Mean, double Sd)
{
    public static MeanSd Of(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
            return new MeanSd(double.NaN, double.NaN);
        var mean = values.Average();
        var sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return new MeanSd(mean, sd);
    }
}

/// <summary>A policy's replays over several seeds, summarized at the reported levels.</summary>
public sealed record OpenbSummary(string Policy, IReadOnlyList<int> Seeds, IReadOnlyList<OpenbRun> Runs, IReadOnlyDictionary<int, MeanSd> Alloc)
{
    public static OpenbSummary Of(string policy, IReadOnlyList<int> seeds, IReadOnlyList<OpenbRun> runs, IReadOnlyList<int> levels)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(levels);
        var alloc = levels.ToDictionary(x => x, x => MeanSd.Of([.. runs.Select(r => r.At(x))]));
        return new OpenbSummary(policy, seeds, runs, alloc);
    }
}
