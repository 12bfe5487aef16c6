using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom invoices</c> and <c>headroom budgets</c>: the org's bills and spending limits (docs/billing.md).</summary>
internal static class InvoiceCommands
{
    public static Command Invoices()
    {
        var invoices = new Command("invoices", "List and read the org's invoices, and this month's so far.");
        invoices.Subcommands.Add(List());
        invoices.Subcommands.Add(Get());
        invoices.Subcommands.Add(Upcoming());
        return invoices;
    }

    private static Command List()
    {
        var (limit, after) = ClientOptions.Paging("invoice");
        var command = new Command("list", """
            List the org's issued invoices: period, currency and total.

            Examples:
              headroom invoices list
              headroom invoices list --json | jq -r '.data[].id'
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/invoices" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["ID", "PERIOD START", "PERIOD END", "TOTAL", "ISSUED"], i =>
            [
                Output.Text(i["id"]), Output.Time(i["period_start"]), Output.Time(i["period_end"]),
                $"{Output.Text(i["total"])} {Output.Text(i["currency"])}", Output.Time(i["issued_at"]),
            ]);
        });
        return command;
    }

    private static Command Get()
    {
        var id = new Argument<string>("id") { Description = "The invoice's id (inv_...)" };
        var csv = new Option<bool>("--csv") { Description = "Print the invoice's lines as CSV" };
        var html = new Option<string?>("--html") { Description = "Write the printable HTML page to FILE", HelpName = "FILE" };
        var command = new Command("get", """
            Show an issued invoice: its lines, credits and total; or its CSV, or its printable HTML page.

            Examples:
              headroom invoices get inv_01j...
              headroom invoices get inv_01j... --csv > 2026-10.csv
              headroom invoices get inv_01j... --html invoice.html
            """);
        command.Arguments.Add(id);
        command.Options.Add(csv);
        command.Options.Add(html);
        command.Validators.Add(r =>
        {
            if (r.GetValue(csv) && r.GetValue(html) is not null)
                r.AddError("--csv and --html cannot be used together.");
        });
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var path = $"v1/invoices/{Uri.EscapeDataString(parse.GetValue(id)!)}";
            if (parse.GetValue(csv))
            {
                var text = await api.GetAsync(path + "?format=csv", cancellationToken);
                if (!text.Ok)
                    return Output.Fail(text);
                Output.Out.Write(text.Body);
                return ExitCodes.Ok;
            }
            if (parse.GetValue(html) is { } file)
            {
                var page = await api.GetAsync(path + "?format=html", cancellationToken);
                if (!page.Ok)
                    return Output.Fail(page);
                try
                {
                    await File.WriteAllTextAsync(file, page.Body, cancellationToken);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"headroom: cannot write {file}: {ex.Message}");
                    return ExitCodes.Failed;
                }
                Console.WriteLine($"Wrote {file}.");
                return ExitCodes.Ok;
            }
            return Show(output, await api.GetAsync(path, cancellationToken));
        });
        return command;
    }

    private static Command Upcoming()
    {
        var command = new Command("upcoming", """
            Show this month's invoice so far (a draft, computed now and not stored).

            Examples:
              headroom invoices upcoming
              headroom invoices upcoming --json | jq -r .total
            """);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) => Show(output, await api.GetAsync("v1/invoices/upcoming", cancellationToken)));
        return command;
    }

    /// <summary>An invoice as its heading fields, a table of lines, its credits and totals.</summary>
    private static int Show(Output output, ApiResult result)
    {
        if (!result.Ok)
            return Output.Fail(result);
        if (output.Json)
        {
            output.Raw(result);
            return ExitCodes.Ok;
        }
        var i = result.Json;
        var currency = Output.Text(i["currency"]);
        output.Fields(
        [
            ("invoice", Output.Text(i["id"]) is { Length: > 0 } invoiceId ? invoiceId : "(upcoming)"),
            ("status", Output.Text(i["status"])),
            ("org", Output.Text(i["org_id"])),
            ("period", $"{Output.Time(i["period_start"])} to {Output.Time(i["period_end"])}"),
        ]);
        Console.WriteLine();
        output.Table(["PROJECT", "METER", "TIER", "GPU MODEL", "REGION", "MODEL", "QUANTITY", "UNIT", "UNIT PRICE", "AMOUNT"],
            (i["lines"] as JsonArray ?? []).Select(l => (IReadOnlyList<string>)
            [
                Output.Text(l!["project_id"]), Output.Text(l["meter"]) + (l["batch"]?.GetValue<bool>() == true ? " (batch)" : ""),
                Dash(l["tier"]), Dash(l["gpu_model"]), Dash(l["region"]), Dash(l["model"]),
                Output.Text(l["quantity"]), Output.Text(l["unit"]), Output.Text(l["unit_price"]), Output.Text(l["amount"]),
            ]));
        if (i["credits"] is JsonArray { Count: > 0 } credits)
        {
            Console.WriteLine();
            output.Table(["CREDIT", "DESCRIPTION", "AMOUNT"], credits.Select(c => (IReadOnlyList<string>)
                [Output.Text(c!["id"]), Output.Text(c["description"]), Output.Text(c["amount"])]));
        }
        Console.WriteLine();
        output.Fields(
        [
            ("subtotal", $"{Output.Text(i["subtotal"])} {currency}"),
            ("credits", $"{Output.Text(i["credits_applied"])} {currency}"),
            ("rounding", $"{Output.Text(i["rounding"])} {currency}"),
            ("total", $"{Output.Text(i["total"])} {currency}"),
        ]);
        if (i["problems"] is JsonArray { Count: > 0 } problems)
            foreach (var p in problems)
                Console.Error.WriteLine($"headroom: problem with {Output.Text(p!["event_id"])}: {Output.Text(p["message"])}");
        return ExitCodes.Ok;
    }

    private static string Dash(JsonNode? node) => Output.Text(node) is { Length: > 0 } text ? text : "-";

    public static Command Budgets()
    {
        var budgets = new Command("budgets", "List, create and delete the org's monthly spending budgets.");
        budgets.Subcommands.Add(BudgetList());
        budgets.Subcommands.Add(BudgetCreate());
        budgets.Subcommands.Add(BudgetDelete());
        return budgets;
    }

    private static Command BudgetList()
    {
        var (limit, after) = ClientOptions.Paging("budget");
        var command = new Command("list", """
            List the org's budgets with this month's spend.

            Examples:
              headroom budgets list
              headroom budgets list --json | jq '.data[] | {name, spent: .current.spent}'
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/budgets" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["ID", "NAME", "PROJECT", "LIMIT", "SPENT", "AVAILABLE", "HARD", "ALERTS"], b =>
            [
                Output.Text(b["id"]), Dash(b["name"]), Dash(b["project_id"]), Output.Text(b["limit"]),
                Output.Text(b["current"]?["spent"]), Output.Text(b["current"]?["available"]),
                b["hard_limit"]?.GetValue<bool>() == true ? "yes" : "no", string.Join(",", (b["alert_percents"] as JsonArray ?? []).Select(a => Output.Text(a) + "%")),
            ]);
        });
        return command;
    }

    private static Command BudgetCreate()
    {
        var limit = new Option<string>("--limit") { Description = "The monthly limit in the price sheet's currency, e.g. 500 or 1250.50", HelpName = "AMOUNT", Required = true };
        limit.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && !decimal.TryParse(r.Tokens[^1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out _))
                r.AddError($"--limit '{r.Tokens[^1].Value}' is not an amount such as 500 or 1250.50.");
        });
        var name = new Option<string?>("--name") { Description = "A name for the budget" };
        var project = new Option<string?>("--project") { Description = "Cap one project (its id or name) instead of the whole org", HelpName = "PROJECT" };
        var hard = new Option<bool>("--hard-limit") { Description = "Refuse new jobs and model calls while the month's limit is spent" };
        var alerts = new Option<string?>("--alert") { Description = "Percentages of the limit that raise an alert, comma-separated. Default: 50,80,100", HelpName = "PERCENTS" };
        alerts.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Percents(r.Tokens[^1].Value) is null)
                r.AddError($"--alert '{r.Tokens[^1].Value}' is not a comma-separated list of whole percentages such as 50,80,100.");
        });
        var command = new Command("create", """
            Create a monthly budget for the org or one project.

            Examples:
              headroom budgets create --limit 500 --name research --project research --alert 50,80,100
              headroom budgets create --limit 10000 --hard-limit
            """);
        foreach (var option in new Option[] { limit, name, project, hard, alerts })
            command.Options.Add(option);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["limit"] = parse.GetValue(limit) };
            if (parse.GetValue(name) is { } n)
                body["name"] = n;
            if (parse.GetValue(hard))
                body["hard_limit"] = true;
            if (parse.GetValue(alerts) is { } a)
                body["alert_percents"] = new JsonArray([.. Percents(a)!.Select(p => (JsonNode?)JsonValue.Create(p))]);
            if (parse.GetValue(project) is { } projectRef)
            {
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                body["project_id"] = projectId;
            }
            var created = await api.PostAsync("v1/budgets", body, cancellationToken, "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(created, b => $"Created {Output.Text(b["id"])}{(Output.Text(b["name"]) is { Length: > 0 } n ? $" ({n})" : "")}: {Output.Text(b["limit"])} per {Output.Text(b["period"])}" +
                (b["project_id"] is null ? " for the org" : $" for project {Output.Text(b["project_id"])}") +
                (b["hard_limit"]?.GetValue<bool>() == true ? ", a hard limit" : "") +
                $", alerts at {string.Join(", ", (b["alert_percents"] as JsonArray ?? []).Select(p => Output.Text(p) + "%"))}.");
        });
        return command;
    }

    private static int[]? Percents(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part.TrimEnd('%'), NumberStyles.None, CultureInfo.InvariantCulture, out var p))
                return null;
            values.Add(p);
        }
        return values.Count == 0 ? null : [.. values];
    }

    private static Command BudgetDelete()
    {
        var id = new Argument<string>("id") { Description = "The budget's id (bud_...)" };
        var command = new Command("delete", """
            Delete a budget; the alerts it raised stay.

            Examples:
              headroom budgets delete bud_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var result = await api.DeleteAsync($"v1/budgets/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            return output.One(result, b => $"Deleted {Output.Text(b["id"])}.");
        });
        return command;
    }
}
