using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Gateway.Engines;

namespace Headroom.Gateway.OpenAi;

/// <summary>
/// Reads OpenAI request bodies into engine requests. Tolerant of fields it does not model (the SDKs send <c>user</c>,
/// <c>metadata</c>, <c>store</c>, ...); strict about the type and range of the fields it does, naming the field in the 400.
/// </summary>
internal static class RequestReader
{
    public const int MaxStopSequences = 4;

    public static async Task<JsonObject> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException e)
        {
            throw new GatewayException(GatewayError.BadRequest($"The request body is not valid JSON: {e.Message}"));
        }
        if (node is not JsonObject body)
            throw new GatewayException(GatewayError.BadRequest("The request body must be a JSON object."));
        // JSON escapes can spell a lone surrogate, which is no text: reading such a string (or property name) later
        // throws, so every one is read once here, and the body refused as a whole.
        try
        {
            Touch(body);
        }
        catch (InvalidOperationException)
        {
            throw new GatewayException(GatewayError.BadRequest("The request body holds a string that is not valid Unicode text (a lone surrogate escape)."));
        }
        return body;
    }

    private static void Touch(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj)
                    Touch(value);
                break;
            case JsonArray array:
                foreach (var item in array)
                    Touch(item);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                _ = value.GetValue<string>();
                break;
        }
    }

    public static string ReadModel(JsonObject body) =>
        OptionalString(body, "model") is { Length: > 0 } model
            ? model
            : throw Bad("you must provide a model parameter", "model");

    /// <summary>Reads a chat completions body. <paramref name="includeUsage"/> is <c>stream_options.include_usage</c>.</summary>
    public static GenerationRequest ReadChat(JsonObject body, EngineCapabilities capabilities, out bool includeUsage)
    {
        if (body["messages"] is not JsonArray { Count: > 0 } messages)
            throw Bad("'messages' must be a non-empty array.", "messages");
        var list = new List<ChatMessage>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject message)
                throw Bad($"'messages[{i}]' must be an object.", $"messages[{i}]");
            var role = OptionalString(message, "role", $"messages[{i}].role");
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool" or "function"))
                throw Bad($"'messages[{i}].role' must be one of system, developer, user, assistant, tool.", $"messages[{i}].role");
            list.Add(new ChatMessage(role, ContentText(message["content"], $"messages[{i}].content")));
        }

        var maxTokens = OptionalInt(body, "max_completion_tokens") ?? OptionalInt(body, "max_tokens");
        RefuseUnsupported(body, capabilities);
        var request = ReadSampling(body, maxTokens) with { Messages = list };
        includeUsage = request.Stream && body["stream_options"] is JsonObject options && OptionalBool(options, "include_usage", "stream_options.include_usage") == true;
        return request;
    }

    public static GenerationRequest ReadCompletion(JsonObject body, out bool includeUsage)
    {
        var prompt = body["prompt"] switch
        {
            JsonValue value when value.TryGetValue(out string? text) => text,
            JsonArray { Count: 1 } array when array[0] is JsonValue one && one.TryGetValue(out string? text) => text,
            JsonArray => throw Bad("Only one prompt per request is supported; send a string or an array of one string.", "prompt"),
            null => throw Bad("you must provide a prompt parameter", "prompt"),
            _ => throw Bad("'prompt' must be a string.", "prompt"),
        };
        if (OptionalInt(body, "best_of") is > 1)
            throw Bad("'best_of' greater than 1 is not supported.", "best_of");
        if (body["echo"] is JsonValue echo && echo.TryGetValue(out bool echoed) && echoed)
            throw Bad("'echo' is not supported.", "echo");
        var request = ReadSampling(body, OptionalInt(body, "max_tokens") ?? 16) with { Prompt = prompt };
        includeUsage = request.Stream && body["stream_options"] is JsonObject options && OptionalBool(options, "include_usage", "stream_options.include_usage") == true;
        return request;
    }

    /// <summary>Reads an embeddings body; <paramref name="base64"/> is <c>encoding_format: base64</c>.</summary>
    public static EmbeddingRequest ReadEmbeddings(JsonObject body, out bool base64)
    {
        var inputs = body["input"] switch
        {
            JsonValue value when value.TryGetValue(out string? text) => [text],
            JsonArray { Count: > 0 } array => array.Select((item, i) => item is JsonValue v && v.TryGetValue(out string? text)
                ? text
                : throw Bad($"'input[{i}]' must be a string; token arrays are not supported.", "input")).ToList(),
            JsonArray => throw Bad("'input' must not be empty.", "input"),
            null => throw Bad("you must provide an input parameter", "input"),
            _ => throw Bad("'input' must be a string or an array of strings.", "input"),
        };
        base64 = OptionalString(body, "encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var other => throw Bad($"'encoding_format' must be 'float' or 'base64', not '{other}'.", "encoding_format"),
        };
        return new EmbeddingRequest(inputs, body);
    }

    private static GenerationRequest ReadSampling(JsonObject body, int? maxTokens)
    {
        if (OptionalInt(body, "n") is { } n && n != 1)
            throw Bad("Only n=1 is supported.", "n");
        if (maxTokens is < 1)
            throw Bad("'max_tokens' must be at least 1.", body.ContainsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
        var temperature = OptionalNumber(body, "temperature");
        if (temperature is < 0 or > 2)
            throw Bad("'temperature' must be between 0 and 2.", "temperature");
        var topP = OptionalNumber(body, "top_p");
        if (topP is < 0 or > 1)
            throw Bad("'top_p' must be between 0 and 1.", "top_p");
        long? seed = body["seed"] switch
        {
            null => null,
            JsonValue value when value.TryGetValue(out long s) => s,
            _ => throw Bad("'seed' must be an integer.", "seed"),
        };
        IReadOnlyList<string> stop = body["stop"] switch
        {
            null => [],
            JsonValue value when value.TryGetValue(out string? one) => [one],
            JsonArray array when array.Count <= MaxStopSequences => array.Select(item => item is JsonValue v && v.TryGetValue(out string? s)
                ? s
                : throw Bad("'stop' must be a string or an array of strings.", "stop")).ToList(),
            JsonArray => throw Bad($"'stop' takes at most {MaxStopSequences} sequences.", "stop"),
            _ => throw Bad("'stop' must be a string or an array of strings.", "stop"),
        };
        if (stop.Any(s => s.Length == 0))
            throw Bad("'stop' sequences must not be empty.", "stop");
        return new GenerationRequest
        {
            MaxTokens = maxTokens,
            Temperature = (float?)temperature,
            TopP = (float?)topP,
            Seed = seed,
            Stop = stop,
            Stream = OptionalBool(body, "stream") == true,
            Body = body,
        };
    }

    /// <summary>Refuses, naming the field, what this model's engine cannot honour rather than ignoring it.</summary>
    private static void RefuseUnsupported(JsonObject body, EngineCapabilities capabilities)
    {
        if (!capabilities.Tools)
        {
            foreach (var field in (string[])["tools", "tool_choice", "functions", "function_call", "parallel_tool_calls"])
            {
                var absentInEffect = body[field] is null
                    || (field == "tools" && body[field] is JsonArray { Count: 0 })
                    || (field == "tool_choice" && IsString(body[field], "none"));
                if (!absentInEffect)
                    throw Bad($"This model does not support '{field}'.", field, "unsupported_parameter");
            }
        }
        if (!capabilities.ResponseFormat && body["response_format"] is JsonObject format
            && OptionalString(format, "type", "response_format.type") is { } type && type != "text")
            throw Bad($"This model does not support response_format type '{type}'.", "response_format", "unsupported_parameter");
    }

    /// <summary>The text of a message: a string, or the text parts of a content array.</summary>
    private static string ContentText(JsonNode? content, string param)
    {
        switch (content)
        {
            case null:
                return "";
            case JsonValue value when value.TryGetValue(out string? text):
                return text;
            case JsonArray parts:
                var builder = new StringBuilder();
                foreach (var part in parts)
                {
                    if (part is JsonObject p && OptionalString(p, "type", param) is "text" && OptionalString(p, "text", param) is { } text)
                        builder.Append(text);
                    else if (part is not JsonObject)
                        throw Bad($"'{param}' parts must be objects.", param);
                }
                return builder.ToString();
            default:
                throw Bad($"'{param}' must be a string or an array of content parts.", param);
        }
    }

    private static bool IsString(JsonNode? node, string expected) =>
        node is JsonValue value && value.TryGetValue(out string? s) && s == expected;

    private static string? OptionalString(JsonObject body, string name, string? param = null) => body[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out string? s) => s,
        _ => throw Bad($"'{param ?? name}' must be a string.", param ?? name),
    };

    private static bool? OptionalBool(JsonObject body, string name, string? param = null) => body[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out bool b) => b,
        _ => throw Bad($"'{param ?? name}' must be a boolean.", param ?? name),
    };

    private static int? OptionalInt(JsonObject body, string name) => body[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out int i) => i,
        JsonValue value when value.TryGetValue(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue => (int)d,
        _ => throw Bad($"'{name}' must be an integer.", name),
    };

    private static double? OptionalNumber(JsonObject body, string name) => body[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out double d) => d,
        _ => throw Bad($"'{name}' must be a number.", name),
    };

    private static GatewayException Bad(string message, string param, string? code = null) =>
        new(GatewayError.BadRequest(message, param, code));
}
