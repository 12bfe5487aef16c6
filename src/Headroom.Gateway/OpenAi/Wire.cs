using System.Text.Json;
using System.Text.Json.Serialization;

namespace Headroom.Gateway.OpenAi;

// Response bodies as the OpenAI clients parse them. Property names become snake_case through Wire.Json; nulls are
// left out except where a client expects the key (error.param, error.code).

internal sealed record ModelObject(string Id, long Created, string OwnedBy)
{
    public string Object => "model";
}

internal sealed record ModelList(IReadOnlyList<ModelObject> Data)
{
    public string Object => "list";
}

internal sealed record UsageWire(int PromptTokens, int CompletionTokens, int TotalTokens);

internal sealed record ChatMessageWire(string Role, string? Content, JsonElement? ToolCalls)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Refusal => null;
}

internal sealed record ChatChoiceWire(int Index, ChatMessageWire Message, string FinishReason);

internal sealed record ChatCompletionWire(string Id, long Created, string Model, IReadOnlyList<ChatChoiceWire> Choices, UsageWire Usage)
{
    public string Object => "chat.completion";
}

internal sealed record ChatDeltaWire(string? Role, string? Content, JsonElement? ToolCalls);

internal sealed record ChatChunkChoiceWire(int Index, ChatDeltaWire Delta, string? FinishReason);

internal sealed record ChatChunkWire(string Id, long Created, string Model, IReadOnlyList<ChatChunkChoiceWire> Choices, UsageWire? Usage)
{
    public string Object => "chat.completion.chunk";
}

internal sealed record CompletionChoiceWire(int Index, string Text, string? FinishReason);

internal sealed record CompletionWire(string Id, long Created, string Model, IReadOnlyList<CompletionChoiceWire> Choices, UsageWire? Usage)
{
    public string Object => "text_completion";
}

/// <param name="Embedding">A float array, or a base64 string of little-endian float32 values.</param>
internal sealed record EmbeddingWire(int Index, object Embedding)
{
    public string Object => "embedding";
}

internal sealed record EmbeddingUsageWire(int PromptTokens, int TotalTokens);

internal sealed record EmbeddingListWire(IReadOnlyList<EmbeddingWire> Data, string Model, EmbeddingUsageWire Usage)
{
    public string Object => "list";
}

internal sealed record ErrorDetailWire(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

internal sealed record ErrorWire(ErrorDetailWire Error);

internal static class Wire
{
    /// <summary>The serializer settings of every body above, from code generated at build time (no reflection per call).</summary>
    public static JsonSerializerOptions Json => WireJson.Default.Options;

    public static ErrorWire ToWire(GatewayError error) => new(new ErrorDetailWire(error.Message, error.Type, error.Param, error.Code));

    public static UsageWire ToWire(Engines.TokenUsage usage) => new(usage.InputTokens, usage.OutputTokens, usage.TotalTokens);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ModelObject))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ChatCompletionWire))]
[JsonSerializable(typeof(ChatChunkWire))]
[JsonSerializable(typeof(CompletionWire))]
[JsonSerializable(typeof(EmbeddingListWire))]
[JsonSerializable(typeof(ErrorWire))]
[JsonSerializable(typeof(float[]))] // an embedding as floats
internal sealed partial class WireJson : JsonSerializerContext;
