using System.Diagnostics.CodeAnalysis;

namespace Headroom.Core.Pricing;

/// <summary>
/// One thing wrong with a price input. <paramref name="Path"/> locates it with the API's snake_case names
/// (<c>gpu_rates[3].per_gpu_hour</c>).
/// </summary>
public sealed record PricingProblem(string Path, string Message)
{
    public override string ToString() => Path.Length == 0 ? Message : $"{Path}: {Message}";
}

/// <summary>Either a value or every problem found, never both.</summary>
public sealed class PricingResult<T> where T : class
{
    private PricingResult(T? value, IReadOnlyList<PricingProblem> problems)
    {
        Value = value;
        Problems = problems;
    }

    public T? Value { get; }

    public IReadOnlyList<PricingProblem> Problems { get; }

    [MemberNotNullWhen(true, nameof(Value))]
    public bool Succeeded => Value is not null;

    internal static PricingResult<T> Success(T value) => new(value, []);

    internal static PricingResult<T> Failure(IReadOnlyList<PricingProblem> problems) =>
        problems.Count > 0 ? new(null, problems) : throw new ArgumentException("A failure needs at least one problem.", nameof(problems));
}
