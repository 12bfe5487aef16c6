using System.Diagnostics;
using System.Text;
using CsCheck;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>
/// Rendered scripts run as plain bash (the #SBATCH lines are comments to it): whatever args and env a valid
/// spec holds reach the workload unchanged, next to Headroom's own variables.
/// </summary>
public sealed class SlurmScriptProperties : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "headroom-script-props-" + Guid.NewGuid().ToString("N")[..8]);

    private static readonly Gen<string> Text = Gen.OneOf(
            Gen.String["'\"\\$`!*?[]{}();&|<>~#=%- \t\r\n é漢🙂abc"],
            Gen.String)
        .Where(ShellQuote.CanQuote);

    private static readonly Gen<string> EnvName = Gen.Select(Gen.Char["ABCXYZ_"], Gen.String["ABCXYZ_0123456789"])
        .Select((first, rest) => first + rest)
        .Where(n => SlurmScript.Render(Specs.Spot() with { Env = new Dictionary<string, string> { [n] = "" } }).IsValid);

    [Fact]
    public void Args_and_env_of_any_valid_spec_reach_the_workload_unchanged()
    {
        Directory.CreateDirectory(_directory);
        Gen.Select(Text.Array[0, 8], Gen.Dictionary(EnvName, Text)[0, 6]).Sample((args, env) =>
        {
            // The workload prints its args, then each env value by name, NUL-separated, between markers.
            var names = env.Keys.Order(StringComparer.Ordinal).ToArray();
            var printer = "printf 'BEGIN\\0'; for a in \"$@\"; do printf '%s\\0' \"$a\"; done; printf 'ENV\\0'; "
                + string.Concat(names.Select(n => $"printf '%s\\0' \"${n}\"; "))
                + "printf '%s\\0' \"$HEADROOM_JOB_ID\" \"$HEADROOM_RESTART_COUNT\"; printf 'END\\0'";
            var spec = Specs.Spot() with
            {
                Command = "bash",
                Args = ["-c", printer, "workload", .. args],
                Env = env,
                CheckpointDirectory = Path.Combine(_directory, "ckpt"),
                LogPath = Path.Combine(_directory, "job.log"),
            };
            var render = SlurmScript.Render(spec);
            Assert.True(render.IsValid, string.Join("; ", render.Errors));

            var output = RunScript(render.Script!);
            var begin = output.IndexOf("BEGIN\0", StringComparison.Ordinal);
            var end = output.IndexOf("END\0", begin, StringComparison.Ordinal);
            Assert.True(begin >= 0 && end > begin, "no workload output in:\n" + output);
            var fields = output[(begin + 6)..end].Split('\0')[..^1];
            var split = Array.IndexOf(fields, "ENV");
            Assert.Equal(args, fields[..split]);
            Assert.Equal(names.Select(n => env[n]).Append("job_01").Append("2"), fields[(split + 1)..]);
        }, iter: 60);
    }

    private static string RunScript(string script)
    {
        var info = new ProcessStartInfo("bash", ["-s"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["SLURM_JOB_ID"] = "7";
        info.Environment["SLURM_RESTART_COUNT"] = "2";
        using var bash = Process.Start(info)!;
        using (var stdin = new StreamWriter(bash.StandardInput.BaseStream, new UTF8Encoding(false)))
        {
            stdin.Write(script);
        }
        using var stdout = new MemoryStream();
        bash.StandardOutput.BaseStream.CopyTo(stdout);
        var stderr = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, $"script failed ({bash.ExitCode}): {stderr}");
        return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(stdout.ToArray());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
