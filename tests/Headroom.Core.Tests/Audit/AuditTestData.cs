using Headroom.Core.Chains;
using Headroom.Core.Audit;

namespace Headroom.Core.Tests.Audit;

internal static class AuditTestData
{
    public const string Org = "org_acme";
    public static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public static AuditEntry Entry(int i, string org = Org) => new(
        Id: $"aud_{i:D4}",
        OrgId: org,
        Time: T0.AddSeconds(i).AddTicks(i * 13),
        Actor: "key_01",
        ActorType: AuditActorType.ApiKey,
        Action: "projects.create",
        Target: $"prj_{i}",
        SourceAddress: "203.0.113.7",
        Outcome: AuditOutcome.Success,
        StatusCode: 201,
        RequestId: $"req_{i}");

    public static List<AuditRecord> Chain(int count, string org = Org)
    {
        var chain = new List<AuditRecord>(count);
        for (var i = 1; i <= count; i++)
        {
            chain.Add(AuditChain.Seal(chain.Count == 0 ? null : chain[^1], Entry(i, org)));
        }
        return chain;
    }

    /// <summary>What an attacker with write access can do: any content, with a hash that matches it.</summary>
    public static AuditRecord Forge(AuditRecord record) => record with { Hash = AuditHash.Compute(record)! };

    public static string Genesis(string org = Org) => AuditHash.Genesis(org);

    public static (ChainFindingKind Kind, long Seq, string Id)[] Summary(IEnumerable<AuditFinding> findings) =>
        [.. findings.Select(f => (f.Kind, f.Seq, f.RecordId))];
}
