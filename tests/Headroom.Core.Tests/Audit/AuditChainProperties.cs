using Headroom.Core.Chains;
using CsCheck;
using Headroom.Core.Audit;
using static Headroom.Core.Tests.Audit.AuditTestData;

namespace Headroom.Core.Tests.Audit;

/// <summary>
/// Verify catches every tampering of a random chain and never raises a false alarm. A single tampering is also named
/// for what it is, in one finding (a swap of distant records: two, one per displaced run).
/// </summary>
public sealed class AuditChainProperties
{
    private const int FieldCount = 15;

    private static readonly Gen<string> Text = Gen.OneOf(Gen.String[0, 16], Gen.String["az|=\\\r\n é漢🙂"]);

    private static readonly Gen<AuditEntry[]> Entries =
        Gen.Select(Text, Gen.Enum<AuditActorType>(), Text, Text, Text, Gen.Enum<AuditOutcome>(), Gen.Int[100, 599], Text.Null(0.3))
            .Select(Gen.Long[0, 10_000_000_000], (f, ticks) => (Fields: f, Ticks: ticks))
            .Array[1, 200]
            .Select(rows => rows.Select((row, i) => new AuditEntry(
                $"aud_{i + 1}", Org, T0.AddTicks(row.Ticks), row.Fields.Item1, row.Fields.Item2, row.Fields.Item3, row.Fields.Item4,
                row.Fields.Item5, row.Fields.Item6, row.Fields.Item7, $"req_{i + 1}", row.Fields.Item8)).ToArray());

    private static readonly Gen<List<AuditRecord>> Chains = Entries.Select(entries =>
    {
        var chain = new List<AuditRecord>(entries.Length);
        foreach (var entry in entries)
        {
            chain.Add(AuditChain.Seal(chain.Count == 0 ? null : chain[^1], entry));
        }
        return chain;
    });

    private static readonly Gen<(List<AuditRecord> Chain, Tampering Tampering)> Tampered =
        Chains.SelectMany(chain => TamperingOf(chain).Select(t => (chain, t)));

    private static Gen<Tampering> TamperingOf(List<AuditRecord> chain)
    {
        var n = chain.Count;
        var index = Gen.Int[0, n - 1];
        var edit = Gen.Select(index, Gen.Int[0, FieldCount - 1], Text, Gen.Long[1, 1_000_000_000], Gen.Bool)
            .Select((i, field, text, delta, negative) => (Tampering)new Edit(i, field, text, negative ? -delta : delta));
        var delete = index.SelectMany(i => Gen.Int[1, Math.Min(3, n - i)].Select(count => (Tampering)new Delete(i, count)));
        var insert = Gen.Select(index, Gen.Bool, Gen.Bool, Gen.Long[1, n + 5], Text)
            .Select((i, nextSlot, chained, seq, action) => (Tampering)new Insert(i, nextSlot, chained, seq, action));
        var swap = Gen.Select(index, index).Where((a, b) => a < b).Select((a, b) => (Tampering)new Swap(a, b));
        return n == 1 ? Gen.OneOf(edit, delete, insert) : Gen.OneOf(edit, delete, insert, swap);
    }

    /// <summary>Up to <paramref name="count"/> tamperings in a row, each drawn against the chain the previous one left.</summary>
    private static Gen<(List<AuditRecord> Chain, string Steps)> TamperedRepeatedly(List<AuditRecord> chain, int count) =>
        count == 0 || chain.Count == 0
            ? Gen.Const((chain, ""))
            : TamperingOf(chain).SelectMany(t =>
                TamperedRepeatedly(t.Apply(new List<AuditRecord>(chain)), count - 1).Select(rest => (rest.Chain, $"{t}; {rest.Steps}")));

    [Fact]
    public void An_untouched_chain_verifies_clean()
    {
        Chains.SelectMany(chain => Gen.Int[0, chain.Count - 1].Select(anchor => (chain, anchor))).Sample(sample =>
        {
            var (chain, anchor) = sample;
            Assert.Empty(AuditChain.Verify(Org, chain));
            Assert.Empty(AuditChain.Verify(Org, chain, AuditAnchor.Of(chain[^1])));
            // An anchor taken earlier stays valid while the chain grows.
            Assert.Empty(AuditChain.Verify(Org, chain, AuditAnchor.Of(chain[anchor])));
        }, iter: 100, print: s => $"{Describe(s.chain)} anchored at {s.anchor}");
    }

    [Fact]
    public void Sealed_records_survive_a_database_round_trip()
    {
        Chains.Sample(chain =>
        {
            // What SQLite or PostgreSQL hand back: same instant, microseconds, any offset.
            var reloaded = chain.Select(r => r with { Time = r.Time.ToOffset(TimeSpan.FromHours(r.Seq % 24 - 12)) });
            Assert.Empty(AuditChain.Verify(Org, reloaded, AuditAnchor.Of(chain[^1])));
        }, iter: 100, print: Describe);
    }

