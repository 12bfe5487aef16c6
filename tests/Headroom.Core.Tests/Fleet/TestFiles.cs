namespace Headroom.Core.Tests.Fleet;

internal static class TestFiles
{
    public static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fleet", "Fixtures", name));

    public static string RepoFile(string relativePath) => File.ReadAllText(Path.Combine(RepoRoot, relativePath));

    private static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"No Headroom.slnx above {AppContext.BaseDirectory}");
    }
}
