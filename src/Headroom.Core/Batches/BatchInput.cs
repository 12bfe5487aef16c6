using System.Text.Json;

namespace Headroom.Core.Batches;

/// <summary>One request line of a batch input file. <see cref="Body"/> is the line's <c>body</c> object as JSON text.</summary>
public sealed record BatchRequest(int Line, string CustomId, string Url, string Model, string Body);

/// <summary>Why a batch input file is refused: OpenAI's <c>errors.data[]</c> item. <see cref="Line"/> is 1-based, null for the whole file.</summary>
public sealed record BatchInputError(int? Line, string Code, string Message, string? Param);

/// <summary>The requests of a batch input file, or the reasons it is refused (at most <see cref="BatchInput.MaxErrors"/>).</summary>
public sealed record BatchInputParse(IReadOnlyList<BatchRequest> Requests, IReadOnlyList<BatchInputError> Errors)
{
    public bool Valid => Errors.Count == 0;
}

/// <summary>
/// Reads a batch input file: JSON Lines, each <c>{"custom_id", "method": "POST", "url", "body": {...}}</c>, where
/// <c>url</c> is the batch's endpoint and <c>custom_id</c> is unique in the file. Pure and total: any bytes give a
/// result, never an exception; every error names its line; memory is bounded by the input (the bodies kept) plus at
/// most <see cref="MaxErrors"/> errors. Blank lines (a trailing newline) are skipped; <c>\r\n</c> ends a line too.
/// </summary>
public static class BatchInput
{
    public const int MaxRequests = 50_000;
    public const int MaxErrors = 100;
    public const int MaxCustomIdLength = 512;

    /// <summary>The endpoints a batch may call.</summary>
    public static IReadOnlyList<string> Endpoints { get; } = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = 64 };

    public static BatchInputParse Parse(ReadOnlySpan<byte> utf8, string endpoint)
    {
        var requests = new List<BatchRequest>();
        var errors = new List<BatchInputError>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var line = 0;
        var rest = utf8;
        while (rest.Length > 0 && errors.Count < MaxErrors)
        {
            line++;
            var end = rest.IndexOf((byte)'\n');
            var text = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            if (text.Length > 0 && text[^1] == (byte)'\r')
                text = text[..^1];
            if (IsBlank(text))
                continue;
            if (requests.Count == MaxRequests)
            {
                errors.Add(new(line, "too_many_requests", $"A batch holds at most {MaxRequests} requests.", null));
                break;
            }
            var (request, error) = ParseLine(text, line, endpoint);
            if (error is not null)
                errors.Add(error);
            else if (!seen.Add(request!.CustomId))
                errors.Add(new(line, "duplicate_custom_id", $"custom_id '{Shorten(request.CustomId)}' is used by an earlier line; each line needs its own.", "custom_id"));
            else
                requests.Add(request);
        }
        if (errors.Count == 0 && requests.Count == 0)
            errors.Add(new(null, "empty_file", "The input file has no requests.", null));
        return new BatchInputParse(errors.Count == 0 ? requests : [], errors);
    }

    /// <summary>One line: a request, or the error that names the line.</summary>
    public static (BatchRequest? Request, BatchInputError? Error) ParseLine(ReadOnlySpan<byte> text, int line, string endpoint)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text.ToArray(), s_options);
        }
        catch (JsonException)
        {
            return (null, new(line, "invalid_json_line", $"Line {line} is not valid JSON.", null));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return (null, new(line, "invalid_request", $"Line {line} is not a JSON object.", null));
            if (!root.TryGetProperty("custom_id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString() is not { Length: > 0 and <= MaxCustomIdLength } customId)
                return (null, new(line, "invalid_custom_id", $"Line {line}: custom_id must be a string of 1 to {MaxCustomIdLength} characters.", "custom_id"));
            if (!root.TryGetProperty("method", out var method) || method.ValueKind != JsonValueKind.String || method.GetString() != "POST")
                return (null, new(line, "invalid_method", $"Line {line}: method must be POST.", "method"));
            if (!root.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String || url.GetString() != endpoint)
                return (null, new(line, "invalid_url", $"Line {line}: url must be the batch's endpoint, {endpoint}.", "url"));
            if (!root.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.Object)
                return (null, new(line, "invalid_body", $"Line {line}: body must be a JSON object (the request).", "body"));
            if (!body.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelName)
                return (null, new(line, "missing_model", $"Line {line}: body.model must name a model.", "body.model"));
            return (new BatchRequest(line, customId, endpoint, modelName, body.GetRawText()), null);
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                return false;
        }
        return true;
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
