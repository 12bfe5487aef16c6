using System.Text.Json;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>
/// Where the client keeps its endpoint and key: <c>${XDG_CONFIG_HOME:-~/.config}/headroom/config.json</c> unless
/// <c>--config</c> names another file. The file holds a secret, so it is written with mode 0600 (its folder 0700)
/// and replaced whole, never edited in place. Environment variables are not read: <c>HEADROOM_*</c> belong to the
/// server's settings.
/// </summary>
internal sealed record ClientConfig(string? Endpoint, string? Key)
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static string DefaultPath()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        // XDG: a relative XDG_CONFIG_HOME is invalid and is to be ignored.
        var root = xdg is { Length: > 0 } && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return Path.Combine(root, "headroom", "config.json");
    }

    /// <summary>Reads the file; a missing file is an empty config. Returns an error message instead of throwing.</summary>
    public static (ClientConfig Config, string? Error) Read(string path)
    {
        if (!File.Exists(path))
            return (new ClientConfig(null, null), null);
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
            if (node is null)
                return (new ClientConfig(null, null), $"{path}: expected a JSON object");
            return (new ClientConfig(Text(node, "endpoint"), Text(node, "key")), null);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return (new ClientConfig(null, null), $"{path}: {ex.Message}");
        }
    }

    /// <summary>True when group or others may read the file, which a file holding a key must not allow.</summary>
    public static bool IsExposed(string path) =>
        !OperatingSystem.IsWindows() && File.Exists(path) && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;

    /// <summary>Writes a new file beside the old one with mode 0600, then renames it over, so no reader sees half a file
    /// and the key is never readable by others, not even for a moment. Returns an error message, or null.</summary>
    public string? Write(string path)
    {
        string? temp = null;
        try
        {
            var full = Path.GetFullPath(path);
            var dir = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(dir))
            {
                if (OperatingSystem.IsWindows())
                    Directory.CreateDirectory(dir);
                else
                    Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = Private;
            using (var stream = new FileStream(temp, options))
            {
                JsonSerializer.Serialize(stream, new JsonObject { ["endpoint"] = Endpoint, ["key"] = Key }, new JsonSerializerOptions { WriteIndented = true });
            }
            // The umask may have taken bits from the create mode; set it exactly.
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, Private);
            File.Move(temp, full, overwrite: true);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (temp is not null)
                File.Delete(temp);
            return $"cannot write {path}: {ex.Message}";
        }
    }

    private static string? Text(JsonObject node, string name) =>
        node[name] is JsonValue value && value.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;
}
