using System.Diagnostics;
using System.Text;
using CsCheck;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>Any string that can be an argument or an environment value reaches bash's program unchanged.</summary>
public sealed class ShellQuoteProperties
{
    // Shell metacharacters and multi-byte text, mixed with arbitrary UTF-16 (unpaired surrogates and NUL are
    // filtered out: no argv can carry them, and the renderer refuses them).
    private static readonly Gen<string> Word = Gen.OneOf(
            Gen.String["'\"\\$`!*?[]{}();&|<>~#=%- \t\r\n\u00a0é漢🙂abc"],
            Gen.String,
            Gen.Char.Array[0, 12].Select(chars => new string(chars)))
        .Where(ShellQuote.CanQuote);

    [Fact]
    public void Quoted_words_reach_printf_unchanged()
    {
        Word.Array[1, 40].Sample(words =>
        {
            var script = "printf '%s\\0' " + string.Join(' ', words.Select(ShellQuote.Quote)) + "\n";
            Assert.Equal(words, RunBash(script));
        }, iter: 150);
    }

    [Fact]
    public void Quoted_values_survive_export_and_expansion()
    {
        Word.Array[1, 20].Sample(values =>
        {
            var script = new StringBuilder();
            for (var i = 0; i < values.Length; i++)
            {
                script.Append("export V").Append(i).Append('=').Append(ShellQuote.Quote(values[i])).Append('\n');
            }
            script.Append("printf '%s\\0'");
            for (var i = 0; i < values.Length; i++)
            {
                script.Append(" \"$V").Append(i).Append('"');
            }
            script.Append('\n');
            Assert.Equal(values, RunBash(script.ToString()));
        }, iter: 100);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("--lr=3e-4", "'--lr=3e-4'")]
    [InlineData("", "''")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("~/x", "'~/x'")]
    public void Safe_words_stay_bare_and_the_rest_is_single_quoted(string value, string expected) =>
        Assert.Equal(expected, ShellQuote.Quote(value));

    private static string[] RunBash(string script)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, script, new UTF8Encoding(false));
            var info = new ProcessStartInfo("bash", [path]) { RedirectStandardOutput = true, RedirectStandardError = true };
            info.Environment["LC_ALL"] = "C.UTF-8";
            using var bash = Process.Start(info)!;
            using var stdout = new MemoryStream();
            bash.StandardOutput.BaseStream.CopyTo(stdout);
            var stderr = bash.StandardError.ReadToEnd();
            bash.WaitForExit();
            Assert.True(bash.ExitCode == 0, $"bash failed: {stderr}\n{script}");
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(stdout.ToArray());
            return text.Split('\0')[..^1];
        }
        finally
        {
            File.Delete(path);
        }
    }
}
