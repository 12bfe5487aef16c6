using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>
/// <c>headroom reservations</c> and <c>headroom capacity</c>: pricing, buying and cancelling capacity blocks through
/// <c>/v1/quotes</c> and <c>/v1/reservations</c>, and what the fleet can still sell (<c>/v1/capacity</c>). See docs/billing.md.
/// </summary>
internal static class ReservationCommands
{
    public static Command Create()
    {
        var reservations = new Command("reservations", "Quote, buy, list and cancel capacity blocks (reservations).");
        reservations.Subcommands.Add(Quote());
        reservations.Subcommands.Add(Buy());
        reservations.Subcommands.Add(List());
        reservations.Subcommands.Add(Get());
        reservations.Subcommands.Add(Cancel());
        return reservations;
    }

    private static Command Quote()
    {
        var gpuModel = new Option<string>("--gpu-model") { Description = "The GPU model, e.g. h100-80gb", HelpName = "MODEL", Required = true };
        var gpus = new Option<int>("--gpus") { Description = "How many GPUs", HelpName = "N", Required = true };
        var region = new Option<string>("--region") { Description = "The region", HelpName = "REGION", Required = true };
        var start = new Option<string>("--start")
        {
            Description = "When the block starts, RFC 3339 in UTC, on the hour (2026-12-01 or 2026-12-01T09:00:00Z); 24 hours or more start at midnight",
            HelpName = "TIME",
            Required = true,
        };
        start.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Time(r.Tokens[^1].Value) is null)
                r.AddError($"--start '{r.Tokens[^1].Value}' is not an RFC 3339 time.");
        });
        var hours = new Option<long>("--hours") { Description = "How many hours (24 or more: whole days)", HelpName = "N", Required = true };
        var tier = new Option<string?>("--tier") { Description = "reserved (default), or on-demand or spot to compare their price for the same GPU-hours" };
        tier.AcceptOnlyFromAmong("reserved", "on-demand", "spot");
        var command = new Command("quote", """
            Price a capacity block and say whether it is available now. A reserved quote can be bought for 15 minutes
            with 'headroom reservations buy QUOTE_ID'.

            Examples:
              headroom reservations quote --gpu-model h100-80gb --gpus 8 --region us-east --start 2026-12-01 --hours 72
              headroom reservations quote --gpu-model h100-80gb --gpus 2 --region local --start 2026-12-01T09:00:00Z --hours 4 --json | jq -r .id
            """);
        foreach (var option in new Option[] { gpuModel, gpus, region, start, hours, tier })
            command.Options.Add(option);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject
            {
                ["gpu_model"] = parse.GetValue(gpuModel),
                ["gpu_count"] = parse.GetValue(gpus),
                ["region"] = parse.GetValue(region),
                ["start"] = Time(parse.GetValue(start)!)!.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                ["duration_hours"] = parse.GetValue(hours),
            };
            if (parse.GetValue(tier) is { } t)
                body["tier"] = t;
            var quote = await api.PostAsync("v1/quotes", body, cancellationToken);
            if (!quote.Ok)
                return Output.Fail(quote);
            if (output.Json)
            {
                output.Raw(quote);
                return ExitCodes.Ok;
            }
            var q = quote.Json;
            var available = q["available"]?.GetValue<bool>() == true;
            output.Fields(
            [
                ("quote", Output.Text(q["id"])),
                ("block", $"{Output.Text(q["gpu_count"])}x {Output.Text(q["gpu_model"])} in {Output.Text(q["region"])}, {Output.Text(q["tier"])}"),
                ("from", Output.Time(q["start"])),
                ("to", $"{Output.Time(q["end"])} ({Output.Text(q["duration_hours"])} h)"),
                ("price", $"{Output.Text(q["price"])} {Output.Text(q["currency"])}"),
                ("available", available ? "yes" : $"no: {Output.Text(q["unavailable_reason"])}"),
                ("purchasable", q["purchasable"]?.GetValue<bool>() == true ? "yes" : "no"),
                ("expires", Output.Time(q["expires_at"])),
            ]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Buy()
    {
        var quoteId = new Argument<string>("quote-id") { Description = "The quote's id (qte_...)" };
        var project = new Option<string?>("--project") { Description = "The project billed: its id or name. Default: the key's", HelpName = "PROJECT" };
        var idempotency = new Option<string?>("--idempotency-key") { Description = "The Idempotency-Key header. Default: a new one per run, so this run's retries are safe", HelpName = "KEY" };
        var command = new Command("buy", """
            Buy a quote: the block is charged up front and its GPUs are held for you.

            Examples:
              headroom reservations buy qte_01j... --project research
              headroom reservations buy qte_01j... --idempotency-key order-4711
            """);
        command.Arguments.Add(quoteId);
        command.Options.Add(project);
        command.Options.Add(idempotency);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["quote_id"] = parse.GetValue(quoteId) };
            if (parse.GetValue(project) is { } projectRef)
            {
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                body["project_id"] = projectId;
            }
            var bought = await api.PostAsync("v1/reservations", body, cancellationToken, parse.GetValue(idempotency) ?? "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(bought, r => $"Bought {Output.Text(r["id"])}: {Block(r)}, for {Output.Text(r["price"])} {Output.Text(r["currency"])}.");
        });
        return command;
    }

    private static string Block(JsonNode r) =>
        $"{Output.Text(r["gpu_count"])}x {Output.Text(r["gpu_model"])} in {Output.Text(r["region"])} from {Output.Time(r["start"])} to {Output.Time(r["end"])}";

    private static Command List()
    {
        var (limit, after) = ClientOptions.Paging("reservation");
        var command = new Command("list", """
            List the org's reservations with their status: scheduled, active, ended or cancelled.

            Examples:
              headroom reservations list
              headroom reservations list --json | jq -r '.data[] | select(.status == "active") | .id'
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/reservations" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["ID", "PROJECT", "GPUS", "REGION", "START", "END", "PRICE", "STATE"], r =>
            [
                Output.Text(r["id"]), Output.Text(r["project_id"]), $"{Output.Text(r["gpu_count"])}x {Output.Text(r["gpu_model"])}", Output.Text(r["region"]),
                Output.Time(r["start"]), Output.Time(r["end"]), $"{Output.Text(r["price"])} {Output.Text(r["currency"])}", Output.Text(r["status"]),
            ]);
        });
        return command;
    }

    private static Command Get()
    {
        var id = new Argument<string>("id") { Description = "The reservation's id (rsv_...)" };
        var command = new Command("get", """
            Show one reservation.

            Examples:
              headroom reservations get rsv_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var result = await api.GetAsync($"v1/reservations/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            if (!result.Ok)
                return Output.Fail(result);
            if (output.Json)
            {
                output.Raw(result);
                return ExitCodes.Ok;
            }
            var r = result.Json;
            output.Fields(
            [
                ("id", Output.Text(r["id"])),
                ("state", Output.Text(r["status"])),
                ("project", Output.Text(r["project_id"])),
                ("quote", Output.Text(r["quote_id"])),
                ("gpus", $"{Output.Text(r["gpu_count"])}x {Output.Text(r["gpu_model"])}"),
                ("region", Output.Text(r["region"])),
                ("start", Output.Time(r["start"])),
                ("end", Output.Time(r["end"])),
                ("price", $"{Output.Text(r["price"])} {Output.Text(r["currency"])}"),
                ("created", Output.Time(r["created_at"])),
                ("cancelled", Output.Time(r["cancelled_at"])),
                ("refund", r["refund"] is null ? null : $"{Output.Text(r["refund"])} {Output.Text(r["currency"])}"),
            ]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "The reservation's id (rsv_...)" };
        var command = new Command("cancel", """
            Cancel a reservation before its start: the whole price is refunded 24 hours or more ahead, nothing later.

            Examples:
              headroom reservations cancel rsv_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var result = await api.PostAsync($"v1/reservations/{Uri.EscapeDataString(parse.GetValue(id)!)}/cancel", null, cancellationToken);
            return output.One(result, r => $"Cancelled {Output.Text(r["id"])}; refund {(Output.Text(r["refund"]) is { Length: > 0 } refund ? refund : "0")} {Output.Text(r["currency"])}.");
        });
        return command;
    }

    public static Command Capacity()
    {
        var region = new Option<string?>("--region") { Description = "Only this region" };
        var gpuModel = new Option<string?>("--gpu-model") { Description = "Only this GPU model" };
        var days = new Option<bool>("--days") { Description = "Also show each of the next 14 days' sellable reserved GPUs" };
        var command = new Command("capacity", """
            Show free and sellable GPUs per pool (region x GPU model) and tier, now.

            Examples:
              headroom capacity
              headroom capacity --region us-east --gpu-model h100-80gb --days
              headroom capacity --json | jq '.data[] | {region, gpu_model, reserved: .now.sellable.reserved}'
            """);
        command.Options.Add(region);
        command.Options.Add(gpuModel);
        command.Options.Add(days);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var result = await api.GetAsync("v1/capacity" + ClientOptions.Query(("region", parse.GetValue(region)), ("gpu_model", parse.GetValue(gpuModel))), cancellationToken);
            if (!result.Ok)
                return Output.Fail(result);
            if (output.Json)
            {
                output.Raw(result);
                return ExitCodes.Ok;
            }
            var pools = result.Json["data"]!.AsArray().Select(p => p!).ToList();
            output.Table(["REGION", "GPU MODEL", "TOTAL", "GUARANTEED", "FREE", "RESERVED", "SELL RESERVED", "SELL ON-DEMAND", "SELL SPOT"], pools.Select(p =>
            (IReadOnlyList<string>)[
                Output.Text(p["region"]), Output.Text(p["gpu_model"]), Output.Text(p["total_gpus"]), Output.Text(p["internal_guarantee_gpus"]),
                Output.Text(p["now"]!["free_gpus"]), Output.Text(p["now"]!["reserved_gpus"]),
                Output.Text(p["now"]!["sellable"]!["reserved"]), Output.Text(p["now"]!["sellable"]!["on_demand"]), Output.Text(p["now"]!["sellable"]!["spot"]),
            ]));
            if (parse.GetValue(days))
            {
                foreach (var p in pools)
                {
                    Console.WriteLine();
                    Console.WriteLine($"{Output.Text(p["region"])} {Output.Text(p["gpu_model"])}, by day (UTC):");
                    output.Table(["DATE", "RESERVED", "SELL RESERVED", "SELL ON-DEMAND", "SELL SPOT"], p["days"]!.AsArray().Select(d =>
                    (IReadOnlyList<string>)[
                        Output.Text(d!["date"]), Output.Text(d["reserved_gpus"]), Output.Text(d["sellable"]!["reserved"]),
                        Output.Text(d["sellable"]!["on_demand"]), Output.Text(d["sellable"]!["spot"]),
                    ]));
                }
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>An RFC 3339 time or a date (midnight UTC); null if the text is neither.</summary>
    private static DateTimeOffset? Time(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;
}
