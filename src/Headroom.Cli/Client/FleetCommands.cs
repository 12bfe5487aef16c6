using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom fleet</c>: the operator's view of nodes (<c>/v1/fleet/nodes</c>) and taking them in and out of service.</summary>
internal static class FleetCommands
{
    public static Command Create()
    {
        var fleet = new Command("fleet", "See the fleet's nodes and cordon, drain or uncordon them (the operator).");
        fleet.Subcommands.Add(Nodes());
        fleet.Subcommands.Add(Action("cordon", "Stop placing new work on a node; what runs there keeps running.", "headroom fleet cordon gpu-07 --reason \"ECC errors\""));
        fleet.Subcommands.Add(Action("drain", "Stop placing work on a node and move its work off.", "headroom fleet drain gpu-07 --reason \"firmware update\""));
        fleet.Subcommands.Add(Action("uncordon", "Let a cordoned or draining node take work again.", "headroom fleet uncordon gpu-07"));
        return fleet;
    }

    private static Command Nodes()
    {
        var region = new Option<string?>("--region") { Description = "Only nodes of this region" };
        var cluster = new Option<string?>("--cluster") { Description = "Only nodes of this cluster" };
        var gpuModel = new Option<string?>("--gpu-model") { Description = "Only nodes with this GPU model" };
        var state = new Option<string?>("--state") { Description = "Only nodes in this state" };
        state.AcceptOnlyFromAmong("ready", "cordoned", "draining", "down");
        var (limit, after) = ClientOptions.Paging("node");
        var command = new Command("nodes", """
            List the fleet's nodes: GPUs, CPU, memory, runtime and state.

            Examples:
              headroom fleet nodes
              headroom fleet nodes --region us-east --state cordoned
              headroom fleet nodes --json | jq -r '.data[] | select(.state != "ready") | .name'
            """);
        foreach (var option in new Option[] { region, cluster, gpuModel, state, limit, after })
            command.Options.Add(option);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/fleet/nodes" + ClientOptions.Query(
                ("region", parse.GetValue(region)), ("cluster", parse.GetValue(cluster)), ("gpu_model", parse.GetValue(gpuModel)), ("state", parse.GetValue(state)),
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["NAME", "REGION", "CLUSTER", "RUNTIME", "GPUS", "CPU", "MEMORY", "STATE", "REASON"], n =>
            [
                Output.Text(n["name"]), Output.Text(n["region"]), Output.Text(n["cluster"]), Output.Text(n["runtime"]),
                n["gpu_count"]?.GetValue<int>() is > 0 and var g ? $"{g}x {Output.Text(n["gpu_model"])}" : "-",
                Cores(n["cpu_milli"]!.GetValue<long>()), $"{n["memory_mib"]!.GetValue<long>() / 1024} GiB",
                Output.Text(n["state"]), Output.Text(n["state_reason"]),
            ]);
        });
        return command;
    }

    private static string Cores(long milli) => (milli / 1000m).ToString("0.###", CultureInfo.InvariantCulture);

    private static Command Action(string verb, string what, string example)
    {
        var node = new Argument<string>("node") { Description = "The node's name" };
        var reason = new Option<string?>("--reason") { Description = "Why, kept with the node's state" };
        var command = new Command(verb, $"""
            {what}

            Examples:
              {example}
            """);
        command.Arguments.Add(node);
        if (verb != "uncordon")
            command.Options.Add(reason);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(reason) is { } why)
                body["reason"] = why;
            var result = await api.PostAsync($"v1/fleet/nodes/{Uri.EscapeDataString(parse.GetValue(node)!)}/{verb}", body, cancellationToken);
            return output.One(result, n => $"{Output.Text(n["name"])} is {output.Paint(Output.Text(n["state"]), Output.StateColour(Output.Text(n["state"])))}.");
        });
        return command;
    }
}
