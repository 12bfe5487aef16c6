using System.Net;
using Headroom.Gateway.Routing;
using Headroom.Server.Billing;
using Headroom.Server.Models;
using Headroom.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Models;

/// <summary>
/// The SQLite spool of model calls' records: what a crash can leave in it (a segment moved into the store but not yet
/// deleted, a line cut short by a power loss) is moved and metered once, and a call's budget lease holds its maximum
/// until its record is in the store.
/// </summary>
public sealed class CallSpoolTests
{
    [Fact]
    public async Task A_segment_moved_twice_meters_its_calls_once_and_a_cut_line_is_skipped()
    {
        await using var server = await TestServer.StartAsync();
        using var http = await EchoTenantAsync(server, "spool-co");
        var journal = server.Services.GetRequiredService<CallJournal>();
        var spool = Path.Combine(server.Settings.DataDir, "spool");
        await journal.DrainAsync(CancellationToken.None); // nothing of the set-up left in it

        // Holding the store's write turn keeps the drain from moving the records while the test copies them.
        var ids = new List<string>();
        byte[] copy;
        using (await server.Database.WriteTurnAsync(CancellationToken.None))
        {
            for (var i = 0; i < 3; i++)
                ids.Add((await http.PostJsonAsync("/v1/chat/completions", new { model = "echo", messages = new[] { new { role = "user", content = $"call {i}" } } }, HttpStatusCode.OK))["id"]!.GetValue<string>());
            // Durable before any drain: the spool as a crash between a move's commit and the file's deletion leaves it,
            // with a last line cut short by a power loss.
            copy = [.. Directory.GetFiles(spool).Order().SelectMany(File.ReadAllBytes), .. "{\"Journal\":{\"Request"u8];
        }
        Assert.All(ids, id => Assert.Contains(id, System.Text.Encoding.UTF8.GetString(copy), StringComparison.Ordinal));

        await journal.DrainAsync(CancellationToken.None);
        Assert.Empty(Directory.GetFiles(spool));
        await File.WriteAllBytesAsync(Path.Combine(spool, "calls-0000000000000001.jsonl"), copy);
        await journal.DrainAsync(CancellationToken.None); // moved again, the cut line skipped
        Assert.Empty(Directory.GetFiles(spool));

        // The drain appended the calls' events as it moved them; the token meter finds nothing left to meter.
        Assert.Equal(0, await server.Services.GetRequiredService<TokenMeter>().MeterAsync(CancellationToken.None));
        await using var db = server.Database.Open();
        var rows = await db.TokenJournal.AsNoTracking().Where(r => ids.Contains(r.RequestId)).ToListAsync();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.NotNull(r.MeteredAt));
        var events = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == rows[0].OrgId).Select(u => u.Id).ToListAsync();
        Assert.Equal(ids.SelectMany(id => new[] { id + ":input_tokens", id + ":output_tokens" }).Order(), events.Order());
    }

    [Fact]
    public async Task A_segment_of_several_chunks_is_moved_whole()
    {
        await using var server = await TestServer.StartAsync();
        using var http = await EchoTenantAsync(server, "chunks-co");
        var journal = server.Services.GetRequiredService<CallJournal>();
        var spool = Path.Combine(server.Settings.DataDir, "spool");
        await journal.DrainAsync(CancellationToken.None);

        // One call's record made into 450 (a drain moves 200 per transaction), the last line with no newline after it.
        string line;
        string id;
        using (await server.Database.WriteTurnAsync(CancellationToken.None))
        {
            id = (await http.PostJsonAsync("/v1/chat/completions", new { model = "echo", messages = new[] { new { role = "user", content = "one" } } }, HttpStatusCode.OK))["id"]!.GetValue<string>();
            line = File.ReadAllLines(Directory.GetFiles(spool).Single()).Single();
            File.Delete(Directory.GetFiles(spool).Single());
        }
        var ids = Enumerable.Range(0, 450).Select(i => $"{id}-{i}").ToList();
        await File.WriteAllTextAsync(Path.Combine(spool, "calls-0000000000000001.jsonl"), string.Join('\n', ids.Select(i => line.Replace(id, i, StringComparison.Ordinal))));

        await journal.DrainAsync(CancellationToken.None);
        Assert.Empty(Directory.GetFiles(spool));
        await using var db = server.Database.Open();
        var rows = await db.TokenJournal.AsNoTracking().Where(r => r.RequestId.StartsWith(id + "-")).Select(r => r.RequestId).ToListAsync();
        Assert.Equal(ids.Order(), rows.Order());
        Assert.Equal(900, await db.UsageEntries.CountAsync(u => u.Id.StartsWith(id + "-")));
    }

    [Fact]
    public async Task A_spooled_calls_budget_lease_holds_its_maximum_until_its_record_is_in_the_store()
    {
        await using var server = await TestServer.StartAsync();
        using var admin = server.Admin();
        await admin.PublishTokenRatesAsync("echo", "1000", "1000");
        using var http = await EchoTenantAsync(server, "lease-co");
        await http.PostJsonAsync("/v1/budgets", new { name = "cap", limit = "100", hard_limit = true });
        var journal = server.Services.GetRequiredService<CallJournal>();

        (long Reserved, long Settled) held;
        using (await server.Database.WriteTurnAsync(CancellationToken.None))
        {
            await http.PostJsonAsync("/v1/chat/completions", new { model = "echo", max_tokens = 1000, messages = new[] { new { role = "user", content = "hello" } } }, HttpStatusCode.OK);
            held = await SpendAsync(server);
        }
        // Until its record is in the store, the lease holds the call's most expensive outcome (1,000 output tokens and its
        // input, at 1,000 a million: over 1.0), nothing settled.
        Assert.True(held.Reserved > BudgetUnits.From(1.0m) && held.Settled == 0, $"reserved {held.Reserved}, settled {held.Settled}");

        await journal.DrainAsync(CancellationToken.None);
        var settled = await SpendAsync(server);
        Assert.Equal(0, settled.Reserved);
        Assert.InRange(settled.Settled, 1, held.Reserved - 1); // what the few tokens it used cost
    }

    /// <summary>An in-process <c>echo</c> model, and a client of a new org that has a project its calls are metered to.</summary>
    private static async Task<HttpClient> EchoTenantAsync(TestServer server, string org)
    {
        server.Services.GetRequiredService<ModelRegistry>().Add("echo", new EchoEngine(), "echo-0", region: "local");
        var (_, owner) = await server.CreateTenantAsync(org);
        var http = server.Client(owner);
        await http.PostJsonAsync("/v1/projects", new { name = "spooled" });
        return http;
    }

    private static async Task<(long Reserved, long Settled)> SpendAsync(TestServer server)
    {
        await using var db = server.Database.Open();
        var spend = await db.BudgetSpend.AsNoTracking().SingleAsync();
        return (spend.ReservedUnits, spend.SettledUnits);
    }
}
