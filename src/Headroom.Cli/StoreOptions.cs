using System.CommandLine;
using Headroom.Server.Hosting;

namespace Headroom.Cli;

/// <summary>The options every command that reads the store shares with <c>up</c>, and how they become settings.</summary>
internal sealed class StoreOptions
{
    public Option<string?> Data { get; } = new("--data") { Description = "Directory for Headroom's data (SQLite database, admin key). Default: ./.headroom" };
    public Option<string?> Database { get; } = new("--database") { Description = "PostgreSQL URL or Npgsql connection string (several replicas), or a SQLite file. Default: a SQLite file in --data" };
    public Option<string?> Config { get; } = new("--config") { Description = "JSON file with any setting; HEADROOM_* environment variables override it, flags override both" };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Database);
        command.Options.Add(Config);
    }

    /// <summary>Reads settings; on problems prints every one to stderr and returns null.</summary>
    public HeadroomSettings? Read(ParseResult parse, Dictionary<string, string?>? more = null)
    {
        var flags = new Dictionary<string, string?>(more ?? [])
        {
            ["data"] = parse.GetValue(Data),
            ["database"] = parse.GetValue(Database),
        };
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        var (settings, errors) = SettingsReader.Read(parse.GetValue(Config), flags, environment);
        if (settings is not null)
            return settings;
        Console.Error.WriteLine($"headroom: the settings have {errors.Count} problem{(errors.Count == 1 ? "" : "s")}:");
        foreach (var error in errors)
            Console.Error.WriteLine($"  - {error}");
        return null;
    }
}

/// <summary>Exit codes, documented in docs/cli.md.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadSettings = 2;

    /// <summary>Client commands: the server could not be reached, or answered 5xx (its own fault).</summary>
    public const int Unavailable = 3;

    /// <summary><c>jobs submit --wait</c>: the job ended without succeeding (failed, cancelled, preempted, lost).</summary>
    public const int JobFailed = 4;
}
