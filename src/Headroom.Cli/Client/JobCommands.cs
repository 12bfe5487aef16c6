using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Workloads;

namespace Headroom.Cli.Client;

/// <summary><c>headroom jobs</c>: submit, watch, read and cancel batch jobs through <c>/v1/jobs</c> (docs/jobs.md).</summary>
internal static class JobCommands
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(500);

    public static Command Create()
    {
        var jobs = new Command("jobs", "Submit, watch and cancel batch jobs.");
        jobs.Subcommands.Add(Submit());
        jobs.Subcommands.Add(List());
        jobs.Subcommands.Add(Get());
        jobs.Subcommands.Add(Logs());
        jobs.Subcommands.Add(Events());
        jobs.Subcommands.Add(Cancel());
        return jobs;
    }

    private static Command Submit()
    {
        var file = new Option<FileInfo?>("--file", "-f") { Description = "A job spec as JSON (the body of POST /v1/jobs; '-' reads stdin). Flags override its fields", HelpName = "FILE" };
        var name = new Option<string?>("--name") { Description = "A name for the job. Default: the program's name" };
        var project = new Option<string?>("--project") { Description = "The project: its id (prj_...) or name. Default: the key's project", HelpName = "PROJECT" };
        var gpus = new Option<int?>("--gpus") { Description = "Whole GPUs per node. Default: 1", HelpName = "N" };
        var gpuMilli = new Option<int?>("--gpu-milli") { Description = "A share of one GPU in milli-GPUs (1-1000), for small work", HelpName = "N" };
        var nodes = new Option<int?>("--nodes") { Description = "Nodes, started together as a gang. Default: 1", HelpName = "N" };
        var gpuModel = new Option<string[]>("--gpu-model") { Description = "An acceptable GPU model (repeat for several), e.g. h100-80gb. Default: any", HelpName = "MODEL" };
        var cpu = new Option<int?>("--cpu")
        {
            Description = "CPU per node: cores (4, 0.5) or milli-CPUs (500m)",
            HelpName = "CORES",
            CustomParser = r => Parse<int>(r, Quantities.TryCpuMilli, "a number of cores (4, 0.5) or milli-CPUs (500m)"),
        };
        var memory = new Option<int?>("--memory")
        {
            Description = "Memory per node: MiB (512), or with a unit (512Mi, 16Gi)",
            HelpName = "SIZE",
            CustomParser = r => Parse<int>(r, Quantities.TryMemoryMib, "a size such as 512Mi, 16Gi or a number of MiB"),
        };
        var region = new Option<string?>("--region") { Description = "Run only in this region" };
        var tier = new Option<string?>("--tier") { Description = "on-demand (never preempted), spot (preemptible after notice) or internal (the operator's org). Default: on-demand" };
        tier.AcceptOnlyFromAmong("on-demand", "spot", "internal");
        var maxDuration = new Option<long?>("--max-duration")
        {
            Description = "Stop and fail the job after this long: seconds, or 90s, 30m, 2h, 1d, 1h30m",
            HelpName = "DURATION",
            CustomParser = r => Parse<long>(r, Quantities.TryDurationSeconds, "a duration such as 3600, 90s, 30m, 2h or 1h30m"),
        };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "requeue: after a preemption or a lost node, queue the job again to resume from HEADROOM_CHECKPOINT_DIR. Default: none" };
        checkpoint.AcceptOnlyFromAmong("none", "requeue");
        var env = new Option<string[]>("--env", "-e") { Description = "An environment variable for the job (repeat for several)", HelpName = "NAME=VALUE" };
        env.Validators.Add(r =>
        {
            foreach (var token in r.Tokens.Where(t => t.Value.IndexOf('=', StringComparison.Ordinal) < 1))
                r.AddError($"--env '{token.Value}' must be NAME=VALUE.");
        });
        var wait = new Option<bool>("--wait") { Description = "Wait until the job ends and exit with its outcome (0 succeeded, 4 otherwise)" };
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "Sent as Idempotency-Key: repeating a submit with the same key and spec creates one job. Default: a new key each run", HelpName = "KEY" };
        var command = new Argument<string[]>("command") { Description = "The program and its arguments, after --", Arity = ArgumentArity.ZeroOrMore };

        var submit = new Command("submit", """
            Submit a job: a command run on GPUs of the fleet. Give the command after --, or a spec with -f.

            Examples:
              headroom jobs submit --project research --gpus 8 --gpu-model h100-80gb -- python train.py --epochs 3
              headroom jobs submit --project prj_01j... --tier spot --checkpoint requeue --max-duration 12h -- ./run.sh
              headroom jobs submit --project research --env WANDB_MODE=offline --wait -- python eval.py
              headroom jobs submit -f job.json --json | jq -r .id
            """);
        foreach (var option in new Option[] { file, name, project, gpus, gpuMilli, nodes, gpuModel, cpu, memory, region, tier, maxDuration, checkpoint, env, wait, idempotencyKey })
            submit.Options.Add(option);
        submit.Arguments.Add(command);

        ClientOptions.Attach(submit, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(file) is { } spec)
            {
                try
                {
                    var text = spec.Name == "-" ? await Console.In.ReadToEndAsync(cancellationToken) : await File.ReadAllTextAsync(spec.FullName, cancellationToken);
                    body = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("expected a JSON object");
                }
                catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
                {
                    return Output.Usage($"--file {spec.Name}: {ex.Message}");
                }
            }
            if (parse.GetValue(command) is { Length: > 0 } argv)
                body["command"] = new JsonArray([.. argv.Select(a => (JsonNode?)JsonValue.Create(a))]);
            if (body["command"] is null)
                return Output.Usage("no command: give it after -- (headroom jobs submit -- python train.py) or in a spec file (-f)");
            Set(body, "name", parse.GetValue(name));
            Set(body, "gpus_per_node", parse.GetValue(gpus));
            Set(body, "gpu_milli", parse.GetValue(gpuMilli));
            Set(body, "node_count", parse.GetValue(nodes));
            Set(body, "cpu_milli", parse.GetValue(cpu));
            Set(body, "memory_mib", parse.GetValue(memory));
            Set(body, "region", parse.GetValue(region));
            Set(body, "tier", parse.GetValue(tier));
            Set(body, "max_duration_seconds", parse.GetValue(maxDuration));
            Set(body, "checkpoint", parse.GetValue(checkpoint));
            if (parse.GetValue(gpuModel) is { Length: > 0 } models)
            {
                // The flags replace whatever models the file named, in the field the API reads for one or several.
                body.Remove("gpu_model");
                body.Remove("gpu_models");
                if (models.Length == 1)
                    body["gpu_model"] = models[0];
                else
                    body["gpu_models"] = new JsonArray([.. models.Select(m => (JsonNode?)JsonValue.Create(m))]);
            }
            if (parse.GetValue(env) is { Length: > 0 } variables)
            {
                // Added to the file's env; a name given both ways takes the flag's value.
                if (body["env"] is not JsonObject map)
                {
                    map = [];
                    body["env"] = map;
                }
                foreach (var pair in variables)
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    map[pair[..eq]] = pair[(eq + 1)..];
                }
            }
            if (parse.GetValue(project) is { } projectRef)
            {
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                body["project_id"] = projectId;
            }

            var key = parse.GetValue(idempotencyKey) ?? "cli-" + Guid.NewGuid().ToString("N");
            var created = await api.PostAsync("v1/jobs", body, cancellationToken, key);
            if (!created.Ok)
                return Output.Fail(created);
            var job = created.Json;
            if (!parse.GetValue(wait))
            {
                if (output.Json)
                    output.Raw(created);
                else
                    Console.WriteLine($"{Output.Text(job["id"])}  {output.Paint(Output.Text(job["state"]), Output.StateColour(Output.Text(job["state"])))}");
                return ExitCodes.Ok;
            }
            return await WaitAsync(api, output, job, cancellationToken);
        });
        return submit;
    }

    /// <summary>
    /// Polls the job until it ends. On a terminal a spinner line shows its state; otherwise each change is a line
    /// (on stderr with --json, whose stdout is the final job). Exit 0 when it succeeded, 4 when it ended otherwise.
    /// </summary>
    private static async Task<int> WaitAsync(ApiClient api, Output output, JsonNode job, CancellationToken cancellationToken)
    {
        var id = Output.Text(job["id"]);
        var progress = output.Json ? Console.Error : Console.Out;
        var spinner = output.Json ? !Console.IsErrorRedirected : !Console.IsOutputRedirected;
        var frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
        var started = DateTimeOffset.UtcNow;
        var shown = "";
        if (!spinner)
            progress.WriteLine($"{id} submitted");
        for (var tick = 0; ; tick++)
        {
            var state = Output.Text(job["state"]);
            var line = Describe(job);
            if (IsOver(job))
            {
                if (spinner)
                    progress.Write("\r\u001b[2K");
                var succeeded = state == "succeeded";
                var exit = job["exit_code"] is null ? "" : $" (exit code {Output.Text(job["exit_code"])})";
                var reason = succeeded ? "" : $": {Output.Text(job["state_reason"])}";
                progress.WriteLine($"{id} {output.Paint(state, Output.StateColour(state))}{reason}{exit}");
                if (output.Json)
                    Console.WriteLine(job.ToJsonString());
                return succeeded ? ExitCodes.Ok : ExitCodes.JobFailed;
            }
            if (spinner)
            {
                var elapsed = (int)(DateTimeOffset.UtcNow - started).TotalSeconds;
                progress.Write($"\r\u001b[2K{frames[tick % frames.Length]} {line} · {elapsed}s");
            }
            else if (line != shown)
            {
                progress.WriteLine(line);
            }
            shown = line;

            await Task.Delay(PollEvery, cancellationToken);
            var next = await api.GetAsync($"v1/jobs/{Uri.EscapeDataString(id)}", cancellationToken);
            if (!next.Ok)
            {
                if (spinner)
                    progress.WriteLine();
                Console.Error.WriteLine($"headroom: stopped watching {id}; it goes on. See: headroom jobs get {id}");
                return Output.Fail(next);
            }
            job = next.Json;
        }
    }

    /// <summary>Ended for good: a final state, except preempted or lost with checkpoint requeue, which go back to the queue.</summary>
    private static bool IsOver(JsonNode job)
    {
        if (!WorkloadCodes.TryParseJobState(Output.Text(job["state"]), out var state) || !state.IsFinal())
            return false;
        var requeues = Output.Text(job["spec"]?["checkpoint"]) == "requeue";
        return !(requeues && state is JobState.Preempted or JobState.Lost);
    }

    private static string Describe(JsonNode job)
    {
        var id = Output.Text(job["id"]);
        var state = Output.Text(job["state"]);
        var attempt = job["attempt"]?.GetValue<int>() is > 1 and var a ? $" (attempt {a})" : "";
        var nodes = job["placement"]?.AsArray().Select(p => Output.Text(p!["node"])).ToList() ?? [];
        return state switch
        {
            "queued" when job["queue_position"] is { } position => $"{id} queued, position {position}{Pending(job)}{attempt}",
            "queued" => $"{id} queued{Pending(job)}{attempt}",
            _ when nodes.Count > 0 => $"{id} {state} on {string.Join(", ", nodes)}{attempt}",
            _ => $"{id} {state}{attempt}",
        };
    }

    private static string Pending(JsonNode job) =>
        job["pending_reasons"]?.AsArray().FirstOrDefault() is { } reason ? $": {Output.Text(reason["message"])}" : "";

    private static Command List()
    {
        var state = new Option<string?>("--state") { Description = "Only jobs in this state" };
        state.AcceptOnlyFromAmong([.. Enum.GetValues<JobState>().Select(s => s.ToCode())]);
        var project = new Option<string?>("--project") { Description = "Only this project's jobs: its id or name", HelpName = "PROJECT" };
        var tier = new Option<string?>("--tier") { Description = "Only jobs of this tier" };
        tier.AcceptOnlyFromAmong("internal", "on-demand", "spot");
        var (limit, after) = ClientOptions.Paging("job");
        var command = new Command("list", """
            List jobs, oldest first, a page at a time.

            Examples:
              headroom jobs list
              headroom jobs list --state running --project prj_01j...
              headroom jobs list --json | jq -r '.data[].id'
            """);
        foreach (var option in new Option[] { state, project, tier, limit, after })
            command.Options.Add(option);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            string? projectId = null;
            if (parse.GetValue(project) is { } projectRef)
            {
                (projectId, var exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
            }
            var query = ClientOptions.Query(("state", parse.GetValue(state)), ("project_id", projectId), ("tier", parse.GetValue(tier)),
                ("limit", parse.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("after", parse.GetValue(after)));
            var page = await api.GetAsync("v1/jobs" + query, cancellationToken);
            var now = DateTimeOffset.UtcNow;
            return output.Page(page, ["ID", "NAME", "STATE", "TIER", "GPUS", "MODEL", "AGE"], j =>
            [
                Output.Text(j["id"]), Output.Text(j["name"]), Output.Text(j["state"]), Output.Text(j["tier"]), Gpus(j["spec"]!),
                j["spec"]!["gpu_models"] is JsonArray { Count: > 0 } models ? Output.Text(models) : "any", Output.Age(j["created_at"], now),
            ]);
        });
        return command;
    }

    private static string Gpus(JsonNode spec)
    {
        var perNode = spec["gpu_milli"]?.GetValue<int>() is < 1000 and var milli ? (milli / 1000m).ToString(System.Globalization.CultureInfo.InvariantCulture) : Output.Text(spec["gpus_per_node"]);
        return spec["node_count"]?.GetValue<int>() is > 1 and var n ? $"{n}x{perNode}" : perNode;
    }

    private static Command Get()
    {
        var id = new Argument<string>("id") { Description = "The job's id (job_...)" };
        var command = new Command("get", """
            Show a job: its state, why it waits, where it runs, its spec.

            Examples:
              headroom jobs get job_01j...
              headroom jobs get job_01j... --json | jq .pending_reasons
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var job = await api.GetAsync($"v1/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}", cancellationToken);
            if (!job.Ok)
                return Output.Fail(job);
            if (output.Json)
            {
                output.Raw(job);
                return ExitCodes.Ok;
            }
            var j = job.Json;
            var spec = j["spec"]!;
            output.Fields(
            [
                ("id", Output.Text(j["id"])),
                ("name", Output.Text(j["name"])),
                ("project", Output.Text(j["project_id"])),
                ("state", $"{Output.Text(j["state"])} ({Output.Text(j["state_reason"])})"),
                ("cancel", j["cancel_requested"]?.GetValue<bool>() == true ? "requested" : null),
                ("tier", Output.Text(j["tier"])),
                ("command", string.Join(' ', spec["command"]!.AsArray().Select(c => Quote(Output.Text(c))))),
                ("gpus", $"{Gpus(spec)} x {(spec["gpu_models"] is JsonArray { Count: > 0 } m ? Output.Text(m) : "any model")}"),
                ("cpu", spec["cpu_milli"]?.GetValue<int>() is > 0 and var c ? $"{c}m per node" : null),
                ("memory", spec["memory_mib"]?.GetValue<int>() is > 0 and var mem ? $"{mem} MiB per node" : null),
                ("region", Output.Text(spec["region"])),
                ("max duration", spec["max_duration_seconds"] is { } max ? $"{max}s" : null),
                ("checkpoint", Output.Text(spec["checkpoint"])),
                ("attempt", Output.Text(j["attempt"])),
                ("queue position", Output.Text(j["queue_position"])),
                ("waiting", string.Join("; ", j["pending_reasons"]!.AsArray().Select(r => Output.Text(r!["message"])))),
                ("placement", string.Join(", ", j["placement"]!.AsArray().Select(p => $"{Output.Text(p!["node"])} gpus {Output.Text(p["gpus"])}"))),
                ("notice until", Output.Time(j["notice_deadline"])),
                ("exit code", Output.Text(j["exit_code"])),
                ("created", Output.Time(j["created_at"])),
                ("started", Output.Time(j["started_at"])),
                ("ended", Output.Time(j["ended_at"])),
            ]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c, StringComparison.Ordinal)) ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static Command Logs()
    {
        var id = new Argument<string>("id") { Description = "The job's id (job_...)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the job ends" };
        var command = new Command("logs", """
            Print the output of the job's current attempt.

            Examples:
              headroom jobs logs job_01j...
              headroom jobs logs job_01j... --follow
            """);
        command.Arguments.Add(id);
        command.Options.Add(follow);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var path = $"v1/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/logs{(parse.GetValue(follow) ? "?follow=true" : "")}";
            await using var stdout = Console.OpenStandardOutput();
            var result = await api.StreamAsync(path, stdout, cancellationToken);
            return result.Ok ? ExitCodes.Ok : Output.Fail(result);
        });
        return command;
    }

    private static Command Events()
    {
        var id = new Argument<string>("id") { Description = "The job's id (job_...)" };
        var command = new Command("events", """
            List every state change of a job, with its time and reason.

            Examples:
              headroom jobs events job_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var events = await api.GetAsync($"v1/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/events", cancellationToken);
            if (!events.Ok)
                return Output.Fail(events);
            if (output.Json)
            {
                output.Raw(events);
                return ExitCodes.Ok;
            }
            output.Table(["TIME", "ATTEMPT", "FROM", "STATE", "REASON"], events.Json["data"]!.AsArray().Select(e => (IReadOnlyList<string>)
            [
                Output.Time(e!["time"]), Output.Text(e["attempt"]), Output.Text(e["from_state"]) is { Length: > 0 } from ? from : "-", Output.Text(e["to_state"]), Output.Text(e["reason"]),
            ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "The job's id (job_...)" };
        var command = new Command("cancel", """
            Cancel a job: a queued one at once, a running one at the next scheduling cycle.

            Examples:
              headroom jobs cancel job_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var job = await api.PostAsync($"v1/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/cancel", null, cancellationToken);
            return output.One(job, j => Output.Text(j["state"]) == "cancelled"
                ? $"{Output.Text(j["id"])} cancelled"
                : $"{Output.Text(j["id"])} cancel requested: it is stopped at the next scheduling cycle");
        });
        return command;
    }

    private static void Set(JsonObject body, string field, string? value)
    {
        if (value is not null)
            body[field] = value;
    }

    private static void Set(JsonObject body, string field, long? value)
    {
        if (value is not null)
            body[field] = value.Value;
    }

    private delegate bool TryParse<T>(string text, out T value);

    /// <summary>A custom option parser: the value, or a parse error (exit code 2) saying what was expected.</summary>
    private static T? Parse<T>(ArgumentResult result, TryParse<T> parse, string expected) where T : struct
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (parse(text, out var value))
            return value;
        result.AddError($"'{text}' is not {expected}.");
        return null;
    }
}
