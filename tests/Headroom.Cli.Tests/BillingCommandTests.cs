using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Store.Billing;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Server.Billing;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.Data.Sqlite;

namespace Headroom.Cli.Tests;

/// <summary>The real executable's <c>billing verify</c> over a ledger sealed by the core and stored as the server stores it.</summary>
public sealed class BillingCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Billing_verify_passes_an_intact_ledger_and_names_an_edited_event()
    {
        var data = Path.Combine(_dir.Path, "data");
        var (migrated, _) = await HeadroomProcess.RunAsync("migrate", "--data", data);
        Assert.Equal(0, migrated);
        var database = new Database(StoreConnection.SqliteFile(Path.Combine(data, "headroom.db")));
        var t0 = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        await using (var db = database.Open())
        {
            LedgerEntry? previous = null;
            for (var i = 0; i < 3; i++)
            {
                previous = UsageLedger.Seal(previous, UsageEvent.GpuTime($"job_{i}:1", "org_acme", "prj_a", 1000, Tier.OnDemand, "h100-80gb", "local", t0, t0.AddHours(1)), t0.AddHours(2));
                db.UsageEntries.Add(UsageRows.ToRow(previous));
            }
            await db.SaveChangesAsync();
        }

        var (clean, cleanOutput) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data, "--org", "org_acme");
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(data, "headroom.db")}"))
        {
            await connection.OpenAsync();
            await using var edit = connection.CreateCommand();
            edit.CommandText = "UPDATE usage_entries SET quantity = 1 WHERE seq = 2";
            Assert.Equal(1, await edit.ExecuteNonQueryAsync());
        }
        var (tampered, tamperedOutput) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data, "--org", "org_acme", "--json");
        var (missing, _) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data);

        Assert.Equal(0, clean);
        Assert.Contains("intact: 3 entries", cleanOutput, StringComparison.Ordinal);
        Assert.Equal(1, tampered);
        var report = JsonNode.Parse(tamperedOutput.Trim().Split('\n')[^1])!;
        var finding = Assert.Single(report["findings"]!.AsArray());
        Assert.Equal(("Edited", 2L, "job_1:1"), (finding!["kind"]!.GetValue<string>(), finding["seq"]!.GetValue<long>(), finding["event_id"]!.GetValue<string>()));
        Assert.NotEqual(0, missing);
    }

    [Fact]
    public async Task Billing_verify_recomputes_issued_invoices_and_names_an_edited_line()
    {
        var data = Path.Combine(_dir.Path, "data");
        var (migrated, _) = await HeadroomProcess.RunAsync("migrate", "--data", data);
        Assert.Equal(0, migrated);
        var file = Path.Combine(data, "headroom.db");
        var database = new Database(StoreConnection.SqliteFile(file));
        var october = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
        await using (var db = database.Open())
        {
            var draft = new PriceDraftBody(october, "USD", [new GpuRateBody("h100-80gb", "on-demand", "local", "2.50")], [], null, null);
            db.PriceSheetVersions.Add(new PriceSheetVersionRow
            {
                Number = 1, EffectiveFrom = october, Currency = "USD", Draft = JsonSerializer.Serialize(draft, Json.Options), PublishedAt = october.AddDays(-1),
            });
            LedgerEntry? previous = null;
            for (var i = 0; i < 3; i++)
            {
                var start = october.AddDays(i + 1);
                previous = UsageLedger.Seal(previous, UsageEvent.GpuTime($"job_{i}:1", "org_acme", $"prj_{i % 2}", 1000, Tier.OnDemand, "h100-80gb", "local", start, start.AddHours(2)), start.AddHours(3));
                db.UsageEntries.Add(UsageRows.ToRow(previous));
            }
            await db.SaveChangesAsync();
        }
        var (outcome, _) = await new Invoicer(database, new Ids(TimeProvider.System), TimeProvider.System, new DraftInvoiceCache()).IssueAsync("org_acme", BillingPeriod.Month(2026, 10), default);

        var (clean, cleanOutput) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data, "--org", "org_acme");
        await using (var connection = new SqliteConnection($"Data Source={file}"))
        {
            await connection.OpenAsync();
            await using var edit = connection.CreateCommand();
            // prj_1's line: one event of 2 GPU-hours at 2.50.
            edit.CommandText = "UPDATE invoices SET document = replace(document, '\"amount\":\"5.0000000000\"', '\"amount\":\"4.0000000000\"')";
            Assert.Equal(1, await edit.ExecuteNonQueryAsync());
        }
        var (tampered, tamperedOutput) = await HeadroomProcess.RunAsync("billing", "verify", "--data", data, "--org", "org_acme", "--json");

        Assert.Equal(IssueOutcome.Issued, outcome);
        Assert.Equal(0, clean);
        Assert.Contains("Invoices of org_acme match their events: 1 checked.", cleanOutput, StringComparison.Ordinal);
        Assert.Equal(1, tampered);
        var report = JsonNode.Parse(tamperedOutput.Trim().Split('\n')[^1])!;
        Assert.Empty(report["findings"]!.AsArray());
        var kinds = report["invoice_differences"]!.AsArray().Select(d => d!["kind"]!.GetValue<string>()).ToList();
        Assert.Equal(["AmountDiffers", "SubtotalDiffers"], kinds);
        Assert.Contains("prj_1", report["invoice_differences"]![0]!["line"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
