using Headroom.Core.Chains;
using CsCheck;
using Headroom.Core.Metering;
using Headroom.Core.Scheduling.Tiered;
using static Headroom.Core.Tests.Metering.LedgerTestData;

namespace Headroom.Core.Tests.Metering;

/// <summary>Verify catches every single tampering of a random ledger, and never raises a false alarm.</summary>
public sealed class UsageLedgerProperties
{
    private const int FieldCount = 15;

    private static readonly Gen<string> Text = Gen.OneOf(Gen.String[0, 12], Gen.String["az-_ é漢🙂"]);

    private static readonly Gen<UsageEvent> Events = Gen.Select(Gen.Enum<Meter>(), Gen.Long[0, 1_000_000_000], Text, Text.Null(0.3), Gen.Bool, Gen.Long[0, 10_000_000_000], Gen.Int[0, 86_400])
        .Select((meter, quantity, project, key, batch, ticks, seconds) =>
        {
            var start = T0.AddTicks(ticks);
            return meter == Meter.GpuSeconds
                ? UsageEvent.GpuTime("", Org, project, quantity, (Tier)(seconds % 4), "h100-80gb", "us-east", start, start.AddSeconds(seconds),
                    seconds % 3 == 0 ? start.AddSeconds(seconds / 2) : null)
                : UsageEvent.Tokens("", Org, project, meter, quantity, "llama-3.1-8b", start, batch, key);
        });

    private static readonly Gen<List<LedgerEntry>> Chains = Events.Array[1, 60].Select(events =>
    {
        var chain = new List<LedgerEntry>(events.Length);
        for (var i = 0; i < events.Length; i++)
        {
            chain.Add(UsageLedger.Seal(chain.Count == 0 ? null : chain[^1], events[i] with { Id = $"evt_{i + 1}" }, T0.AddSeconds(i)));
        }
        return chain;
    });

    private static readonly Gen<(List<LedgerEntry> Chain, Tampering Tampering)> Tampered = Chains.SelectMany(chain =>
    {
        var n = chain.Count;
        var index = Gen.Int[0, n - 1];
        var edit = Gen.Select(index, Gen.Int[0, FieldCount - 1], Text, Gen.Long[1, 1_000_000_000])
            .Select((i, field, text, delta) => (Tampering)new Edit(i, field, text, delta));
        var delete = index.SelectMany(i => Gen.Int[1, Math.Min(3, n - i)].Select(count => (Tampering)new Delete(i, count)));
        var insert = Gen.Select(index, Gen.Long[1, 1_000_000]).Select((i, quantity) => (Tampering)new Insert(i, quantity));
        var swap = Gen.Select(index, index).Where((a, b) => a < b).Select((a, b) => (Tampering)new Swap(a, b));
        var tampering = n == 1 ? Gen.OneOf(edit, delete, insert) : Gen.OneOf(edit, delete, insert, swap);
        return tampering.Select(t => (chain, t));
    });

    [Fact]
    public void An_untouched_ledger_verifies_clean_after_a_database_round_trip()
    {
        Chains.Sample(chain =>
        {
            var reloaded = chain.Select(e => e with
            {
                RecordedAt = e.RecordedAt.ToOffset(TimeSpan.FromHours(e.Seq % 24 - 12)),
                Event = e.Event with { Start = e.Event.Start.ToOffset(TimeSpan.FromHours(3)) },
            });
            Assert.Empty(UsageLedger.Verify(Org, reloaded, LedgerAnchor.Of(chain[^1])));
        }, iter: 100, print: c => $"ledger of {c.Count}");
    }

