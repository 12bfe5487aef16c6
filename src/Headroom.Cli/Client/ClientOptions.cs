using System.CommandLine;

namespace Headroom.Cli.Client;

/// <summary>
/// The options every client command takes, and how they become a connection: <c>--endpoint</c> and <c>--key</c>
/// override what <c>headroom login</c> saved in the config file (<c>--config</c>). The saved key is only ever sent to
/// the saved endpoint: <c>--endpoint</c> to another server needs its own <c>--key</c>.
/// </summary>
internal sealed class ClientOptions
{
    public const string DefaultEndpoint = "http://127.0.0.1:8080";

    public Option<string?> Endpoint { get; } = new("--endpoint") { Description = "API endpoint, e.g. http://127.0.0.1:8080. Default: the one saved by login", HelpName = "URL" };
    public Option<string?> Key { get; } = new("--key") { Description = "API key (hr_...). Default: the one saved by login", HelpName = "KEY" };
    public Option<string?> Config { get; } = new("--config") { Description = "Client config file. Default: ${XDG_CONFIG_HOME:-~/.config}/headroom/config.json", HelpName = "FILE" };
    public Option<bool> Json { get; } = new("--json") { Description = "Print the API's JSON instead of a table" };

    /// <summary>Adds the options to <paramref name="command"/> and makes <paramref name="run"/> its action, called with a
    /// connected client. Problems with the options or the config file exit with 2 before anything is sent.</summary>
    public static ClientOptions Attach(Command command, Func<ApiClient, Output, ParseResult, CancellationToken, Task<int>> run)
    {
        var options = new ClientOptions();
        command.Options.Add(options.Endpoint);
        command.Options.Add(options.Key);
        command.Options.Add(options.Config);
        command.Options.Add(options.Json);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = new Output(parse.GetValue(options.Json));
            var path = options.ConfigPath(parse);
            var (config, error) = ClientConfig.Read(path);
            if (error is not null)
                return Output.Usage(error);
            var endpointText = parse.GetValue(options.Endpoint) ?? config.Endpoint;
            if (endpointText is null)
                return Output.Usage($"no endpoint: run 'headroom login --endpoint URL' first, or pass --endpoint and --key (config file: {path})");
            if (!TryEndpoint(endpointText, out var endpoint, out var badEndpoint))
                return Output.Usage(badEndpoint);
            var sameServer = config.Endpoint is not null && TryEndpoint(config.Endpoint, out var saved, out _) && saved == endpoint;
            var key = parse.GetValue(options.Key) ?? (sameServer ? config.Key : null);
            if (key is null)
                return Output.Usage(sameServer || config.Key is null
                    ? $"no API key: run 'headroom login' first, or pass --key (config file: {path})"
                    : $"no API key for {endpoint}: the saved key is only sent to {config.Endpoint}; pass --key");
            if (ClientConfig.IsExposed(path))
                Console.Error.WriteLine($"headroom: warning: {path} holds an API key and can be read by others; run chmod 600 {path}");
            using var api = new ApiClient(endpoint, key);
            return await run(api, output, parse, cancellationToken);
        });
        return options;
    }

    public string ConfigPath(ParseResult parse) => parse.GetValue(Config) ?? ClientConfig.DefaultPath();

    /// <summary>An http(s) URL; a trailing <c>/v1</c> (as <c>headroom up</c> prints the API's address) is dropped.</summary>
    public static bool TryEndpoint(string text, out Uri endpoint, out string error)
    {
        endpoint = null!;
        error = "";
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Query.Length > 0)
        {
            error = $"--endpoint '{text}' is not an http:// or https:// URL";
            return false;
        }
        var path = uri.AbsolutePath.TrimEnd('/');
        if (path.EndsWith("/v1", StringComparison.Ordinal))
            path = path[..^3];
        endpoint = new Uri($"{uri.Scheme}://{uri.Authority}{path}/");
        return true;
    }

    /// <summary><c>--limit</c> and <c>--after</c>, the API's cursor pagination.</summary>
    public static (Option<int?> Limit, Option<string?> After) Paging(string what) =>
        (new Option<int?>("--limit") { Description = "At most this many per page (1-100). Default: 20", HelpName = "N" },
         new Option<string?>("--after") { Description = $"Start after this {what} (the last of the previous page)", HelpName = "CURSOR" });

    /// <summary>A query string of the parameters that have values, escaped.</summary>
    public static string Query(params (string Name, string? Value)[] parameters)
    {
        var present = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join('&', present);
    }
}
