using System.CommandLine;
using System.Text;

namespace Headroom.Cli.Client;

/// <summary><c>headroom login</c> checks a key against the server and saves it with the endpoint; <c>logout</c> forgets them.</summary>
internal static class LoginCommands
{
    public static Command Login()
    {
        var endpoint = new Option<string?>("--endpoint") { Description = $"API endpoint. Default: the saved one, else {ClientOptions.DefaultEndpoint}", HelpName = "URL" };
        var key = new Option<string?>("--key") { Description = "API key (hr_...). Default: read from stdin (prompted for, unechoed, on a terminal)", HelpName = "KEY" };
        var config = new Option<string?>("--config") { Description = "Client config file. Default: ${XDG_CONFIG_HOME:-~/.config}/headroom/config.json", HelpName = "FILE" };
        var command = new Command("login", """
            Check an API key against a Headroom server and save the endpoint and key for later commands,
            in a file only you can read (mode 0600). Prefer stdin to --key: a flag shows in ps and shell history.

            Examples:
              headroom login --endpoint http://127.0.0.1:8080 < .headroom/admin.key
              headroom login --endpoint https://headroom.example.com        # prompts for the key
              echo "$HR_KEY" | headroom login --endpoint https://headroom.example.com --config ./ci.json
            """);
        command.Options.Add(endpoint);
        command.Options.Add(key);
        command.Options.Add(config);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var path = parse.GetValue(config) ?? ClientConfig.DefaultPath();
            var (saved, error) = ClientConfig.Read(path);
            if (error is not null)
                return Output.Usage(error);
            var endpointText = parse.GetValue(endpoint) ?? saved.Endpoint ?? ClientOptions.DefaultEndpoint;
            if (!ClientOptions.TryEndpoint(endpointText, out var uri, out var badEndpoint))
                return Output.Usage(badEndpoint);
            var secret = parse.GetValue(key) ?? ReadKey();
            if (string.IsNullOrWhiteSpace(secret))
                return Output.Usage("no API key: pass --key or give it on stdin");
            secret = secret.Trim();

            using var api = new ApiClient(uri, secret);
            var orgs = await api.GetAsync("v1/orgs", cancellationToken);
            if (!orgs.Ok)
                return Output.Fail(orgs);
            if (new ClientConfig(uri.ToString().TrimEnd('/'), secret).Write(path) is { } writeError)
                return Output.Usage(writeError);

            var names = orgs.Json["data"]!.AsArray().Select(o => Output.Text(o!["name"])).ToList();
            var who = names.Count == 1 ? $"org {names[0]}" : $"{names.Count} orgs ({string.Join(", ", names.Take(5))}{(names.Count > 5 ? ", ..." : "")})";
            Console.WriteLine($"Logged in to {uri.ToString().TrimEnd('/')} with access to {who}.");
            Console.WriteLine($"Saved to {path} (mode 0600).");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Logout()
    {
        var config = new Option<string?>("--config") { Description = "Client config file. Default: ${XDG_CONFIG_HOME:-~/.config}/headroom/config.json", HelpName = "FILE" };
        var command = new Command("logout", """
            Forget the saved endpoint and key (deletes the config file). The key itself stays valid:
            revoke it with 'headroom keys revoke ID' if it should stop working.

            Examples:
              headroom logout
            """);
        command.Options.Add(config);
        command.SetAction(parse =>
        {
            var path = parse.GetValue(config) ?? ClientConfig.DefaultPath();
            if (!File.Exists(path))
            {
                Console.WriteLine("Not logged in.");
                return ExitCodes.Ok;
            }
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Output.Usage($"cannot delete {path}: {ex.Message}");
            }
            Console.WriteLine($"Logged out: removed {path}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The key from stdin: the whole input when piped, or typed without echo at a prompt on a terminal.</summary>
    private static string? ReadKey()
    {
        if (Console.IsInputRedirected)
            return Console.In.ReadToEnd();
        Console.Error.Write("API key: ");
        var key = new StringBuilder();
        while (true)
        {
            var c = Console.ReadKey(intercept: true);
            if (c.Key == ConsoleKey.Enter)
                break;
            if (c.Key == ConsoleKey.Backspace)
            {
                if (key.Length > 0)
                    key.Length--;
            }
            else if (!char.IsControl(c.KeyChar))
            {
                key.Append(c.KeyChar);
            }
        }
        Console.Error.WriteLine();
        return key.ToString();
    }
}
