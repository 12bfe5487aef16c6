using System.Runtime.CompilerServices;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>
/// Compares rendered text with a checked-in file under Slurm/Golden. To accept a deliberate change, run the
/// tests with HEADROOM_UPDATE_GOLDEN=1 (it rewrites the files in the source tree) and review the diff.
/// </summary>
internal static class Golden
{
    public static void Verify(string name, string actual, [CallerFilePath] string caller = "")
    {
        if (Environment.GetEnvironmentVariable("HEADROOM_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(Path.Combine(Path.GetDirectoryName(caller)!, "Golden", name), actual);
            return;
        }
        var path = Path.Combine(AppContext.BaseDirectory, "Slurm", "Golden", name);
        Assert.True(File.Exists(path), $"golden file {name} is missing: run with HEADROOM_UPDATE_GOLDEN=1 to create it, then review it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
