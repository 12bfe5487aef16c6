using System.CommandLine;
using System.Text.Json;
using Headroom.Core.Metering;
using Headroom.Server.Billing;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Cli;

internal static class BillingCommands
{
    public static Command Create()
    {
        var billing = new Command("billing", "Check what the bill is built from.");
        billing.Subcommands.Add(Verify());
        return billing;
    }

    /// <summary>
    /// Walks one org's usage ledger in the order it is stored (by seq) with the core's verifier and reports each edited,
    /// deleted, inserted or reordered entry; then recomputes every stored invoice of the org from the raw events it
    /// covers and the price history and reports each difference line by line. Exit code 0: all intact; 1: findings;
    /// 2: bad settings.
    /// </summary>
    private static Command Verify()
    {
        var store = new StoreOptions();
        var org = new Option<string>("--org") { Description = "The org whose usage ledger to verify (its id)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON" };
        var command = new Command("verify", """
            Check an org's usage ledger hash chain and report any usage event that was edited, deleted, inserted or reordered,
            then recompute each of its issued invoices from the raw events and the price history and report every difference.

            Examples:
              headroom billing verify --org org_01j...
              headroom billing verify --org org_01j... --json
            """);
        store.AddTo(command);
        command.Options.Add(org);
        command.Options.Add(json);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (store.Read(parse) is not { } settings)
                return ExitCodes.BadSettings;
            var orgId = parse.GetValue(org)!;
            var database = new Database(settings.Database);
            await using var db = database.Open();

            var verifier = new UsageLedgerVerifier(orgId);
            var findings = new List<LedgerFinding>();
            // By seq, in batches: the verifier holds constant state for an intact chain, so a long history needs no memory.
            long last = long.MinValue;
            while (true)
            {
                var batch = await db.UsageEntries.AsNoTracking().Where(u => u.OrgId == orgId && u.Seq > last)
                    .OrderBy(u => u.Seq).ThenBy(u => u.Id).Take(5000).ToListAsync(cancellationToken);
                foreach (var row in batch)
                    findings.AddRange(verifier.Append(UsageRows.ToEntry(row)));
                if (batch.Count < 5000)
                    break;
                last = batch[^1].Seq;
            }
            findings.AddRange(verifier.Complete());
            var (invoices, differences) = await InvoiceCheck.VerifyAsync(db, orgId, cancellationToken);

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    org_id = orgId,
                    entries = verifier.EntryCount,
                    findings = findings.Select(f => new { kind = f.Kind.ToString(), seq = f.Seq, event_id = f.EventId, message = f.Message }),
                    invoices,
                    invoice_differences = differences.Select(d => new { invoice_id = d.InvoiceId, period = d.Period, kind = d.Kind, line = d.Line, message = d.Message }),
                }));
            }
            else
            {
                foreach (var f in findings)
                    Console.WriteLine($"{f.Kind,-14} seq {f.Seq,8}  {f.EventId}  {f.Message}");
                Console.WriteLine(findings.Count == 0
                    ? $"Usage ledger of {orgId} intact: {verifier.EntryCount} entries."
                    : $"{findings.Count} finding{(findings.Count == 1 ? "" : "s")} in {verifier.EntryCount} entries of {orgId}.");
                foreach (var d in differences)
                    Console.WriteLine($"{d.Kind,-22} {d.InvoiceId} {d.Period}  {d.Message}");
                Console.WriteLine(differences.Count == 0
                    ? $"Invoices of {orgId} match their events: {invoices} checked."
                    : $"{differences.Count} difference{(differences.Count == 1 ? "" : "s")} in {invoices} invoices of {orgId}.");
            }
            return findings.Count == 0 && differences.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }
}
