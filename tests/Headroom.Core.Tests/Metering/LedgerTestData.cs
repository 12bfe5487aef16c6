using Headroom.Core.Chains;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Tests.Metering;

internal static class LedgerTestData
{
    public const string Org = "org_acme";
    public static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public static UsageEvent Event(int i, string org = Org) => i % 2 == 0
        ? UsageEvent.GpuTime($"evt_{i:D4}", org, "prj_train", 8000, Tier.OnDemand, "h100-80gb", "us-east", T0.AddSeconds(i), T0.AddSeconds(i + 60))
        : UsageEvent.Tokens($"evt_{i:D4}", org, "prj_chat", Meter.OutputTokens, 1000 + i, "llama-3.1-8b", T0.AddSeconds(i).AddTicks(i * 13), apiKeyId: "key_01");

    public static List<LedgerEntry> Chain(int count, string org = Org)
    {
        var chain = new List<LedgerEntry>(count);
        for (var i = 1; i <= count; i++)
        {
            chain.Add(UsageLedger.Seal(chain.Count == 0 ? null : chain[^1], Event(i, org), T0.AddSeconds(i + 61)));
        }
        return chain;
    }

    /// <summary>What an attacker with write access can do: any content, with a hash that matches it.</summary>
    public static LedgerEntry Forge(LedgerEntry entry) => entry with { Hash = LedgerHash.Compute(entry)! };

    public static (ChainFindingKind Kind, long Seq, string Id)[] Summary(IEnumerable<LedgerFinding> findings) =>
        [.. findings.Select(f => (f.Kind, f.Seq, f.EventId))];
}
