using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Pricing;

/// <summary>The keys <c>GET /v1/usage?group_by=...</c> may group by.</summary>
[Flags]
public enum UsageGrouping
{
    None = 0,
    Project = 1,
    Meter = 2,
    Day = 4,
    Tier = 8,
    GpuModel = 16,
    Region = 32,
    Model = 64,
    ApiKey = 128,
}

/// <summary>
/// One row of a usage report: the grouped keys (null when not grouped by), the quantity (milli-GPU-seconds or tokens;
/// null unless grouped by meter, since units differ) and the cost.
/// </summary>
public sealed record UsageRow(
    string? ProjectId,
    Meter? Meter,
    DateOnly? Day,
    Tier? Tier,
    string? GpuModel,
    string? Region,
    string? Model,
    string? ApiKeyId,
    long? Quantity,
    decimal Cost);

/// <summary>Usage and cost grouped for cost explorers and charts.</summary>
public static class UsageReport
{
    /// <summary>
    /// Groups <paramref name="charges"/> (from <see cref="Rater.Rate"/> over the report's range) by
    /// <paramref name="groupBy"/>. GPU time is cut at UTC midnight when grouping by day. Within a row, quantities of
    /// one invoice line are added before pricing, with the invoice's rounding; so without <see cref="UsageGrouping.Day"/>
    /// and <see cref="UsageGrouping.ApiKey"/>, rows over a billing period add up exactly to the invoice's subtotal.
    /// </summary>
    public static IReadOnlyList<UsageRow> Group(IEnumerable<RatedUsage> charges, UsageGrouping groupBy)
    {
        var totals = new UsageTotals(groupBy);
        totals.Add(charges);
        return totals.Rows();
    }

    /// <summary>The charge's quantity per UTC day (one entry, day null, when not grouping by day).</summary>
    internal static IEnumerable<(DateOnly? Day, long Quantity)> ByDay(RatedUsage charge, bool byDay)
    {
        if (!byDay)
        {
            yield return (null, charge.Quantity);
            yield break;
        }
        var from = charge.From.ToUnixTimeSeconds();
        var to = charge.To.ToUnixTimeSeconds();
        if (charge.Meter != Meter.GpuSeconds || to <= from)
        {
            yield return (DateOnly.FromDateTime(charge.From.UtcDateTime), charge.Quantity);
            yield break;
        }
        // A GPU slice holds the same milli-GPUs throughout, so its quantity divides exactly by its seconds.
        var milliGpus = charge.Quantity / (to - from);
        const long SecondsPerDay = 86_400;
        for (var start = from; start < to;)
        {
            var end = Math.Min(to, ((start / SecondsPerDay) + 1) * SecondsPerDay);
            yield return (DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeSeconds(start).UtcDateTime), milliGpus * (end - start));
            start = end;
        }
    }
}

/// <summary>
/// A usage report's running sums: integer quantities per row and invoice line, added as charges arrive and priced only
/// when <see cref="Rows"/> is asked. Charges added in any order and in any number of batches give exactly the rows of
/// <see cref="UsageReport.Group"/> over all of them at once: integer sums commute, and the only rounding is the one per
/// (row, line) when the rows are read. This is what lets a replica extend a report as the append-only ledger grows.
/// </summary>
public sealed class UsageTotals(UsageGrouping groupBy)
{
    // Priced per row and invoice line (project × meter × dimensions × unit price): a row never merges what an
    // invoice prices separately, so coarse rows cost exactly what the invoice's lines add up to.
    private readonly Dictionary<(UsageRow Row, InvoiceLineKey Line), long> _quantities = [];

    public UsageGrouping GroupBy => groupBy;

    public void Add(IEnumerable<RatedUsage> charges)
    {
        ArgumentNullException.ThrowIfNull(charges);
        foreach (var charge in charges)
        {
            foreach (var (day, quantity) in UsageReport.ByDay(charge, groupBy.HasFlag(UsageGrouping.Day)))
            {
                var d = charge.Dimensions;
                var row = new UsageRow(
                    groupBy.HasFlag(UsageGrouping.Project) ? charge.ProjectId : null,
                    groupBy.HasFlag(UsageGrouping.Meter) ? charge.Meter : null,
                    day,
                    groupBy.HasFlag(UsageGrouping.Tier) ? d.Tier : null,
                    groupBy.HasFlag(UsageGrouping.GpuModel) ? d.GpuModel : null,
                    groupBy.HasFlag(UsageGrouping.Region) ? d.Region : null,
                    groupBy.HasFlag(UsageGrouping.Model) ? d.Model : null,
                    groupBy.HasFlag(UsageGrouping.ApiKey) ? d.ApiKeyId : null,
                    null, 0m);
                var key = (row, new InvoiceLineKey(charge.ProjectId, charge.Meter, d with { ApiKeyId = row.ApiKeyId }, charge.UnitPrice, charge.Unit));
                _quantities[key] = checked(_quantities.GetValueOrDefault(key) + quantity);
            }
        }
    }

    /// <summary>The report's rows in their fixed order (every key of a row takes part in it, so insertion order never shows).</summary>
    public IReadOnlyList<UsageRow> Rows() =>
    [
        .. _quantities
            .GroupBy(p => p.Key.Row)
            .Select(g => g.Key with
            {
                Quantity = g.Key.Meter is null ? null : g.Sum(p => p.Value),
                Cost = g.Sum(p => BillingMath.Charge(p.Value, p.Key.Line.UnitPrice, p.Key.Line.Unit.UnitsPerPrice())),
            })
            .OrderBy(r => r.Day)
            .ThenBy(r => r.ProjectId, StringComparer.Ordinal)
            .ThenBy(r => r.Meter)
            .ThenBy(r => r.Tier)
            .ThenBy(r => r.GpuModel, StringComparer.Ordinal)
            .ThenBy(r => r.Region, StringComparer.Ordinal)
            .ThenBy(r => r.Model, StringComparer.Ordinal)
            .ThenBy(r => r.ApiKeyId, StringComparer.Ordinal),
    ];
}