    [Fact]
    public void Every_tampering_is_detected()
    {
        Tampered.Sample(sample =>
        {
            var (chain, tampering) = sample;
            var findings = UsageLedger.Verify(Org, tampering.Apply([.. chain]), LedgerAnchor.Of(chain[^1]));

            Assert.NotEmpty(findings);
            var kinds = findings.Select(f => f.Kind).ToHashSet();
            switch (tampering)
            {
                case Edit:
                    Assert.Contains(ChainFindingKind.Edited, kinds);
                    break;
                case Delete:
                    Assert.True(kinds.Contains(ChainFindingKind.Deleted) || kinds.Contains(ChainFindingKind.Truncated));
                    break;
                case Swap:
                    Assert.Equal([ChainFindingKind.Reordered], kinds);
                    break;
                case Insert:
                    Assert.Contains(ChainFindingKind.Inserted, kinds);
                    break;
            }
        }, iter: 10_000, print: t => $"ledger of {t.Chain.Count}, {t.Tampering}");
    }

    private abstract record Tampering
    {
        public abstract List<LedgerEntry> Apply(List<LedgerEntry> chain);
    }

    /// <summary>Changes one field (by number) to a value that differs, without re-hashing.</summary>
    private sealed record Edit(int Index, int Field, string Text, long Delta) : Tampering
    {
        public override List<LedgerEntry> Apply(List<LedgerEntry> chain)
        {
            var entry = chain[Index];
            var e = entry.Event;
            var d = e.Dimensions;
            chain[Index] = Field switch
            {
                0 => entry with { Seq = entry.Seq + Delta },
                1 => entry with { Event = e with { Id = Other(e.Id) } },
                2 => entry with { Event = e with { ProjectId = Other(e.ProjectId) } },
                3 => entry with { Event = e with { Meter = (Meter)(((int)e.Meter + 1) % 3) } },
                4 => entry with { Event = e with { Quantity = e.Quantity + Delta } },
                5 => entry with { Event = e with { Dimensions = d with { Tier = d.Tier is null ? Tier.Spot : null } } },
                6 => entry with { Event = e with { Dimensions = d with { GpuModel = d.GpuModel is null ? Text : null } } },
                7 => entry with { Event = e with { Dimensions = d with { Model = d.Model == Text ? null : Text } } },
                8 => entry with { Event = e with { Dimensions = d with { ApiKeyId = d.ApiKeyId == Text ? null : Text } } },
                9 => entry with { Event = e with { Dimensions = d with { Batch = !d.Batch } } },
                10 => entry with { Event = e with { Start = e.Start.AddTicks(Delta * 10) } },
                11 => entry with { Event = e with { End = e.End.AddTicks(-Delta * 10) } },
                12 => entry with { Event = e with { NotChargedFrom = e.NotChargedFrom is null ? e.Start : null } },
                13 => entry with { RecordedAt = entry.RecordedAt.AddTicks(Delta * 10) },
                _ => entry with { PrevHash = Other(entry.PrevHash) },
            };
            return chain;
        }

        private string Other(string value) => value == Text ? value + "x" : Text;
    }

    private sealed record Delete(int Index, int Count) : Tampering
    {
        public override List<LedgerEntry> Apply(List<LedgerEntry> chain)
        {
            chain.RemoveRange(Index, Count);
            return chain;
        }
    }

    /// <summary>A forged event with a valid hash, chained into the place of an existing entry.</summary>
    private sealed record Insert(int Index, long Quantity) : Tampering
    {
        public override List<LedgerEntry> Apply(List<LedgerEntry> chain)
        {
            var predecessor = Index == 0 ? null : chain[Index - 1];
            var forged = chain[Index] with
            {
                Seq = (predecessor?.Seq ?? 0) + 1,
                PrevHash = predecessor?.Hash ?? UsageLedger.Genesis(Org),
                Event = chain[Index].Event with { Id = "evt_forged", Quantity = Quantity },
            };
            chain.Insert(Index, Forge(forged));
            return chain;
        }
    }

    private sealed record Swap(int A, int B) : Tampering
    {
        public override List<LedgerEntry> Apply(List<LedgerEntry> chain)
        {
            (chain[A], chain[B]) = (chain[B], chain[A]);
            return chain;
        }
    }
}
