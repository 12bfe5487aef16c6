using CsCheck;
using Headroom.Core.Simulation.Openb;
using Headroom.Core.Simulation.Trace;

namespace Headroom.Core.Tests.Simulation;

/// <summary>
/// The trace parsers read files a user points the simulator at. Their contract: rows, or one
/// <see cref="FormatException"/> naming what is wrong; any other exception is a bug.
/// </summary>
public sealed class TraceParserFuzzTests
{
    private const string CsvChars = "abcdP100T4G-_:,. \t\r\n0123456789|\"e+-";

    private const string Nodes = "sn,cpu_milli,memory_mib,gpu,model\nopenb-node-0000,64000,262144,2,P100\nopenb-node-0001,96000,786432,8,G3\n";
    private const string Pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
        + "openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\nopenb-pod-0001,6000,12288,1,460,V100M16|V100M32,LS,Running,427061,12902960,427061\n";
    private const string Philly = "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,11cb48\n2017-10-09 06:13:03,2951.0,8,23608.0,6214e9\n";

    [Fact]
    public void Arbitrary_text_gives_rows_or_a_format_exception()
    {
        Gen.OneOf(Gen.String, Gen.String[Gen.Char[CsvChars], 0, 300]).Sample(text =>
        {
            Outcome(() => OpenbTrace.ParseNodes(text));
            Outcome(() => OpenbTrace.ParsePods(text));
            Outcome(() => PhillyTrace.Parse(text));
        }, iter: 3_000);
    }

    [Fact]
    public void Garbled_real_rows_give_rows_or_a_format_exception()
    {
        Garbled(Nodes).Sample(text => Outcome(() => OpenbTrace.ParseNodes(text)), iter: 2_000);
        Garbled(Pods).Sample(text => Outcome(() => OpenbTrace.ParsePods(text)), iter: 2_000);
        Garbled(Philly).Sample(text => Outcome(() => PhillyTrace.Parse(text)), iter: 2_000);
    }

    [Fact]
    public void The_untouched_samples_parse()
    {
        Assert.Equal(2, OpenbTrace.ParseNodes(Nodes).Count);
        Assert.Equal(2, OpenbTrace.ParsePods(Pods).Count);
        Assert.Equal(2, PhillyTrace.Parse(Philly).Count);
    }

    private static void Outcome<T>(Func<IReadOnlyList<T>> parse)
    {
        try
        {
            Assert.NotNull(parse());
        }
        catch (FormatException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    /// <summary>The text with a few characters replaced, inserted or deleted at random places.</summary>
    private static Gen<string> Garbled(string text) =>
        Gen.Select(Gen.Int[0, text.Length - 1].Array[1, 6], Gen.Char[CsvChars].Array[6], Gen.Int[0, 2].Array[6], (at, with, how) =>
        {
            var chars = text.ToList();
            for (var i = 0; i < at.Length; i++)
            {
                var p = Math.Min(at[i], chars.Count - 1);
                if (p < 0)
                    break;
                switch (how[i])
                {
                    case 0: chars[p] = with[i]; break;
                    case 1: chars.Insert(p, with[i]); break;
                    default: chars.RemoveAt(p); break;
                }
            }
            return new string([.. chars]);
        });
}
