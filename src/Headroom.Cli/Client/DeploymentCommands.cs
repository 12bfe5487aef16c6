using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom deployments</c>: hosted models served by replicas, through <c>/v1/deployments</c>. See docs/models.md#deployments.</summary>
internal static class DeploymentCommands
{
    public static Command Create()
    {
        var deployments = new Command("deployments", "Create, list, show, scale and delete model deployments (models served by replicas).");
        deployments.Subcommands.Add(CreateCommand());
        deployments.Subcommands.Add(List());
        deployments.Subcommands.Add(Get());
        deployments.Subcommands.Add(Scale());
        deployments.Subcommands.Add(Delete());
        return deployments;
    }

    private static Command CreateCommand()
    {
        var model = new Argument<string>("model") { Description = "The name callers use (the model field of /v1/chat/completions)" };
        var project = new Option<string?>("--project") { Description = "The project billed: its id (prj_...) or name. Default: the key's project", HelpName = "PROJECT" };
        var url = new Option<string?>("--url") { Description = "An OpenAI-compatible server already running (its /v1 root): no replicas are started", HelpName = "URL" };
        var source = new Option<string?>("--source") { Description = "What the engine loads ({model} in the command), e.g. a Hugging Face id. Default: the model name", HelpName = "SOURCE" };
        var upstreamModel = new Option<string?>("--upstream-model") { Description = "The name the engine serves the model under ({upstream_model}). Default: the source", HelpName = "NAME" };
        var billing = new Option<string?>("--billing") { Description = "dedicated (default: your own replicas, billed per GPU-second) or serverless (the operator's shared catalog, billed per token)" };
        billing.AcceptOnlyFromAmong("dedicated", "serverless");
        var min = new Option<int?>("--min") { Description = "Fewest replicas. Default: 1", HelpName = "N" };
        var max = new Option<int?>("--max") { Description = "Most replicas the autoscaler may run. Default: --min", HelpName = "N" };
        var gpus = new Option<int?>("--gpus") { Description = "Whole GPUs per replica ({gpus} in the command). Default: 1", HelpName = "N" };
        var gpuMilli = new Option<int?>("--gpu-milli") { Description = "A share of one GPU per replica, in milli-GPUs (1-1000)", HelpName = "N" };
        var gpuModel = new Option<string?>("--gpu-model") { Description = "The GPU model, e.g. h100-80gb. Default: any", HelpName = "MODEL" };
        var region = new Option<string?>("--region") { Description = "The region replicas run in. Default: any", HelpName = "REGION" };
        var tier = new Option<string?>("--tier") { Description = "on-demand (default), spot, or internal (the operator's org)" };
        tier.AcceptOnlyFromAmong("on-demand", "spot", "internal");
        var target = new Option<int?>("--target-concurrency") { Description = "Calls in flight per replica the autoscaler aims for. Default: 8", HelpName = "N" };
        var env = new Option<string[]>("--env", "-e") { Description = "An environment variable for each replica (repeat for several)", HelpName = "NAME=VALUE" };
        env.Validators.Add(r =>
        {
            foreach (var token in r.Tokens.Where(t => t.Value.IndexOf('=', StringComparison.Ordinal) < 1))
                r.AddError($"--env '{token.Value}' must be NAME=VALUE.");
        });
        var idempotency = new Option<string?>("--idempotency-key") { Description = "Sent as Idempotency-Key. Default: a new key each run", HelpName = "KEY" };
        var command = new Argument<string[]>("command") { Description = "Each replica's command after --, with {port} {model} {name} {upstream_model} {gpus}", Arity = ArgumentArity.ZeroOrMore };

        var create = new Command("create", """
            Deploy a model: replicas started on the fleet from a command template (after --), or a server already
            running (--url). Replicas are jobs of the project; calls go to /v1/chat/completions with the model name.

            Examples:
              headroom deployments create llama-8b --project research --gpus 1 --gpu-model h100-80gb --min 1 --max 4 \
                --source meta-llama/Llama-3.1-8B-Instruct -- vllm serve {model} --port {port} --served-model-name {upstream_model}
              headroom deployments create qwen-cpu --gpu-milli 100 -- llama-server -m /models/qwen.gguf --port {port} --alias {upstream_model}
              headroom deployments create office-tgi --url http://10.0.0.7:8080/v1 --upstream-model tgi
              headroom deployments create llama-8b -- vllm serve {model} --port {port} --json | jq -r .id
            """);
        create.Arguments.Add(model);
        foreach (var option in new Option[] { project, url, source, upstreamModel, billing, min, max, gpus, gpuMilli, gpuModel, region, tier, target, env, idempotency })
            create.Options.Add(option);
        create.Arguments.Add(command);
        ClientOptions.Attach(create, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["model"] = parse.GetValue(model), ["engine"] = "openai-upstream" };
            if (parse.GetValue(command) is { Length: > 0 } argv)
                body["command"] = new JsonArray([.. argv.Select(a => (JsonNode?)JsonValue.Create(a))]);
            if (body["command"] is null && parse.GetValue(url) is null)
                return Output.Usage("give each replica's command after -- (headroom deployments create NAME -- vllm serve ...), or --url for a server already running");
            if (parse.GetValue(project) is { } projectRef)
            {
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                body["project_id"] = projectId;
            }
            foreach (var (field, value) in new (string, string?)[]
                { ("url", parse.GetValue(url)), ("source", parse.GetValue(source)), ("upstream_model", parse.GetValue(upstreamModel)), ("billing", parse.GetValue(billing)),
                  ("gpu_model", parse.GetValue(gpuModel)), ("region", parse.GetValue(region)), ("tier", parse.GetValue(tier)) })
            {
                if (value is not null)
                    body[field] = value;
            }
            foreach (var (field, value) in new (string, int?)[]
                { ("min_replicas", parse.GetValue(min)), ("max_replicas", parse.GetValue(max)), ("gpus_per_replica", parse.GetValue(gpus)),
                  ("gpu_milli", parse.GetValue(gpuMilli)), ("target_concurrency", parse.GetValue(target)) })
            {
                if (value is not null)
                    body[field] = value.Value;
            }
            if (parse.GetValue(env) is { Length: > 0 } pairs)
                body["env"] = new JsonObject(pairs.Select(p => KeyValuePair.Create(p[..p.IndexOf('=', StringComparison.Ordinal)], (JsonNode?)p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..])));
            var created = await api.PostAsync("v1/deployments", body, cancellationToken, parse.GetValue(idempotency) ?? "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(created, d => $"Created {Output.Text(d["id"])}: {Output.Text(d["model"])}, {Replicas(d)}.");
        });
        return create;
    }

    private static string Replicas(JsonNode d) => d["url"] is JsonValue
        ? $"served at {Output.Text(d["url"])}"
        : $"{Output.Text(d["min_replicas"])}-{Output.Text(d["max_replicas"])} replicas of {Gpus(d)} GPU";

    private static string Gpus(JsonNode d) => d["gpu_milli"]?.GetValue<int>() is > 0 and < 1000 and var milli
        ? (milli / 1000m).ToString(CultureInfo.InvariantCulture)
        : Output.Text(d["gpus_per_replica"]);

    private static Command List()
    {
        var (limit, after) = ClientOptions.Paging("deployment");
        var state = new Option<string?>("--state") { Description = "active (default: active and deleting), deleting or deleted" };
        state.AcceptOnlyFromAmong("active", "deleting", "deleted");
        var command = new Command("list", """
            List the deployments you can call: your org's, the operator's serverless ones, and the models loaded in process
            (system deployments, read-only).

            Examples:
              headroom deployments list
              headroom deployments list --state deleted
              headroom deployments list --json | jq -r '.data[] | select(.ready_replicas == 0) | .id'
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        command.Options.Add(state);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/deployments" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after)), ("state", parse.GetValue(state))), cancellationToken);
            return output.Page(page, ["ID", "MODEL", "ENGINE", "BILLING", "READY", "MIN-MAX", "STATE"], d =>
            [
                Output.Text(d["id"]), Output.Text(d["model"]), Output.Text(d["engine"]), Output.Text(d["billing"]),
                $"{Output.Text(d["ready_replicas"])}/{Output.Text(d["desired_replicas"])}", $"{Output.Text(d["min_replicas"])}-{Output.Text(d["max_replicas"])}",
                Output.Text(d["state"]),
            ]);
        });
        return command;
    }

    private static Command Get()
    {
        var id = new Argument<string>("id") { Description = "The deployment's id (dep_..., or system:NAME)" };
        var command = new Command("get", """
            Show one deployment: its spec, the autoscaler's last decision and each replica (job, URL, ready, draining).

            Examples:
              headroom deployments get dep_01j...
              headroom deployments get dep_01j... --json | jq -r '.replicas[].job_id'
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var result = await api.GetAsync($"v1/deployments/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            if (!result.Ok)
                return Output.Fail(result);
            if (output.Json)
            {
                output.Raw(result);
                return ExitCodes.Ok;
            }
            var d = result.Json;
            output.Fields(
            [
                ("id", Output.Text(d["id"])),
                ("state", Output.Text(d["state"])),
                ("model", Output.Text(d["model"])),
                ("engine", Output.Text(d["engine"])),
                ("billing", Output.Text(d["billing"])),
                ("project", d["project_id"] is null ? null : Output.Text(d["project_id"])),
                ("source", d["source"] is null ? null : Output.Text(d["source"])),
                ("command", d["command"] is JsonArray argv ? string.Join(' ', argv.Select(a => Output.Text(a))) : null),
                ("url", d["url"] is null ? null : Output.Text(d["url"])),
                ("replicas", $"{Output.Text(d["ready_replicas"])} ready of {Output.Text(d["desired_replicas"])} wanted (min {Output.Text(d["min_replicas"])}, max {Output.Text(d["max_replicas"])})"),
                ("gpus", d["command"] is JsonArray ? $"{Gpus(d)} x {(d["gpu_model"] is null ? "any model" : Output.Text(d["gpu_model"]))} per replica, {Output.Text(d["tier"])}" : null),
                ("region", d["region"] is null ? null : Output.Text(d["region"])),
                ("scale", d["scale"] is JsonObject scale ? $"{Output.Text(scale["reason"])}: {Output.Text(scale["message"])}" : null),
                ("created", Output.Time(d["created_at"])),
            ]);
            var replicas = d["replicas"]!.AsArray();
            if (replicas.Count > 0)
            {
                output.Table(["JOB", "URL", "READY", "STATE"], replicas.Select(r => (IReadOnlyList<string>)
                [
                    Output.Text(r!["job_id"]), Output.Text(r["url"]), r["ready"]!.GetValue<bool>() ? "yes" : "no",
                    r["draining"]!.GetValue<bool>() ? "draining" : Output.Text(r["state"]),
                ]));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Scale()
    {
        var id = new Argument<string>("id") { Description = "The deployment's id (dep_...)" };
        var min = new Option<int?>("--min") { Description = "Fewest replicas", HelpName = "N" };
        var max = new Option<int?>("--max") { Description = "Most replicas", HelpName = "N" };
        var target = new Option<int?>("--target-concurrency") { Description = "Calls in flight per replica the autoscaler aims for", HelpName = "N" };
        var command = new Command("scale", """
            Change the bounds the autoscaler keeps a deployment's replicas in. Replicas above the new max are drained
            (no new calls, calls in flight finish) and then stopped.

            Examples:
              headroom deployments scale dep_01j... --min 2 --max 8
              headroom deployments scale dep_01j... --max 1
            """);
        command.Arguments.Add(id);
        command.Options.Add(min);
        command.Options.Add(max);
        command.Options.Add(target);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(min) is { } n)
                body["min_replicas"] = n;
            if (parse.GetValue(max) is { } x)
                body["max_replicas"] = x;
            if (parse.GetValue(target) is { } t)
                body["target_concurrency"] = t;
            if (body.Count == 0)
                return Output.Usage("give --min, --max or --target-concurrency");
            var scaled = await api.PatchAsync($"v1/deployments/{Uri.EscapeDataString(parse.GetValue(id)!)}", body, cancellationToken);
            return output.One(scaled, d => $"Scaled {Output.Text(d["id"])} to {Output.Text(d["min_replicas"])}-{Output.Text(d["max_replicas"])} replicas ({Output.Text(d["ready_replicas"])} ready now).");
        });
        return command;
    }

    private static Command Delete()
    {
        var id = new Argument<string>("id") { Description = "The deployment's id (dep_...)" };
        var command = new Command("delete", """
            Delete a deployment: its replicas take no new calls, finish the calls in flight (60 s at most) and stop; the
            model is then gone from /v1/models.

            Examples:
              headroom deployments delete dep_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var deleted = await api.DeleteAsync($"v1/deployments/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            return output.One(deleted, d => $"Deleting {Output.Text(d["id"])} ({Output.Text(d["model"])}): its replicas drain, then stop.");
        });
        return command;
    }
}
