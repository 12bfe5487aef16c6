using System.Text;
using Headroom.Cli.Batches;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>The worker's checkpoint: what a requeued attempt takes as answered.</summary>
public sealed class BatchWorkerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_last_line_cut_by_a_kill_is_dropped_and_cut_from_the_file_so_that_line_is_sent_again()
    {
        var path = Path.Combine(_dir.Path, BatchWorker.ResultsFileName);
        const string answered = """{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"emb-x","body":{}},"error":null}""" + "\n";
        const string refused = """{"id":"r2","custom_id":"b","response":{"status_code":400,"request_id":null,"body":{}},"error":null}""" + "\n";
        File.WriteAllText(path, answered + refused + """{"id":"r3","custom_id":"c","respo""");

        var done = BatchWorker.ReadResults(path);

        Assert.Equal([("a", true), ("b", false)], done.OrderBy(d => d.Key).Select(d => (d.Key, d.Value.Ok)));
        Assert.Equal(answered + refused, File.ReadAllText(path, Encoding.UTF8));
    }

    [Fact]
    public void No_checkpoint_means_nothing_answered()
    {
        Assert.Empty(BatchWorker.ReadResults(Path.Combine(_dir.Path, "missing.jsonl")));
    }
}
