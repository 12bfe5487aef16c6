using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary>Names people type, turned into the ids the API takes, by walking a list's pages.</summary>
internal static class Lookup
{
    /// <summary>A project id as given (prj_...), or the id of the project with that name. On failure the error is printed and its exit code returned.</summary>
    public static Task<(string? Id, int Exit)> ProjectIdAsync(ApiClient api, string reference, CancellationToken cancellationToken) =>
        reference.StartsWith("prj_", StringComparison.Ordinal)
            ? Task.FromResult<(string?, int)>((reference, ExitCodes.Ok))
            : FindAsync(api, "v1/projects", p => Output.Text(p["name"]) == reference, $"project named '{reference}'", cancellationToken);

    /// <summary>A member id as given (mem_...), or the id of the member with that email.</summary>
    public static Task<(string? Id, int Exit)> MemberIdAsync(ApiClient api, string reference, CancellationToken cancellationToken) =>
        !reference.Contains('@', StringComparison.Ordinal)
            ? Task.FromResult<(string?, int)>((reference, ExitCodes.Ok))
            : FindAsync(api, "v1/members", m => string.Equals(Output.Text(m["email"]), reference, StringComparison.OrdinalIgnoreCase), $"member with email '{reference}'", cancellationToken);

    private static async Task<(string? Id, int Exit)> FindAsync(ApiClient api, string list, Func<JsonNode, bool> match, string what, CancellationToken cancellationToken)
    {
        string? after = null;
        while (true)
        {
            var page = await api.GetAsync($"{list}?limit=100{(after is null ? "" : "&after=" + Uri.EscapeDataString(after))}", cancellationToken);
            if (!page.Ok)
                return (null, Output.Fail(page));
            var json = page.Json;
            if (json["data"]!.AsArray().FirstOrDefault(n => match(n!)) is { } found)
                return (Output.Text(found["id"]), ExitCodes.Ok);
            if (json["has_more"]?.GetValue<bool>() != true)
                break;
            after = Output.Text(json["last_id"]);
        }
        Console.Error.WriteLine($"headroom: no {what}.");
        return (null, ExitCodes.Failed);
    }
}
