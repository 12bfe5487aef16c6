using Headroom.Core.Chains;
using Headroom.Core.Audit;
using static Headroom.Core.Tests.Audit.AuditTestData;

namespace Headroom.Core.Tests.Audit;

public sealed class AuditChainTests
{
    [Fact]
    public void First_record_gets_seq_1_and_chains_from_the_org_genesis()
    {
        var first = AuditChain.Seal(null, Entry(1));

        Assert.Equal(1, first.Seq);
        Assert.Equal(Genesis(), first.PrevHash);
        Assert.Matches("^[0-9a-f]{64}$", first.Hash);
    }

    [Fact]
    public void Each_record_follows_its_predecessor()
    {
        var first = AuditChain.Seal(null, Entry(1));
        var second = AuditChain.Seal(first, Entry(2));

        Assert.Equal(2, second.Seq);
        Assert.Equal(first.Hash, second.PrevHash);
    }

    [Fact]
    public void Genesis_differs_per_org()
    {
        Assert.NotEqual(Genesis("org_a"), Genesis("org_b"));
    }

    [Fact]
    public void Canonical_form_is_frozen()
    {
        // Changing this hash breaks every chain already stored; bump the format tag instead.
        var record = AuditChain.Seal(null, Entry(1) with { Detail = "first" });

        Assert.Equal("25fb780a7645f15216251978b17f8f5f040edc622d8f4c7ba33a7776d7485e31", record.Hash);
    }

