using Microsoft.ML.Tokenizers;

namespace Headroom.Gateway.Engines;

/// <summary>
/// Counts tokens with cl100k_base where an engine reports none (an upstream without usage, a cut stream). The counts
/// are estimates and are flagged so; OpenAI's own chat overhead (about 3 tokens a message, 3 to prime the reply) is added.
/// </summary>
internal static class TokenEstimator
{
    private const int PerMessage = 3;
    private const int ReplyPriming = 3;
    private static readonly Lazy<Tokenizer> Tokenizer = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));

    public static int Count(string? text) => string.IsNullOrEmpty(text) ? 0 : Tokenizer.Value.CountTokens(text);

    public static int CountInput(GenerationRequest request) => request.Messages is { } messages
        ? messages.Sum(m => PerMessage + Count(m.Role) + Count(m.Content)) + ReplyPriming
        : Count(request.Prompt);
}
