using System.CommandLine;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom usage</c> and <c>headroom prices</c>: what the org used and what it costs (docs/billing.md).</summary>
internal static class UsageCommands
{
    private static readonly string[] s_groupings = ["project", "meter", "day", "tier", "gpu_model", "region", "model", "api_key"];

    public static Command Usage()
    {
        var groupBy = new Option<string[]>("--group-by")
        {
            Description = $"Group by one or more of {string.Join(", ", s_groupings)} (comma-separated or repeated)",
            HelpName = "KEYS",
            AllowMultipleArgumentsPerToken = true,
        };
        groupBy.Validators.Add(r =>
        {
            foreach (var key in r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries)).Where(k => !s_groupings.Contains(k)))
                r.AddError($"--group-by '{key}' is not one of {string.Join(", ", s_groupings)}.");
        });
        var from = new Option<string?>("--from") { Description = "Start, RFC 3339 (2026-11-01 or 2026-11-01T00:00:00Z). Default: the start of this month, UTC", HelpName = "TIME" };
        var to = new Option<string?>("--to") { Description = "End, exclusive. Default: the end of this month", HelpName = "TIME" };
        var command = new Command("usage", """
            Show the org's usage and its cost, grouped as asked. Amounts are in the price sheet's currency.

            Examples:
              headroom usage
              headroom usage --group-by project,meter
              headroom usage --group-by day --from 2026-11-01 --to 2026-11-08 --json
            """);
        command.Options.Add(groupBy);
        command.Options.Add(from);
        command.Options.Add(to);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var keys = (parse.GetValue(groupBy) ?? []).SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
            var report = await api.GetAsync("v1/usage" + ClientOptions.Query(
                ("group_by", string.Join(',', keys)), ("from", parse.GetValue(from)), ("to", parse.GetValue(to))), cancellationToken);
            if (!report.Ok)
                return Output.Fail(report);
            if (output.Json)
            {
                output.Raw(report);
                return ExitCodes.Ok;
            }
            var json = report.Json;
            var currency = Output.Text(json["currency"]);
            Console.WriteLine($"Usage from {Output.Time(json["from"])} to {Output.Time(json["to"])}{(currency.Length > 0 ? $", in {currency}" : "")}:");
            var grouped = json["group_by"]!.AsArray().Select(Output.Text).ToList();
            // Quantities are summed only within one meter (their units differ), so the API sends them when grouped by meter.
            var headers = grouped.Select(g => g.ToUpperInvariant()).Append("QUANTITY").Append("AMOUNT").ToList();
            IReadOnlyList<string> Row(JsonNode r) => [.. grouped.Select(g => Output.Text(r[g == "api_key" ? "api_key_id" : g == "project" ? "project_id" : g])), Output.Text(r["quantity"]), Output.Text(r["amount"])];
            output.Table(headers, json["data"]!.AsArray().Select(r => Row(r!)));
            if (json["unpriced"] is JsonArray { Count: > 0 } unpriced)
            {
                Console.WriteLine();
                Console.WriteLine("Unpriced (no price in force; quantities only):");
                output.Table(headers, unpriced.Select(r => Row(r!)));
            }
            if (json["note"] is { } note)
                Console.Error.WriteLine(Output.Text(note));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Prices()
    {
        var all = new Option<bool>("--all") { Description = "Show every version, not only the one in force" };
        var command = new Command("prices", """
            Show the price sheet in force: GPU-hour rates by GPU model, tier and region, and token rates by model.

            Examples:
              headroom prices
              headroom prices --all
              headroom prices --json | jq '.versions[-1]'
            """);
        command.Options.Add(all);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var sheet = await api.GetAsync("v1/prices", cancellationToken);
            if (!sheet.Ok)
                return Output.Fail(sheet);
            if (output.Json)
            {
                output.Raw(sheet);
                return ExitCodes.Ok;
            }
            var json = sheet.Json;
            var inForce = json["in_force"]?.GetValue<int>();
            var versions = json["versions"]!.AsArray().Where(v => parse.GetValue(all) || v!["version"]!.GetValue<int>() == inForce).ToList();
            if (versions.Count == 0)
            {
                Console.WriteLine(json["versions"]!.AsArray().Count == 0 ? "No price sheet has been published." : "No price sheet version is in force yet; see --all.");
                return ExitCodes.Ok;
            }
            foreach (var v in versions)
            {
                var number = v!["version"]!.GetValue<int>();
                Console.WriteLine($"Version {number}{(number == inForce ? " (in force)" : "")}, effective from {Output.Time(v["effective_from"])}, in {Output.Text(v["currency"])}:");
                output.Table(["GPU MODEL", "TIER", "REGION", "PER GPU-HOUR"], v["gpu_rates"]!.AsArray().Select(r => (IReadOnlyList<string>)
                    [Output.Text(r!["gpu_model"]), Output.Text(r["tier"]), Output.Text(r["region"]) is { Length: > 0 } region ? region : "any", Output.Text(r["per_gpu_hour"])]));
                if (v["token_rates"] is JsonArray { Count: > 0 } tokens)
                {
                    output.Table(["MODEL", "INPUT PER 1M", "OUTPUT PER 1M"], tokens.Select(r => (IReadOnlyList<string>)
                        [Output.Text(r!["model"]), Output.Text(r["input_per_million"]), Output.Text(r["output_per_million"])]));
                }
                Console.WriteLine();
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
