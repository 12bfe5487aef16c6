using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom orgs</c> and <c>headroom projects</c>: the caller's org (the operator's: every org) and its projects.</summary>
internal static class OrgCommands
{
    public static Command Orgs()
    {
        var orgs = new Command("orgs", "List orgs; the operator creates tenant orgs.");
        var list = new Command("list", """
            List your org (for the operator: every org).

            Examples:
              headroom orgs list
            """);
        ClientOptions.Attach(list, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/orgs?limit=100", cancellationToken);
            return output.Page(page, ["ID", "NAME", "DISPLAY NAME", "CREATED"],
                o => [Output.Text(o["id"]), Output.Text(o["name"]), Output.Text(o["display_name"]), Output.Time(o["created_at"])]);
        });
        orgs.Subcommands.Add(list);

        var name = new Argument<string>("name") { Description = "The org's name: lower-case letters, digits and -" };
        var displayName = new Option<string?>("--display-name") { Description = "A name for people. Default: the name" };
        var create = new Command("create", """
            Create a tenant org (the operator only). Give it its first owner key with 'headroom keys create --org'.

            Examples:
              headroom orgs create acme --display-name "Acme Corp"
            """);
        create.Arguments.Add(name);
        create.Options.Add(displayName);
        ClientOptions.Attach(create, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["name"] = parse.GetValue(name) };
            if (parse.GetValue(displayName) is { } display)
                body["display_name"] = display;
            var org = await api.PostAsync("v1/orgs", body, cancellationToken, "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(org, o => $"Created org {Output.Text(o["name"])} ({Output.Text(o["id"])}).");
        });
        orgs.Subcommands.Add(create);
        return orgs;
    }

    public static Command Projects()
    {
        var projects = new Command("projects", "List, create, show, update and delete the org's projects.");
        var (limit, after) = ClientOptions.Paging("project");
        var list = new Command("list", """
            List the org's projects (a project-scoped key sees its own).

            Examples:
              headroom projects list
            """);
        list.Options.Add(limit);
        list.Options.Add(after);
        ClientOptions.Attach(list, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/projects" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["ID", "NAME", "DESCRIPTION", "CREATED"],
                p => [Output.Text(p["id"]), Output.Text(p["name"]), Output.Text(p["description"]), Output.Time(p["created_at"])]);
        });
        projects.Subcommands.Add(list);

        var name = new Argument<string>("name") { Description = "The project's name, unique in the org" };
        var description = new Option<string?>("--description") { Description = "What the project is for" };
        var create = new Command("create", """
            Create a project.

            Examples:
              headroom projects create research --description "Pre-training runs"
            """);
        create.Arguments.Add(name);
        create.Options.Add(description);
        ClientOptions.Attach(create, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["name"] = parse.GetValue(name) };
            if (parse.GetValue(description) is { } text)
                body["description"] = text;
            var project = await api.PostAsync("v1/projects", body, cancellationToken, "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(project, p => $"Created project {Output.Text(p["name"])} ({Output.Text(p["id"])}).");
        });
        projects.Subcommands.Add(create);

        var project = new Argument<string>("project") { Description = "The project's id (prj_...) or name" };
        var delete = new Command("delete", """
            Delete a project (refused while live keys are scoped to it).

            Examples:
              headroom projects delete research
            """);
        delete.Arguments.Add(project);
        ClientOptions.Attach(delete, async (api, output, parse, cancellationToken) =>
        {
            var (id, exit) = await Lookup.ProjectIdAsync(api, parse.GetValue(project)!, cancellationToken);
            if (id is null)
                return exit;
            var deleted = await api.DeleteAsync($"v1/projects/{Uri.EscapeDataString(id)}", cancellationToken);
            return output.One(deleted, _ => $"Deleted project {parse.GetValue(project)}.");
        });
        projects.Subcommands.Add(delete);

        var show = new Command("get", """
            Show a project: its limits, retention, training promise and the regions it is pinned to.

            Examples:
              headroom projects get research
            """);
        show.Arguments.Add(project);
        ClientOptions.Attach(show, async (api, output, parse, cancellationToken) =>
        {
            var (id, exit) = await Lookup.ProjectIdAsync(api, parse.GetValue(project)!, cancellationToken);
            if (id is null)
                return exit;
            var found = await api.GetAsync($"v1/projects/{Uri.EscapeDataString(id)}", cancellationToken);
            return output.One(found, Describe);
        });
        projects.Subcommands.Add(show);
        projects.Subcommands.Add(Update(project, description));
        return projects;
    }

    private static Command Update(Argument<string> project, Option<string?> description)
    {
        var retention = new Option<string?>("--retention")
        {
            Description = "How long model calls (request and answer) are kept as request logs: none (nothing but metadata is ever written) or a number of days, e.g. 30d",
        };
        var training = new Option<string?>("--training") { Description = "The recorded promise about training on the project's data; the only value is never" };
        var regions = new Option<string?>("--regions")
        {
            Description = "Comma-separated fleet regions the project's model calls may be served in (never elsewhere); 'any' to unpin",
        };
        var update = new Command("update", """
            Change a project's description and data governance (audited). Options not given are left as they are.

            Examples:
              headroom projects update research --retention 30d --regions eu-west
              headroom projects update research --retention none --regions any
              headroom projects update research --training never
            """);
        update.Arguments.Add(project);
        update.Options.Add(description);
        update.Options.Add(retention);
        update.Options.Add(training);
        update.Options.Add(regions);
        ClientOptions.Attach(update, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(description) is { } text)
                body["description"] = text;
            if (parse.GetValue(retention) is { } days)
                body["retention"] = days;
            if (parse.GetValue(training) is { } promise)
                body["training"] = promise;
            if (parse.GetValue(regions) is { } list)
                body["regions"] = new JsonArray([.. (list == "any" ? [] : list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    .Select(r => JsonValue.Create(r))]);
            var (id, exit) = await Lookup.ProjectIdAsync(api, parse.GetValue(project)!, cancellationToken);
            if (id is null)
                return exit;
            var updated = await api.PatchAsync($"v1/projects/{Uri.EscapeDataString(id)}", body, cancellationToken);
            return output.One(updated, p => "Updated project " + Describe(p));
        });
        return update;
    }

    private static string Describe(JsonNode p)
    {
        var regions = p["regions"] is JsonArray { Count: > 0 } pinned ? string.Join(",", pinned.Select(r => Output.Text(r))) : "any";
        return $"{Output.Text(p["name"])} ({Output.Text(p["id"])}): retention {Output.Text(p["retention"])}, training {Output.Text(p["training"])}, regions {regions}.";
    }
}
