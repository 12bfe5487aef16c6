using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>
/// <c>headroom models</c> and <c>headroom chat</c>: the hosted models (<c>/v1/models</c>) and a conversation with one
/// through <c>/v1/chat/completions</c>, streamed as the tokens arrive (docs/models.md).
/// </summary>
internal static class ModelCommands
{
    public static Command Models()
    {
        var command = new Command("models", """
            List the hosted models this server serves.

            Examples:
              headroom models
              headroom models --json | jq -r '.data[].id'
            """);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/models", cancellationToken);
            return output.Page(page, ["ID", "OWNED BY", "CREATED"], m =>
            [
                Output.Text(m["id"]), Output.Text(m["owned_by"]),
                m["created"] is JsonValue v && v.TryGetValue<long>(out var created)
                    ? DateTimeOffset.FromUnixTimeSeconds(created).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "",
            ]);
        });
        return command;
    }

    public static Command Chat()
    {
        var model = new Option<string>("--model") { Description = "The model to talk to (see 'headroom models')", HelpName = "MODEL", Required = true };
        var project = new Option<string?>("--project") { Description = "The project the calls are metered in: its id or name. Default: the key's, else the org's first", HelpName = "PROJECT" };
        var system = new Option<string?>("--system") { Description = "A system message that starts the conversation", HelpName = "TEXT" };
        var message = new Option<string?>("--message") { Description = "Send this one message, print the answer and exit (for scripts)", HelpName = "TEXT" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "At most this many tokens per answer", HelpName = "N" };
        var command = new Command("chat", """
            Talk to a hosted model. Each line read from stdin is sent with the conversation so far, and the answer is
            printed as it is generated. Ends at end of input (Ctrl-D). With --message, one turn and exit.
            With --json, answers are not streamed and each is printed as the API's JSON.

            Examples:
              headroom chat --model llama-3-8b --system "You answer in one sentence."
              headroom chat --model llama-3-8b --message "Say hello" --max-tokens 32
              echo "Summarize: ..." | headroom chat --model llama-3-8b --project research
            """);
        foreach (var option in new Option[] { model, project, system, message, maxTokens })
            command.Options.Add(option);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var headers = new Dictionary<string, string>();
            if (parse.GetValue(project) is { } projectRef)
            {
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                headers["OpenAI-Project"] = projectId;
            }
            var history = new JsonArray();
            if (parse.GetValue(system) is { } systemText)
                history.Add(new JsonObject { ["role"] = "system", ["content"] = systemText });

            async Task<int> TurnAsync(string text)
            {
                history.Add(new JsonObject { ["role"] = "user", ["content"] = text });
                var body = new JsonObject
                {
                    ["model"] = parse.GetValue(model),
                    ["messages"] = history.DeepClone(),
                    ["stream"] = !output.Json,
                };
                if (parse.GetValue(maxTokens) is { } max)
                    body["max_tokens"] = max;
                var (result, answer) = output.Json
                    ? await OnceAsync(api, output, body, headers, cancellationToken)
                    : await StreamAsync(api, body, headers, cancellationToken);
                if (!result.Ok)
                {
                    // A failed turn leaves no trace in the conversation: the next line is asked afresh.
                    history.RemoveAt(history.Count - 1);
                    return Output.Fail(result);
                }
                history.Add(new JsonObject { ["role"] = "assistant", ["content"] = answer });
                return ExitCodes.Ok;
            }

            if (parse.GetValue(message) is { } one)
                return await TurnAsync(one);
            var interactive = !Console.IsInputRedirected;
            var code = ExitCodes.Ok;
            while (true)
            {
                if (interactive)
                    Console.Error.Write(output.Paint("> ", "1"));
                var line = await Console.In.ReadLineAsync(cancellationToken);
                if (line is null)
                    break;
                if (line.Trim().Length == 0)
                    continue;
                code = await TurnAsync(line);
            }
            return code;
        });
        return command;
    }

    /// <summary>One streamed answer, printed token by token; returns the whole text for the history.</summary>
    private static async Task<(ApiResult Result, string Answer)> StreamAsync(ApiClient api, JsonObject body, Dictionary<string, string> headers, CancellationToken cancellationToken)
    {
        var answer = new System.Text.StringBuilder();
        string? streamError = null;
        var result = await api.PostEventsAsync("v1/chat/completions", body, headers, data =>
        {
            JsonNode? chunk;
            try
            {
                chunk = JsonNode.Parse(data);
            }
            catch (JsonException)
            {
                return;
            }
            if (chunk?["error"] is JsonObject error)
            {
                streamError = Output.Text(error["message"]);
                return;
            }
            foreach (var choice in chunk?["choices"] as JsonArray ?? [])
            {
                if (choice?["delta"]?["content"] is JsonValue content && content.TryGetValue<string>(out var piece) && piece.Length > 0)
                {
                    answer.Append(piece);
                    Output.Out.Write(piece);
                    Output.Out.Flush();
                }
            }
        }, cancellationToken);
        if (answer.Length > 0 || result.Ok)
            Output.Out.WriteLine();
        if (streamError is not null)
            result = result with { Outcome = ApiOutcome.Unavailable, Message = streamError };
        return (result, answer.ToString());
    }

    /// <summary>One answer, not streamed, printed as the API's JSON (--json).</summary>
    private static async Task<(ApiResult Result, string Answer)> OnceAsync(ApiClient api, Output output, JsonObject body, Dictionary<string, string> headers, CancellationToken cancellationToken)
    {
        var result = await api.PostOnceAsync("v1/chat/completions", body, headers, cancellationToken);
        if (!result.Ok)
            return (result, "");
        output.Raw(result);
        return (result, Output.Text(result.Json["choices"]?[0]?["message"]?["content"]));
    }
}
