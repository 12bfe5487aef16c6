using System.CommandLine;
using System.Globalization;

namespace Headroom.Cli.Client;

/// <summary>
/// <c>headroom audit list</c> and <c>audit export</c>: the org's audit log through <c>/v1/audit</c>. (<c>audit verify</c>
/// reads the store directly and checks the hash chains; see AuditCommands.)
/// </summary>
internal static class AuditLogCommands
{
    public static Command List()
    {
        var filters = new Filters();
        var ascending = new Option<bool>("--asc") { Description = "Oldest first. Default: newest first" };
        var (limit, after) = ClientOptions.Paging("record (its seq)");
        var command = new Command("list", """
            List audit records: who did what to which object, when, from where, with what result.

            Examples:
              headroom audit list
              headroom audit list --action keys.create --result success --from 2026-11-01
              headroom audit list --actor key_01j... --json
            """);
        filters.AddTo(command);
        command.Options.Add(ascending);
        command.Options.Add(limit);
        command.Options.Add(after);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var page = await api.GetAsync("v1/audit" + ClientOptions.Query([.. filters.Read(parse),
                ("order", parse.GetValue(ascending) ? "asc" : null),
                ("limit", parse.GetValue(limit)?.ToString(CultureInfo.InvariantCulture)), ("after", parse.GetValue(after))]), cancellationToken);
            return output.Page(page, ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "STATUS", "SOURCE", "REQUEST"], r =>
            [
                Output.Text(r["seq"]), Output.Time(r["time"]), Output.Text(r["actor"]), Output.Text(r["action"]), Output.Text(r["target"]),
                Output.Text(r["result"]), Output.Text(r["status_code"]), Output.Text(r["source_address"]), Output.Text(r["request_id"]),
            ]);
        });
        return command;
    }

    public static Command Export()
    {
        var filters = new Filters();
        var format = new Option<string>("--format") { Description = "ocsf (JSON lines) or cef", DefaultValueFactory = _ => "ocsf" };
        format.AcceptOnlyFromAmong("ocsf", "cef");
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write to this file instead of stdout", HelpName = "FILE" };
        var command = new Command("export", """
            Export the whole audit log, oldest first, for a SIEM: OCSF JSON lines or CEF. Streams, so any size fits.

            Examples:
              headroom audit export > audit.jsonl
              headroom audit export --format cef --from 2026-11-01 -o audit.cef
            """);
        filters.AddTo(command);
        command.Options.Add(format);
        command.Options.Add(file);
        ClientOptions.Attach(command, async (api, output, parse, cancellationToken) =>
        {
            var path = "v1/audit/export" + ClientOptions.Query([("format", parse.GetValue(format)), .. filters.Read(parse)]);
            Stream target;
            try
            {
                target = parse.GetValue(file) is { } f ? f.Create() : Console.OpenStandardOutput();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Output.Usage($"--output: {ex.Message}");
            }
            await using (target)
            {
                var result = await api.StreamAsync(path, target, cancellationToken);
                return result.Ok ? ExitCodes.Ok : Output.Fail(result);
            }
        });
        return command;
    }

    /// <summary>The filters both commands share, as the API names them.</summary>
    private sealed class Filters
    {
        private readonly Option<string?> _action = new("--action") { Description = "Only this action, e.g. jobs.create" };
        private readonly Option<string?> _actor = new("--actor") { Description = "Only this actor (a key id or a user)" };
        private readonly Option<string?> _target = new("--target") { Description = "Only records about this object id" };
        private readonly Option<string?> _result = new("--result") { Description = "success or failure" };
        private readonly Option<string?> _from = new("--from") { Description = "From this time (RFC 3339)", HelpName = "TIME" };
        private readonly Option<string?> _to = new("--to") { Description = "Before this time (RFC 3339)", HelpName = "TIME" };
        private readonly Option<string?> _org = new("--org") { Description = "Another org's log (the operator only)", HelpName = "ORG_ID" };

        public void AddTo(Command command)
        {
            _result.AcceptOnlyFromAmong("success", "failure");
            foreach (var option in new[] { _action, _actor, _target, _result, _from, _to, _org })
                command.Options.Add(option);
        }

        public IEnumerable<(string, string?)> Read(ParseResult parse) =>
        [
            ("action", parse.GetValue(_action)), ("actor", parse.GetValue(_actor)), ("target", parse.GetValue(_target)),
            ("result", parse.GetValue(_result)), ("from", parse.GetValue(_from)), ("to", parse.GetValue(_to)), ("org_id", parse.GetValue(_org)),
        ];
    }
}
