using System.Globalization;
using Headroom.Core.Scheduling.Placement;

namespace Headroom.Core.Simulation.Openb;

/// <summary>One pod of the openb pod list: what it asks for, by name.</summary>
public sealed record OpenbPod(string Name, int CpuMilli, int MemoryMib, int GpuCount, int GpuMilli, IReadOnlyList<string> GpuModels);

/// <summary>
/// Parses the Alibaba GPU trace 2023 ("openb") CSV files from their text; the caller reads the
/// files. Malformed rows are reported together, with line numbers, as one <see cref="FormatException"/>.
/// </summary>
public static class OpenbTrace
{
    /// <summary>Parses <c>sn,cpu_milli,memory_mib,gpu,model</c>.</summary>
    public static IReadOnlyList<PlacementNode> ParseNodes(string csv)
    {
        var rows = Rows(csv, ["sn", "cpu_milli", "memory_mib", "gpu", "model"]);
        var nodes = new List<PlacementNode>(rows.Count);
        var errors = new List<string>();
        foreach (var (line, f) in rows)
        {
            if (TryInt(f[1], out var cpu) && TryInt(f[2], out var mem) && TryInt(f[3], out var gpu) && cpu >= 0 && mem >= 0 && gpu >= 0)
                nodes.Add(new PlacementNode(f[0], f[4], gpu, cpu, mem));
            else
                errors.Add($"line {line}: bad node row");
        }
        ThrowIfAny(errors);
        return nodes;
    }

    /// <summary>Parses <c>name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,...</c>; later columns are ignored.</summary>
    public static IReadOnlyList<OpenbPod> ParsePods(string csv)
    {
        var rows = Rows(csv, ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"]);
        var pods = new List<OpenbPod>(rows.Count);
        var errors = new List<string>();
        foreach (var (line, f) in rows)
        {
            if (!(TryInt(f[1], out var cpu) && TryInt(f[2], out var mem) && TryInt(f[3], out var gpus) && TryInt(f[4], out var milli)))
            {
                errors.Add($"line {line}: bad pod row");
                continue;
            }
            var models = f[5].Length == 0 ? [] : f[5].Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var pod = new OpenbPod(f[0], cpu, mem, gpus, gpus == 0 ? 0 : milli, models);
            var problem = new PlacementRequest(cpu, mem, pod.GpuCount, pod.GpuMilli).Validate();
            if (problem is null)
                pods.Add(pod);
            else
                errors.Add($"line {line}: {problem}");
        }
        ThrowIfAny(errors);
        return pods;
    }

    private static List<(int Line, string[] Fields)> Rows(string csv, string[] required)
    {
        ArgumentNullException.ThrowIfNull(csv);
        var lines = csv.Split('\n');
        var header = lines[0].TrimEnd('\r').Split(',');
        var columns = new int[required.Length];
        for (var i = 0; i < required.Length; i++)
        {
            columns[i] = Array.IndexOf(header, required[i]);
            if (columns[i] < 0)
                throw new FormatException($"missing column '{required[i]}' (header: {lines[0].TrimEnd('\r')})");
        }
        var rows = new List<(int, string[])>(lines.Length);
        for (var l = 1; l < lines.Length; l++)
        {
            var text = lines[l].TrimEnd('\r');
            if (text.Length == 0)
                continue;
            var all = text.Split(',');
            var fields = new string[required.Length];
            for (var i = 0; i < required.Length; i++)
                fields[i] = columns[i] < all.Length ? all[columns[i]].Trim() : "";
            rows.Add((l + 1, fields));
        }
        return rows;
    }

    private static bool TryInt(string s, out int value) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);

    private static void ThrowIfAny(List<string> errors)
    {
        if (errors.Count > 0)
            throw new FormatException(string.Join(Environment.NewLine, errors.Take(20)) + (errors.Count > 20 ? $"{Environment.NewLine}... and {errors.Count - 20} more" : ""));
    }
}
