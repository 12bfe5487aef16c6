using Headroom.Core.Chains;
using Headroom.Core.Metering;
using static Headroom.Core.Tests.Metering.LedgerTestData;

namespace Headroom.Core.Tests.Metering;

public sealed class UsageLedgerTests
{
    [Fact]
    public void Seal_links_each_entry_to_the_previous_one_from_the_org_genesis()
    {
        var chain = Chain(3);

        Assert.Equal([1L, 2L, 3L], chain.Select(e => e.Seq));
        Assert.Equal(UsageLedger.Genesis(Org), chain[0].PrevHash);
        Assert.Equal(chain[0].Hash, chain[1].PrevHash);
        Assert.Equal(chain[1].Hash, chain[2].PrevHash);
        Assert.NotEqual(UsageLedger.Genesis(Org), UsageLedger.Genesis("org_other"));
    }

    [Fact]
    public void The_canonical_hash_is_frozen()
    {
        // Changing the canonical form breaks every existing ledger: bump the format tag instead. The value was computed
        // independently from the format in Pricing/README.md, not copied from a run.
        var entry = UsageLedger.Seal(null, Event(2), T0.AddMinutes(5));

        Assert.Equal("d5ff8294d9070f5aff546218ece37fdea1c14b30d1970bfb3ed9b194d7abc3c7", entry.Hash);
    }

    [Fact]
    public void An_estimated_token_count_is_hashed_as_format_v2_and_every_other_entry_keeps_v1()
    {
        // Computed independently from Pricing/README.md: v2 is v1 with its own tag and flag(estimated) before prev_hash.
        var counted = UsageLedger.Seal(null, Event(1), T0.AddMinutes(5));
        var estimated = UsageLedger.Seal(null, Event(1) with { Estimated = true }, T0.AddMinutes(5));

        Assert.Equal("321f650591927c339652ec721473a9f82204f2f703b9b89d1c9f0acd0dc3acc7", counted.Hash);
        Assert.Equal("c3ac016ee6875d06d4c370d1f0ee2d10e7af083e3de0744a171ecd7d7c4de6b6", estimated.Hash);
        Assert.Contains((Event(2) with { Estimated = true }).Validate(), p => p.StartsWith("estimated:", StringComparison.Ordinal));
    }

    [Fact]
    public void Seal_truncates_times_to_microseconds_so_a_database_round_trip_keeps_the_hash()
    {
        var usage = Event(1) with { Start = T0.AddTicks(7), End = T0.AddTicks(7) };

        var entry = UsageLedger.Seal(null, usage, T0.AddTicks(19));
        var reloaded = entry with { RecordedAt = entry.RecordedAt.ToOffset(TimeSpan.FromHours(2)) };

        Assert.Equal(T0, entry.Event.Start);
        Assert.Empty(UsageLedger.Verify(Org, [reloaded]));
    }

    [Fact]
    public void Seal_refuses_to_chain_an_event_of_another_org()
    {
        var first = Chain(1)[0];

        Assert.Throws<ArgumentException>(() => UsageLedger.Seal(first, Event(2, "org_other"), T0));
    }

    [Fact]
    public void An_intact_chain_verifies_clean_with_and_without_an_anchor()
    {
        var chain = Chain(10);

        Assert.Empty(UsageLedger.Verify(Org, chain));
        Assert.Empty(UsageLedger.Verify(Org, chain, LedgerAnchor.Of(chain[^1])));
    }

    public static TheoryData<string, Func<List<LedgerEntry>, IEnumerable<LedgerEntry>>, (ChainFindingKind, long, string)[]> Tamperings => new()
    {
        { "quantity edited", c => c.Select(e => e.Seq == 4 ? e with { Event = e.Event with { Quantity = 1 } } : e),
            [(ChainFindingKind.Edited, 4, "evt_0004")] },
        { "notice moved and re-hashed", c => c.Select(e => e.Seq == 4 ? Forge(e with { Event = e.Event with { NotChargedFrom = e.Event.Start } }) : e),
            [(ChainFindingKind.Inserted, 5, "evt_0005")] },
        { "entry deleted", c => c.Where(e => e.Seq != 3),
            [(ChainFindingKind.Deleted, 3, "evt_0004")] },
        { "two entries swapped", c => c.Select(e => e.Seq switch { 2 => c[4], 5 => c[1], _ => e }),
            [(ChainFindingKind.Reordered, 3, "evt_0003"), (ChainFindingKind.Reordered, 2, "evt_0002")] },
        { "forged entry inserted", c => c.Take(3).Append(Forge(c[3] with { Seq = 4, Event = c[3].Event with { Id = "evt_forged" } })).Concat(c.Skip(3)),
            [(ChainFindingKind.Inserted, 4, "evt_forged")] },
        { "tail cut off", c => c.Take(4),
            [(ChainFindingKind.Truncated, 5, "evt_0004")] },
    };

    [Theory]
    [MemberData(nameof(Tamperings))]
    public void Verify_reports_each_tampering_as_data(
        string because, Func<List<LedgerEntry>, IEnumerable<LedgerEntry>> tamper, (ChainFindingKind, long, string)[] expected)
    {
        var chain = Chain(6);

        var findings = UsageLedger.Verify(Org, tamper(chain), LedgerAnchor.Of(chain[^1]));

        Assert.True(expected.SequenceEqual(Summary(findings)), $"{because}: {string.Join("; ", findings.Select(f => f.Message))}");
    }

    [Fact]
    public void An_entry_of_another_org_is_reported_as_inserted()
    {
        var chain = Chain(2);
        var foreign = Chain(1, "org_other")[0];

        var findings = UsageLedger.Verify(Org, [chain[0], foreign, chain[1]]);

        Assert.Equal([(ChainFindingKind.Inserted, 1L, foreign.EventId)], Summary(findings));
    }

    [Fact]
    public async Task VerifyAsync_streams_the_same_findings()
    {
        var chain = Chain(5);

        var findings = await UsageLedger.VerifyAsync(Org, chain.Where(e => e.Seq != 2).ToAsyncEnumerable());

        Assert.Equal([(ChainFindingKind.Deleted, 2L, "evt_0003")], Summary(findings));
    }
}
