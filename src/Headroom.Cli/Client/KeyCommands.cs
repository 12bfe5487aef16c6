using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom keys</c>: the org's API keys through <c>/v1/keys</c>. A key's secret is printed once, at creation.</summary>
internal static class KeyCommands
{
    public static Command Create()
    {
        var keys = new Command("keys", "Create, list and revoke API keys.");
        keys.Subcommands.Add(List());
        keys.Subcommands.Add(New());
        keys.Subcommands.Add(Revoke());
        return keys;
    }

    private static Command List()
    {
        var (limit, after) = ClientOptions.Paging("key");
        var command = new Command("list", """
            List the org's API keys (never their secrets), oldest first.

            Examples:
              headroom keys list
              headroom keys list --json | jq -r '.data[] | select(.revoked_at == null) | .id'
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/keys" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            var now = DateTimeOffset.UtcNow;
            return output.Page(page, ["ID", "NAME", "PREFIX", "ROLES", "PROJECT", "STATE", "CREATED", "LAST USED"], k =>
            [
                Output.Text(k["id"]), Output.Text(k["name"]), Output.Text(k["prefix"]), Output.Text(k["roles"]),
                Output.Text(k["project_id"]) is { Length: > 0 } p ? p : "-", State(k, now), Output.Time(k["created_at"]),
                Output.Time(k["last_used_at"]) is { Length: > 0 } used ? used : "never",
            ]);
        });
        return command;
    }

    private static string State(JsonNode key, DateTimeOffset now) =>
        key["revoked_at"] is not null ? "revoked"
        : key["expires_at"] is { } expires && DateTimeOffset.Parse(Output.Text(expires), CultureInfo.InvariantCulture) <= now ? "expired"
        : "active";

    private static Command New()
    {
        var name = new Argument<string>("name") { Description = "A name that says what the key is for" };
        var roles = new Option<string[]>("--role") { Description = "A role for the key (repeat for several): owner, admin, member, viewer, billing, fleet-admin. Default: member", HelpName = "ROLE" };
        var project = new Option<string?>("--project") { Description = "Scope the key to one project: its id or name", HelpName = "PROJECT" };
        var expires = new Option<string?>("--expires")
        {
            Description = "When the key stops working: an RFC 3339 time, or a duration from now (30d, 12h)",
            HelpName = "TIME",
        };
        expires.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && ExpiresAt(r.Tokens[^1].Value, DateTimeOffset.UtcNow) is null)
                r.AddError($"--expires '{r.Tokens[^1].Value}' is neither an RFC 3339 time nor a duration such as 30d.");
        });
        var org = new Option<string?>("--org") { Description = "Issue the key into another org (the operator only; how a new tenant gets its first owner key)", HelpName = "ORG_ID" };
        var command = new Command("create", """
            Create an API key and print its secret. The secret is shown this once and cannot be read again.

            Examples:
              headroom keys create ci --role member --project research --expires 90d
              headroom keys create billing-export --role billing
              headroom keys create acme-owner --role owner --org org_01j... --json | jq -r .key
            """);
        command.Arguments.Add(name);
        command.Options.Add(roles);
        command.Options.Add(project);
        command.Options.Add(expires);
        command.Options.Add(org);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject
            {
                ["name"] = parse.GetValue(name),
                ["roles"] = new JsonArray([.. (parse.GetValue(roles) is { Length: > 0 } r ? r : ["member"]).Select(x => (JsonNode?)JsonValue.Create(x))]),
            };
            if (parse.GetValue(expires) is { } text)
                body["expires_at"] = ExpiresAt(text, DateTimeOffset.UtcNow)!.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            if (parse.GetValue(org) is { } orgId)
                body["org_id"] = orgId;
            if (parse.GetValue(project) is { } projectRef)
            {
                // A name is looked up in the caller's org; for another org give the project's id.
                var (projectId, exit) = await Lookup.ProjectIdAsync(api, projectRef, cancellationToken);
                if (projectId is null)
                    return exit;
                body["project_id"] = projectId;
            }
            var created = await api.PostAsync("v1/keys", body, cancellationToken, "cli-" + Guid.NewGuid().ToString("N"));
            if (!created.Ok)
                return Output.Fail(created);
            if (output.Json)
            {
                output.Raw(created);
                return ExitCodes.Ok;
            }
            var json = created.Json;
            var key = json["api_key"]!;
            Console.WriteLine($"Created {Output.Text(key["id"])} ({Output.Text(key["name"])}) with roles {Output.Text(key["roles"])}" +
                (key["project_id"] is null ? "" : $" for project {Output.Text(key["project_id"])}") +
                (key["expires_at"] is null ? "" : $", expiring {Output.Time(key["expires_at"])}") + ".");
            Console.WriteLine("Its secret, shown this once:");
            Console.WriteLine();
            Console.WriteLine($"  {Output.Text(json["key"])}");
            Console.WriteLine();
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>An RFC 3339 time, or now plus a duration; null if the text is neither.</summary>
    private static DateTimeOffset? ExpiresAt(string text, DateTimeOffset now)
    {
        if (Quantities.TryDurationSeconds(text, out var seconds) && !text.Contains('-', StringComparison.Ordinal))
            return now.AddSeconds(seconds);
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("id") { Description = "The key's id (key_...)" };
        var command = new Command("revoke", """
            Revoke an API key: it stops working at once, for good.

            Examples:
              headroom keys revoke key_01j...
            """);
        command.Arguments.Add(id);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var key = await api.PostAsync($"v1/keys/{Uri.EscapeDataString(parse.GetValue(id)!)}/revoke", null, cancellationToken);
            return output.One(key, k => $"Revoked {Output.Text(k["id"])} ({Output.Text(k["name"])}) at {Output.Time(k["revoked_at"])}.");
        });
        return command;
    }
}