    [Fact]
    public void Every_tampering_is_detected()
    {
        Tampered.Sample(sample =>
        {
            var (chain, tampering) = sample;
            var anchor = AuditAnchor.Of(chain[^1]);
            var findings = AuditChain.Verify(Org, tampering.Apply(new List<AuditRecord>(chain)), anchor);

            Assert.NotEmpty(findings);
            var kinds = findings.Select(f => f.Kind).ToHashSet();
            switch (tampering)
            {
                case Edit:
                    Assert.Equal([ChainFindingKind.Edited], kinds);
                    Assert.Single(findings);
                    break;
                case Delete:
                    Assert.Single(findings);
                    Assert.True(kinds.Contains(ChainFindingKind.Deleted) || kinds.Contains(ChainFindingKind.Truncated));
                    break;
                case Swap:
                    Assert.Equal([ChainFindingKind.Reordered], kinds);
                    Assert.InRange(findings.Count, 1, 2);
                    break;
                case Insert { Chained: true }:
                    Assert.Equal([ChainFindingKind.Inserted], kinds);
                    Assert.Single(findings);
                    break;
            }
        }, iter: 10_000, print: t => $"{Describe(t.Chain)} {t.Tampering}");
    }

    [Fact]
    public void Any_series_of_tamperings_that_changes_the_chain_is_detected()
    {
        Chains.SelectMany(chain => Gen.Int[1, 4].SelectMany(count => TamperedRepeatedly(chain, count)).Select(t => (Original: chain, t.Chain, t.Steps)))
            .Sample(sample =>
            {
                var (original, tampered, _) = sample;
                var findings = AuditChain.Verify(Org, tampered, AuditAnchor.Of(original[^1]));

                Assert.Equal(tampered.SequenceEqual(original), findings.Count == 0);
            }, iter: 500, print: s => $"{Describe(s.Original)} {s.Steps}");
    }

    private static string Describe(List<AuditRecord> chain) => $"chain of {chain.Count}";

    private abstract record Tampering
    {
        public abstract List<AuditRecord> Apply(List<AuditRecord> chain);
    }

    /// <summary>Changes one field (by number, in canonical order) to a value that differs.</summary>
    private sealed record Edit(int Index, int Field, string Text, long Delta) : Tampering
    {
        public override List<AuditRecord> Apply(List<AuditRecord> chain)
        {
            var r = chain[Index];
            chain[Index] = Field switch
            {
                0 => r with { Id = Other(r.Id) },
                1 => r with { OrgId = Other(r.OrgId) },
                2 => r with { Seq = r.Seq + Delta },
                3 => r with { Time = r.Time.AddTicks(Delta * TimeSpan.TicksPerMicrosecond) },
                4 => r with { Actor = Other(r.Actor) },
                5 => r with { ActorType = (AuditActorType)(((int)r.ActorType + 1) % 4) },
                6 => r with { Action = Other(r.Action) },
                7 => r with { Target = Other(r.Target) },
                8 => r with { SourceAddress = Other(r.SourceAddress) },
                9 => r with { Outcome = r.Outcome == AuditOutcome.Success ? AuditOutcome.Failure : AuditOutcome.Success },
                10 => r with { StatusCode = r.StatusCode + (int)(Delta % 1000 == 0 ? 1 : Delta % 1000) },
                11 => r with { RequestId = Other(r.RequestId) },
                12 => r with { Detail = r.Detail is null ? Text : r.Detail == Text ? null : Text },
                13 => r with { PrevHash = Other(r.PrevHash) },
                _ => r with { Hash = Other(r.Hash) },
            };
            return chain;
        }

        private string Other(string value) => value == Text ? value + "x" : Text;
    }

    private sealed record Delete(int Index, int Count) : Tampering
    {
        public override List<AuditRecord> Apply(List<AuditRecord> chain)
        {
            chain.RemoveRange(Index, Count);
            return chain;
        }
    }

    /// <summary>
    /// A forged record with a valid hash placed before an existing one. Appending after the last record is left out on
    /// purpose: that is indistinguishable from a genuine new record.
    /// </summary>
    private sealed record Insert(int Index, bool NextSlot, bool Chained, long Seq, string Action) : Tampering
    {
        public override List<AuditRecord> Apply(List<AuditRecord> chain)
        {
            var predecessor = Index == 0 ? null : chain[Index - 1];
            var forged = chain[Index] with
            {
                Id = "aud_forged",
                Seq = NextSlot ? (predecessor?.Seq ?? 0) + 1 : Seq,
                PrevHash = Chained ? predecessor?.Hash ?? Genesis() : new string('f', 64),
                Action = Action,
            };
            chain.Insert(Index, Forge(forged));
            return chain;
        }
    }

    private sealed record Swap(int A, int B) : Tampering
    {
        public override List<AuditRecord> Apply(List<AuditRecord> chain)
        {
            (chain[A], chain[B]) = (chain[B], chain[A]);
            return chain;
        }
    }
}
