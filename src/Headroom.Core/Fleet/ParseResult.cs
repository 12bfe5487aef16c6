using System.Diagnostics.CodeAnalysis;

namespace Headroom.Core.Fleet;

/// <summary>
/// One thing wrong with an input. <paramref name="Path"/> locates it in the document's
/// structure (<c>regions[1].clusters[0].nodes[3].gpu_model</c>, or a field name for tabular
/// input); <paramref name="Line"/> and <paramref name="Column"/> are 1-based when known.
/// </summary>
public sealed record ParseProblem(string Path, string Message, int? Line = null, int? Column = null)
{
    public override string ToString()
    {
        var where = Line is { } line ? $" (line {line}{(Column is { } column ? $", column {column}" : "")})" : "";
        return Path.Length == 0 ? $"{Message}{where}" : $"{Path}{where}: {Message}";
    }
}

/// <summary>Either a value or every problem found in the input, never both.</summary>
public sealed class ParseResult<T> where T : class
{
    internal ParseResult(T? value, IReadOnlyList<ParseProblem> problems)
    {
        Value = value;
        Problems = problems;
    }

    public T? Value { get; }

    public IReadOnlyList<ParseProblem> Problems { get; }

    [MemberNotNullWhen(true, nameof(Value))]
    public bool Succeeded => Value is not null;
}

internal static class ParseResult
{
    public static ParseResult<T> Success<T>(T value) where T : class => new(value, []);

    public static ParseResult<T> Failure<T>(IReadOnlyList<ParseProblem> problems) where T : class =>
        problems.Count > 0 ? new(null, problems) : throw new ArgumentException("A failure needs at least one problem.", nameof(problems));

    public static ParseResult<T> Failure<T>(string path, string message, int? line = null, int? column = null) where T : class =>
        new(null, [new ParseProblem(path, message, line, column)]);
}
