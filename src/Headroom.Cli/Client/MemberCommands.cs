using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Client;

/// <summary><c>headroom members</c>: the people of the caller's org and their roles, through <c>/v1/members</c>.</summary>
internal static class MemberCommands
{
    private static readonly string[] s_roles = ["owner", "admin", "member", "viewer", "billing", "fleet-admin"];

    public static Command Create()
    {
        var members = new Command("members", "List, add and remove the org's members, and change their roles.");
        members.Subcommands.Add(List());
        members.Subcommands.Add(Add());
        members.Subcommands.Add(Remove());
        members.Subcommands.Add(SetRole());
        return members;
    }

    private static Command List()
    {
        var (limit, after) = ClientOptions.Paging("member");
        var command = new Command("list", """
            List the org's members and their roles.

            Examples:
              headroom members list
            """);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/members" + ClientOptions.Query(
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))), cancellationToken);
            return output.Page(page, ["ID", "EMAIL", "ROLE", "ADDED"], m =>
                [Output.Text(m["id"]), Output.Text(m["email"]), Output.Text(m["role"]), Output.Time(m["created_at"])]);
        });
        return command;
    }

    private static Command Add()
    {
        var email = new Argument<string>("email") { Description = "The person's email address" };
        var role = Role("--role", "The role to grant. Default: member");
        var command = new Command("add", """
            Add a person to the org with a role (no higher than your own).

            Examples:
              headroom members add ada@example.com --role admin
            """);
        command.Arguments.Add(email);
        command.Options.Add(role);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var body = new JsonObject { ["email"] = parse.GetValue(email), ["role"] = parse.GetValue(role) ?? "member" };
            var member = await api.PostAsync("v1/members", body, cancellationToken, "cli-" + Guid.NewGuid().ToString("N"));
            return output.One(member, m => $"Added {Output.Text(m["email"])} as {Output.Text(m["role"])} ({Output.Text(m["id"])}).");
        });
        return command;
    }

    private static Command Remove()
    {
        var member = new Argument<string>("member") { Description = "The member's id (mem_...) or email" };
        var command = new Command("remove", """
            Remove a member from the org. The org's last owner cannot be removed.

            Examples:
              headroom members remove ada@example.com
              headroom members remove mem_01j...
            """);
        command.Arguments.Add(member);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var (id, exit) = await Lookup.MemberIdAsync(api, parse.GetValue(member)!, cancellationToken);
            if (id is null)
                return exit;
            var removed = await api.DeleteAsync($"v1/members/{Uri.EscapeDataString(id)}", cancellationToken);
            return output.One(removed, _ => $"Removed {parse.GetValue(member)}.");
        });
        return command;
    }

    private static Command SetRole()
    {
        var member = new Argument<string>("member") { Description = "The member's id (mem_...) or email" };
        var role = new Argument<string>("role") { Description = "The new role" };
        role.AcceptOnlyFromAmong(s_roles);
        var command = new Command("set-role", """
            Change a member's role (no higher than your own; the last owner stays owner).

            Examples:
              headroom members set-role ada@example.com owner
            """);
        command.Arguments.Add(member);
        command.Arguments.Add(role);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var (id, exit) = await Lookup.MemberIdAsync(api, parse.GetValue(member)!, cancellationToken);
            if (id is null)
                return exit;
            var updated = await api.PatchAsync($"v1/members/{Uri.EscapeDataString(id)}", new JsonObject { ["role"] = parse.GetValue(role) }, cancellationToken);
            return output.One(updated, m => $"{Output.Text(m["email"])} is now {Output.Text(m["role"])}.");
        });
        return command;
    }

    private static Option<string?> Role(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.AcceptOnlyFromAmong(s_roles);
        return option;
    }
}
