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
        var projects = new Command("projects", "List, create and delete the org's projects.");
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
        return projects;
    }
}
