using System.Diagnostics;
using System.Text.Json;
using Headroom.Core.Fleet;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Fleet;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Fleet;

/// <summary>
/// Brings the stored fleet in line with its declaration at start: the fleet file when one is given,
/// else this machine (its GPUs as nvidia-smi reports them, or none). Nodes keep the state an
/// operator gave them (cordoned, draining) across restarts; nodes no longer declared are removed.
/// </summary>
internal static partial class FleetInventory
{
    public static async Task ApplyAsync(Database database, HeadroomSettings settings, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        FleetSpec spec;
        IReadOnlyList<GpuReading> readings = [];
        if (settings.FleetFile is { } file)
        {
            var parsed = FleetFile.Parse(await File.ReadAllTextAsync(file, cancellationToken), file);
            spec = parsed.Value ?? throw new InvalidOperationException(
                $"The fleet file {file} is invalid:{Environment.NewLine}{string.Join(Environment.NewLine, parsed.Problems)}");
        }
        else
        {
            readings = await DiscoverGpusAsync(logger, cancellationToken);
            var memoryMiB = (int)Math.Min(int.MaxValue, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 20);
            spec = LocalFleet.Build(Environment.MachineName, Environment.ProcessorCount * 1000, memoryMiB, readings);
        }
        await SyncAsync(database, spec, readings, time.GetUtcNow(), cancellationToken);
        LogApplied(logger, spec.Regions.Count, spec.Nodes.Count(), spec.Nodes.Sum(n => n.GpuCount), settings.FleetFile ?? "this machine");
    }

    /// <summary>Runs nvidia-smi; a machine without it (or without a driver) has no GPUs, which is not an error.</summary>
    private static async Task<IReadOnlyList<GpuReading>> DiscoverGpusAsync(ILogger logger, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(NvidiaSmi.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in NvidiaSmi.QueryArguments)
            start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start)!;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                LogNoGpus(logger, $"nvidia-smi exited with {process.ExitCode}");
                return [];
            }
            var parsed = NvidiaSmi.ParseQueryCsv(output);
            if (parsed.Value is null)
                LogNoGpus(logger, "nvidia-smi printed what Headroom cannot read: " + string.Join("; ", parsed.Problems));
            return parsed.Value ?? [];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            LogNoGpus(logger, "nvidia-smi is not installed");
            return [];
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogNoGpus(logger, "nvidia-smi did not answer within 15 s");
            return [];
        }
    }

    internal static async Task SyncAsync(Database database, FleetSpec spec, IReadOnlyList<GpuReading> readings, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var models = spec.GpuModels.ToDictionary(m => m.Id, StringComparer.Ordinal);
        await using var db = database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        if (db.Provider == StoreProvider.Postgres)
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext('fleet-apply'))", cancellationToken);

        var regions = await db.Regions.ToDictionaryAsync(r => r.Name, cancellationToken);
        var clusters = await db.Clusters.ToDictionaryAsync(c => c.Name, cancellationToken);
        var nodes = await db.Nodes.ToDictionaryAsync(n => n.Name, cancellationToken);
        var gpus = await db.Gpus.ToDictionaryAsync(g => (g.Node, g.Index), cancellationToken);

        foreach (var region in spec.Regions)
        {
            if (!regions.ContainsKey(region.Name))
                db.Regions.Add(new RegionRow { Name = region.Name, CreatedAt = now });
            foreach (var cluster in region.Clusters)
            {
                if (clusters.TryGetValue(cluster.Name, out var existing))
                {
                    existing.Region = region.Name;
                    existing.Runtime = cluster.Runtime.ToCode();
                }
                else
                {
                    db.Clusters.Add(new ClusterRow { Name = cluster.Name, Region = region.Name, Runtime = cluster.Runtime.ToCode(), CreatedAt = now });
                }

                foreach (var node in cluster.Nodes)
                {
                    var model = node.GpuModel is null ? null : models.GetValueOrDefault(node.GpuModel);
                    if (!nodes.TryGetValue(node.Name, out var row))
                    {
                        row = new NodeRow
                        {
                            Name = node.Name, Cluster = cluster.Name, Region = region.Name, Runtime = "", GpuModel = "",
                            State = node.State.ToCode(), CreatedAt = now,
                        };
                        db.Nodes.Add(row);
                    }
                    row.Cluster = cluster.Name;
                    row.Region = region.Name;
                    row.Runtime = node.Runtime.ToCode();
                    row.GpuModel = node.GpuModel ?? "";
                    row.GpuCount = node.GpuCount;
                    row.GpuMemoryMib = model?.MemoryMiB ?? 0;
                    row.CpuMilli = node.CpuMillicores;
                    row.MemoryMib = node.MemoryMiB;
                    row.Labels = JsonSerializer.Serialize(node.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToDictionary());
                    row.UpdatedAt = now;

                    for (var i = 0; i < node.GpuCount; i++)
                    {
                        var reading = readings.FirstOrDefault(r => r.Index == i && r.ModelId == node.GpuModel);
                        var gpu = gpus.GetValueOrDefault((node.Name, i));
                        if (gpu is null)
                        {
                            gpu = new GpuRow { Node = node.Name, Index = i, Model = node.GpuModel! };
                            db.Gpus.Add(gpu);
                        }
                        gpu.Model = node.GpuModel!;
                        gpu.Uuid = reading?.Uuid;
                        gpu.MemoryMib = reading?.MemoryTotalMiB ?? model?.MemoryMiB ?? 0;
                    }
                }
            }
        }

        var declaredNodes = spec.Nodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var declaredClusters = spec.Regions.SelectMany(r => r.Clusters).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var declaredRegions = spec.Regions.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var declaredGpus = spec.Nodes.SelectMany(n => Enumerable.Range(0, n.GpuCount).Select(i => (n.Name, i))).ToHashSet();
        db.Gpus.RemoveRange(gpus.Values.Where(g => !declaredGpus.Contains((g.Node, g.Index))));
        db.Nodes.RemoveRange(nodes.Values.Where(n => !declaredNodes.Contains(n.Name)));
        db.Clusters.RemoveRange(clusters.Values.Where(c => !declaredClusters.Contains(c.Name)));
        db.Regions.RemoveRange(regions.Values.Where(r => !declaredRegions.Contains(r.Name)));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Fleet from {Source}: {Regions} regions, {Nodes} nodes, {Gpus} GPUs")]
    private static partial void LogApplied(ILogger logger, int regions, int nodes, int gpus, string source);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "No GPUs discovered on this machine: {Reason}")]
    private static partial void LogNoGpus(ILogger logger, string reason);
}