    [Fact]
    public void Time_is_truncated_to_utc_microseconds()
    {
        var local = new DateTimeOffset(2026, 11, 26, 14, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_567);

        var record = AuditChain.Seal(null, Entry(1) with { Time = local });

        Assert.Equal(TimeSpan.Zero, record.Time.Offset);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero).AddTicks(1_234_560), record.Time);
    }

    [Fact]
    public void Hash_survives_a_database_round_trip_of_the_time()
    {
        var record = AuditChain.Seal(null, Entry(1));
        // PostgreSQL hands timestamptz back in UTC with microseconds; SQLite text may keep an offset.
        var reloaded = record with { Time = record.Time.ToOffset(TimeSpan.FromHours(-5)) };

        Assert.Empty(AuditChain.Verify(Org, [reloaded]));
    }

    [Fact]
    public void Absent_and_empty_detail_hash_differently()
    {
        var absent = AuditChain.Seal(null, Entry(1) with { Detail = null });
        var empty = AuditChain.Seal(null, Entry(1) with { Detail = "" });

        Assert.NotEqual(absent.Hash, empty.Hash);
    }

    [Fact]
    public void Field_boundaries_are_unambiguous()
    {
        var a = AuditChain.Seal(null, Entry(1) with { Actor = "key_1", Action = "x.create" });
        var b = AuditChain.Seal(null, Entry(1) with { Actor = "key_1x", Action = ".create" });

        Assert.NotEqual(a.Hash, b.Hash);
    }

    [Fact]
    public void A_lone_surrogate_is_sealed_as_a_replacement_character()
    {
        var record = AuditChain.Seal(null, Entry(1) with { Detail = "bad \uD800 text" });

        Assert.Equal("bad \uFFFD text", record.Detail);
        Assert.Empty(AuditChain.Verify(Org, [record]));
    }

    [Fact]
    public void Seal_refuses_a_predecessor_from_another_org()
    {
        var other = AuditChain.Seal(null, Entry(1, "org_other"));

        Assert.Throws<ArgumentException>(() => AuditChain.Seal(other, Entry(2)));
    }

    [Fact]
    public void Seal_refuses_values_that_have_no_code()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AuditChain.Seal(null, Entry(1) with { ActorType = (AuditActorType)9 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => AuditChain.Seal(null, Entry(1) with { Outcome = (AuditOutcome)9 }));
    }

    [Fact]
    public void An_intact_chain_has_no_findings()
    {
        var chain = Chain(50);

        Assert.Empty(AuditChain.Verify(Org, chain));
        Assert.Empty(AuditChain.Verify(Org, chain, AuditAnchor.Of(chain[^1])));
        Assert.Empty(AuditChain.Verify(Org, chain, AuditAnchor.Of(chain[20])));
        Assert.Empty(AuditChain.Verify(Org, []));
    }

    [Fact]
    public void A_record_of_another_org_is_inserted()
    {
        var chain = Chain(3);
        var stranger = AuditChain.Seal(null, Entry(9, "org_other"));
        chain.Insert(1, stranger);

        Assert.Equal([(ChainFindingKind.Inserted, 1L, "aud_0009")], Summary(AuditChain.Verify(Org, chain)));
    }

    public static TheoryData<string> Tamperings => [.. Scenarios.Keys];

    [Theory]
    [MemberData(nameof(Tamperings))]
    public void Tampering_is_reported_as_what_it_is(string name)
    {
        var (tamper, anchored, expected) = Scenarios[name];
        var original = Chain(6);
        var chain = tamper(new List<AuditRecord>(original));

        var findings = AuditChain.Verify(Org, chain, anchored ? AuditAnchor.Of(original[^1]) : null);

        Assert.Equal(expected, Summary(findings));
        Assert.All(findings, f => Assert.False(string.IsNullOrWhiteSpace(f.Message)));
    }

    private static readonly Dictionary<string, (Func<List<AuditRecord>, List<AuditRecord>> Tamper, bool Anchored, (ChainFindingKind, long, string)[] Expected)> Scenarios = new()
    {
        ["edited action"] = (c => Replace(c, 2, r => r with { Action = "projects.delete" }), false, [(ChainFindingKind.Edited, 3, "aud_0003")]),
        ["edited time by a microsecond"] = (c => Replace(c, 2, r => r with { Time = r.Time.AddTicks(10) }), false, [(ChainFindingKind.Edited, 3, "aud_0003")]),
        ["edited detail from absent to empty"] = (c => Replace(c, 2, r => r with { Detail = "" }), false, [(ChainFindingKind.Edited, 3, "aud_0003")]),
        ["edited stored hash"] = (c => Replace(c, 2, r => r with { Hash = new string('0', 64) }), false, [(ChainFindingKind.Edited, 3, "aud_0003")]),
        ["edited prev_hash"] = (c => Replace(c, 2, r => r with { PrevHash = new string('0', 64) }), false, [(ChainFindingKind.Edited, 3, "aud_0003")]),
        ["edited seq"] = (c => Replace(c, 2, r => r with { Seq = 9 }), false, [(ChainFindingKind.Edited, 9, "aud_0003")]),
        ["edited last record, anchored"] = (c => Replace(c, 5, r => r with { Outcome = AuditOutcome.Failure }), true, [(ChainFindingKind.Edited, 6, "aud_0006")]),
        ["deleted one"] = (c => Remove(c, 2, 1), false, [(ChainFindingKind.Deleted, 3, "aud_0004")]),
        ["deleted first"] = (c => Remove(c, 0, 1), false, [(ChainFindingKind.Deleted, 1, "aud_0002")]),
        ["deleted a run"] = (c => Remove(c, 1, 3), false, [(ChainFindingKind.Deleted, 2, "aud_0005")]),
        ["deleted last, anchored"] = (c => Remove(c, 5, 1), true, [(ChainFindingKind.Truncated, 6, "aud_0005")]),
        ["deleted last, no anchor: undetectable"] = (c => Remove(c, 5, 1), false, []),
        ["inserted forgery in the next slot"] = (c => InsertForgery(c, 3, seq: 4), false, [(ChainFindingKind.Inserted, 4, "aud_forged")]),
        ["inserted forgery at the head"] = (c => InsertForgery(c, 0, seq: 1), false, [(ChainFindingKind.Inserted, 1, "aud_forged")]),
        ["inserted forgery before the last, anchored"] = (c => InsertForgery(c, 5, seq: 6), true, [(ChainFindingKind.Inserted, 6, "aud_forged")]),
        ["inserted forgery with a made-up seq"] = (c => InsertForgery(c, 3, seq: 40), false, [(ChainFindingKind.Inserted, 40, "aud_forged")]),
        ["replaced by a forgery"] = (c => Replace(c, 2, r => Forge(r with { Id = "aud_forged", Action = "projects.read" })), false, [(ChainFindingKind.Inserted, 4, "aud_0004")]),
        ["swapped neighbours"] = (c => Swap(c, 1, 2), false, [(ChainFindingKind.Reordered, 2, "aud_0002")]),
        ["swapped far apart"] = (c => Swap(c, 1, 4), false, [(ChainFindingKind.Reordered, 3, "aud_0003"), (ChainFindingKind.Reordered, 2, "aud_0002")]),
        ["tail rewritten, anchored"] = (c => Reseal(c, from: 3), true, [(ChainFindingKind.AnchorMismatch, 6, "")]),
    };

    [Fact]
    public void A_forgery_at_an_older_anchor_is_told_apart_from_the_genuine_record()
    {
        var original = Chain(6);
        var chain = InsertForgery(new List<AuditRecord>(original), 3, seq: 4);

        var findings = AuditChain.Verify(Org, chain, AuditAnchor.Of(original[3]));

        Assert.Equal([(ChainFindingKind.Inserted, 4L, "aud_forged")], Summary(findings));
    }

    [Fact]
    public void An_anchor_on_an_empty_chain_reports_truncation()
    {
        var anchor = AuditAnchor.Of(Chain(3)[^1]);

        Assert.Equal([(ChainFindingKind.Truncated, 1L, "")], Summary(AuditChain.Verify(Org, [], anchor)));
    }

    [Fact]
    public void Streaming_reports_findings_as_they_appear()
    {
        var chain = Remove(Replace(Chain(5), 1, r => r with { Target = "prj_evil" }), 3, 1);
        var verifier = new AuditChainVerifier(Org);

        var perRecord = chain.Select(r => verifier.Append(r).Count).ToArray();
        var atEnd = verifier.Complete();

        Assert.Equal([0, 1, 0, 0], perRecord);
        Assert.Equal([(ChainFindingKind.Deleted, 4L, "aud_0005")], Summary(atEnd));
        Assert.Equal(4, verifier.RecordCount);
        Assert.Throws<InvalidOperationException>(() => verifier.Append(chain[0]));
    }

    [Fact]
    public async Task Async_verification_matches_the_synchronous_one()
    {
        var chain = Swap(Chain(8), 2, 6);

        var findings = await AuditChain.VerifyAsync(Org, ToAsync(chain), AuditAnchor.Of(chain[^1]));

        Assert.Equal(Summary(AuditChain.Verify(Org, chain, AuditAnchor.Of(chain[^1]))), Summary(findings));
        Assert.NotEmpty(findings);
    }

    private static async IAsyncEnumerable<AuditRecord> ToAsync(IEnumerable<AuditRecord> records)
    {
        foreach (var record in records)
        {
            await Task.Yield();
            yield return record;
        }
    }

    private static List<AuditRecord> Replace(List<AuditRecord> chain, int index, Func<AuditRecord, AuditRecord> change)
    {
        chain[index] = change(chain[index]);
        return chain;
    }

    private static List<AuditRecord> Remove(List<AuditRecord> chain, int index, int count)
    {
        chain.RemoveRange(index, count);
        return chain;
    }

    private static List<AuditRecord> InsertForgery(List<AuditRecord> chain, int index, long seq)
    {
        var prevHash = index == 0 ? Genesis() : chain[index - 1].Hash;
        chain.Insert(index, Forge(chain[index] with { Id = "aud_forged", Seq = seq, PrevHash = prevHash, Action = "keys.create" }));
        return chain;
    }

    private static List<AuditRecord> Swap(List<AuditRecord> chain, int a, int b)
    {
        (chain[a], chain[b]) = (chain[b], chain[a]);
        return chain;
    }

    /// <summary>An attacker who rewrites everything from a point on produces a chain that is valid in itself.</summary>
    private static List<AuditRecord> Reseal(List<AuditRecord> chain, int from)
    {
        for (var i = from; i < chain.Count; i++)
        {
            var r = chain[i];
            var entry = new AuditEntry(r.Id, r.OrgId, r.Time, r.Actor, r.ActorType, "audit.erase", r.Target, r.SourceAddress, r.Outcome, r.StatusCode, r.RequestId, r.Detail);
            chain[i] = AuditChain.Seal(chain[i - 1], entry);
        }
        return chain;
    }
}
