using CsCheck;
using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

/// <summary>
/// The parsers read text from files and from a command's output, so any text must come back as
/// a value: a result, or problems, never an exception.
/// </summary>
public sealed class ParserFuzzTests
{
    private const string YamlishChars = "abcdefgh_-:,.{}[]\"'#&*!|>?%@` \t\r\n0123456789\u00e9\uFEFF";
    private const string XmlishChars = "<>/=\"' &;!?[]-abcgpu_0123456789 \n";

    [Fact]
    public void Fleet_file_parser_never_throws_on_arbitrary_text()
    {
        Gen.OneOf(Gen.String, Gen.String[Gen.Char[YamlishChars], 0, 400]).Sample(text => AssertOneOutcome(FleetFile.Parse(text)), iter: 5_000);
        Gen.String[Gen.Char[YamlishChars], 0, 400].Sample(text => AssertOneOutcome(FleetFile.Parse("{" + text, "fleet.json")), iter: 2_000);
    }

    [Fact]
    public void Fleet_file_parser_never_throws_on_a_garbled_example()
    {
        var example = TestFiles.RepoFile("deploy/fleet.example.yaml");
        Garbled(example, YamlishChars).Sample(text => AssertOneOutcome(FleetFile.Parse(text)), iter: 1_000);
    }

    [Fact]
    public void Nvidia_smi_parsers_never_throw_on_garbled_output()
    {
        Gen.String.Sample(text =>
        {
            AssertOneOutcome(NvidiaSmi.ParseQueryCsv(text));
            AssertOneOutcome(NvidiaSmi.ParseXml(text));
        }, iter: 2_000);
        foreach (var name in new[] { "query-gpu-idle.csv", "query-gpu-busy-nounits.csv" })
            Garbled(TestFiles.Fixture(name), "0123456789.,[]/ ANMiBW%\n-").Sample(text => AssertOneOutcome(NvidiaSmi.ParseQueryCsv(text)), iter: 2_000);
        Garbled(TestFiles.Fixture("nvidia-smi-q-busy.xml"), XmlishChars).Sample(text => AssertOneOutcome(NvidiaSmi.ParseXml(text)), iter: 500);
    }

    [Fact]
    public void Every_node_a_valid_file_declares_is_in_the_spec_once()
    {
        var entry = Gen.Select(Gen.Int[1, 40], Gen.Int[0, 8], (count, gpus) => (Count: count, Gpus: gpus));
        entry.Array[1, 12].Sample(entries =>
        {
            var nodes = entries.Select((e, i) =>
                $"      - {{ name: n{i}, count: {e.Count}, {(e.Gpus > 0 ? $"gpu_model: l4-24gb, gpu_count: {e.Gpus}," : "")} cpu_millicores: 1000, memory_mib: 1024 }}");
            var yaml = "regions:\n- name: r\n  clusters:\n  - name: c\n    nodes:\n" + string.Join("\n", nodes);

            var result = FleetFile.Parse(yaml);

            Assert.True(result.Succeeded, string.Join("\n", result.Problems));
            var names = result.Value.Nodes.Select(n => n.Name).ToList();
            Assert.Equal(entries.Sum(e => e.Count), names.Count);
            Assert.Equal(names.Count, names.Distinct().Count());
            Assert.Equal(entries.Sum(e => e.Count * e.Gpus), result.Value.Nodes.Sum(n => n.GpuCount));
        }, iter: 300);
    }

    private static void AssertOneOutcome<T>(ParseResult<T> result) where T : class =>
        Assert.True(result.Succeeded ^ result.Problems.Count > 0);

    /// <summary>Text with up to four edits: a span replaced by random characters from <paramref name="alphabet"/>.</summary>
    private static Gen<string> Garbled(string text, string alphabet)
    {
        var edit = Gen.Select(Gen.Int[0, text.Length], Gen.Int[0, 30], Gen.String[Gen.Char[alphabet], 0, 12], (at, remove, insert) => (At: at, Remove: remove, Insert: insert));
        return edit.Array[1, 4].Select(edits => edits.Aggregate(text, (current, e) =>
        {
            var at = Math.Min(e.At, current.Length);
            return current[..at] + e.Insert + current[Math.Min(current.Length, at + e.Remove)..];
        }));
    }
}
