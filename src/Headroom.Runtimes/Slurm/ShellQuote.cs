using System.Text;

namespace Headroom.Runtimes.Slurm;

/// <summary>
/// Quotes strings for bash so that they reach a program exactly as given: a word of only safe
/// characters stays bare, anything else is single-quoted with each <c>'</c> written as <c>'\''</c>.
/// Inside single quotes bash interprets nothing, so every string without a NUL (which no argv or
/// environment can hold) round-trips; a property test runs bash to hold this.
/// </summary>
internal static class ShellQuote
{
    public static string Quote(string value)
    {
        if (value.Length > 0 && value.All(IsSafe))
        {
            return value;
        }
        var builder = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            builder.Append(c == '\'' ? "'\\''" : c.ToString());
        }
        return builder.Append('\'').ToString();
    }

    public static string Join(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    /// <summary>Whether a string can be quoted at all: no NUL, and valid UTF-16 (it is written as UTF-8).</summary>
    public static bool CanQuote(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return false;
            }
        }
        return true;
    }

    // '=' is left out so that a bare first word is never an assignment, '~' so it never expands.
    private static bool IsSafe(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
        or '_' or '-' or '.' or '/' or ':' or '@' or '%' or '+' or ',';
}
