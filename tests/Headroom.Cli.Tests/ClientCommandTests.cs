using System.Text.Json.Nodes;

namespace Headroom.Cli.Tests;

/// <summary>
/// The client commands run as a user runs them, against one real server: login and its config file, jobs from
/// submit to logs and cancel, keys, fleet, and the documented exit codes and error messages.
/// </summary>
public sealed class ClientCommandTests(ClientServerFixture server) : IClassFixture<ClientServerFixture>, IDisposable
{
    private readonly HeadroomCli _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Login_saves_a_0600_config_that_later_commands_use_and_logout_removes_it()
    {
        var xdg = Path.Combine(_cli.Home, "xdg");
        var env = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = xdg };
        var config = Path.Combine(xdg, "headroom", "config.json");

        // The key on stdin, as the help recommends; the endpoint as `up` prints it, with /v1.
        var login = await _cli.RunAsync(["login", "--endpoint", server.Endpoint + "/v1"], server.AdminKey + "\n", env);
        var projects = await _cli.RunAsync(["projects", "list"], null, env);
        var jobs = await _cli.RunAsync(["jobs", "list", "--project", "cli"], null, env);
        var saved = JsonNode.Parse(await File.ReadAllTextAsync(config))!;
        var mode = File.GetUnixFileMode(config);
        var dirMode = File.GetUnixFileMode(Path.GetDirectoryName(config)!);
        File.SetUnixFileMode(config, mode | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var exposed = await _cli.RunAsync(["orgs", "list"], null, env);
        var logout = await _cli.RunAsync(["logout"], null, env);
        var afterLogout = await _cli.RunAsync(["projects", "list"], null, env);

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("org internal", login.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, dirMode);
        Assert.Equal(server.Endpoint, saved["endpoint"]!.GetValue<string>());
        Assert.Equal(server.AdminKey, saved["key"]!.GetValue<string>());
        Assert.True(projects.ExitCode == 0, projects.ToString());
        Assert.Contains(server.ProjectId, projects.Stdout, StringComparison.Ordinal);
        Assert.True(jobs.ExitCode == 0, jobs.ToString());
        Assert.Equal(0, exposed.ExitCode);
        Assert.Contains($"warning: {config} holds an API key and can be read by others", exposed.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, logout.ExitCode);
        Assert.False(File.Exists(config));
        Assert.Equal(2, afterLogout.ExitCode);
        Assert.Contains("headroom login", afterLogout.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_with_a_bad_key_saves_nothing_and_exits_1_with_the_api_message_and_request_id()
    {
        var login = await _cli.RunAsync(["login", "--endpoint", server.Endpoint, "--key", "hr_nothing_nothing"]);
        var list = await _cli.RunAsync(["jobs", "list", "--endpoint", server.Endpoint, "--key", "hr_nothing_nothing"]);

        Assert.Equal(1, login.ExitCode);
        Assert.False(File.Exists(_cli.DefaultConfigPath));
        Assert.Equal(1, list.ExitCode);
        Assert.Matches(@"headroom: .+ \(HTTP 401 invalid_api_key, request req_\w+\)", list.Stderr);
        Assert.Equal("", list.Stdout);
    }

    [Fact]
    public async Task A_saved_key_is_not_sent_to_another_endpoint()
    {
        var login = await _cli.RunAsync(["login", "--endpoint", server.Endpoint], server.AdminKey);
        var elsewhere = await _cli.RunAsync("jobs", "list", "--endpoint", "http://127.0.0.1:1");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.True(File.Exists(_cli.DefaultConfigPath));
        Assert.Equal(2, elsewhere.ExitCode);
        Assert.Contains("pass --key", elsewhere.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_wait_runs_a_short_job_then_list_get_logs_and_events_show_it()
    {
        var submit = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "--project", "cli", "--name", "hello", "--env", "GREETING=hello-from-job",
            "--wait", "--", "/bin/sh", "-c", "echo \"$GREETING\"; echo second line"]);
        var id = submit.Stdout.Split(' ', '\n')[0];
        var list = await _cli.RunAsync(["jobs", "list", .. server.Auth, "--json"]);
        var table = await _cli.RunAsync(["jobs", "list", .. server.Auth, "--state", "succeeded"]);
        var logs = await _cli.RunAsync(["jobs", "logs", .. server.Auth, id]);
        var get = await _cli.RunAsync(["jobs", "get", .. server.Auth, id]);
        var events = await _cli.RunAsync(["jobs", "events", .. server.Auth, id]);

        Assert.True(submit.ExitCode == 0, submit.ToString());
        Assert.StartsWith("job_", id, StringComparison.Ordinal);
        Assert.Contains($"{id} succeeded (exit code 0)", submit.Stdout, StringComparison.Ordinal);
        var page = JsonNode.Parse(list.Stdout)!;
        var job = Assert.Single(page["data"]!.AsArray(), j => j!["id"]!.GetValue<string>() == id)!;
        Assert.Equal("hello", job["name"]!.GetValue<string>());
        Assert.Equal(server.ProjectId, job["project_id"]!.GetValue<string>());
        Assert.Matches($@"(?m)^{id}\s+hello\s+succeeded\s+on-demand\s+1\s+any\s+\d+[smh]$", table.Stdout);
        Assert.Equal("hello-from-job\nsecond line\n", logs.Stdout);
        Assert.Matches(@"(?m)^state:\s+succeeded", get.Stdout);
        Assert.Matches(@"(?m)^placement:\s+box-1 gpus 0", get.Stdout);
        Assert.Matches(@"(?m)^\S+ \S+\s+1\s+running\s+succeeded\s+exit code 0$", events.Stdout);
    }

    [Fact]
    public async Task Logs_follow_streams_until_the_job_ends_for_a_job_from_a_spec_file()
    {
        var spec = Path.Combine(_cli.Home, "job.json");
        await File.WriteAllTextAsync(spec, $$"""
            {"project_id": "{{server.ProjectId}}", "name": "from-file", "env": {"FIRST": "first", "LAST": "from-file"},
             "command": ["/bin/sh", "-c", "echo $FIRST; sleep 2; echo $LAST"]}
            """);
        var submit = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "-f", spec, "--name", "overridden", "--env", "LAST=last", "--json"]);
        var job = JsonNode.Parse(submit.Stdout)!;
        var id = job["id"]!.GetValue<string>();

        // Started while the job is queued or running: returns only once it has ended, with all of its output.
        var follow = await _cli.RunAsync(["jobs", "logs", .. server.Auth, id, "--follow"]);
        var ended = JsonNode.Parse(await server.Http.GetStringAsync($"/v1/jobs/{id}"))!;

        Assert.True(submit.ExitCode == 0, submit.ToString());
        Assert.Equal("overridden", job["name"]!.GetValue<string>());
        Assert.True(follow.ExitCode == 0, follow.ToString());
        Assert.Equal("first\nlast\n", follow.Stdout);
        Assert.Equal("succeeded", ended["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Submit_with_the_same_idempotency_key_and_spec_creates_one_job()
    {
        string[] submit = ["jobs", "submit", .. server.Auth, "--project", "cli", "--idempotency-key", "cli-test-" + Guid.NewGuid().ToString("N"), "--json", "--", "true"];

        var first = await _cli.RunAsync(submit);
        var second = await _cli.RunAsync(submit);

        Assert.True(first.ExitCode == 0 && second.ExitCode == 0, first + "\n" + second);
        Assert.Equal(JsonNode.Parse(first.Stdout)!["id"]!.GetValue<string>(), JsonNode.Parse(second.Stdout)!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Submit_wait_of_a_failing_job_exits_4_and_json_prints_the_final_job()
    {
        var submit = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "--project", server.ProjectId, "--wait", "--json", "--", "/bin/sh", "-c", "exit 3"]);

        Assert.True(submit.ExitCode == 4, submit.ToString());
        var job = JsonNode.Parse(submit.Stdout)!;
        Assert.Equal("failed", job["state"]!.GetValue<string>());
        Assert.Equal(3, job["exit_code"]!.GetValue<int>());
        Assert.Contains("failed", submit.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_stops_a_sleeping_job_and_a_second_cancel_is_refused_with_exit_1()
    {
        var submit = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "--project", "cli", "--json", "--", "sleep", "120"]);
        var id = JsonNode.Parse(submit.Stdout)!["id"]!.GetValue<string>();
        await server.WaitForJobAsync(id, "running");

        var cancel = await _cli.RunAsync(["jobs", "cancel", .. server.Auth, id]);
        await server.WaitForJobAsync(id, "cancelled");
        var again = await _cli.RunAsync(["jobs", "cancel", .. server.Auth, id]);

        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.Contains(id, cancel.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("The job is already cancelled. (HTTP 409 job_finished, request req_", again.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_create_prints_the_secret_once_list_shows_it_and_revoke_stops_it()
    {
        var create = await _cli.RunAsync(["keys", "create", "ci-test", .. server.Auth, "--role", "viewer", "--expires", "30d"]);
        var secret = create.Stdout.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("hr_", StringComparison.Ordinal));
        var keyId = create.Stdout.Split(' ')[1];
        var asNewKey = await _cli.RunAsync("projects", "list", "--endpoint", server.Endpoint, "--key", secret);
        var list = await _cli.RunAsync(["keys", "list", .. server.Auth]);
        var revoke = await _cli.RunAsync(["keys", "revoke", .. server.Auth, keyId]);
        var listed = JsonNode.Parse((await _cli.RunAsync(["keys", "list", .. server.Auth, "--json", "--limit", "100"])).Stdout)!;
        var afterRevoke = await _cli.RunAsync("projects", "list", "--endpoint", server.Endpoint, "--key", secret);

        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.StartsWith("key_", keyId, StringComparison.Ordinal);
        Assert.True(asNewKey.ExitCode == 0, asNewKey.ToString());
        Assert.Matches($@"(?m)^{keyId}\s+ci-test\s+hr_\w+\s+viewer\s+-\s+active\s", list.Stdout);
        Assert.DoesNotContain(secret, list.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, revoke.ExitCode);
        Assert.Contains($"Revoked {keyId}", revoke.Stdout, StringComparison.Ordinal);
        Assert.NotNull(Assert.Single(listed["data"]!.AsArray(), k => k!["id"]!.GetValue<string>() == keyId)!["revoked_at"]);
        Assert.Equal(1, afterRevoke.ExitCode);
        Assert.Contains("HTTP 401", afterRevoke.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_nodes_lists_the_local_box_and_cordon_and_uncordon_change_its_state()
    {
        var nodes = await _cli.RunAsync(["fleet", "nodes", .. server.Auth]);
        var cordon = await _cli.RunAsync(["fleet", "cordon", .. server.Auth, "box-1", "--reason", "cli test"]);
        var cordoned = await _cli.RunAsync(["fleet", "nodes", .. server.Auth, "--state", "cordoned", "--json"]);
        var uncordon = await _cli.RunAsync(["fleet", "uncordon", .. server.Auth, "box-1"]);
        var missing = await _cli.RunAsync(["fleet", "drain", .. server.Auth, "no-such-node"]);

        Assert.True(nodes.ExitCode == 0, nodes.ToString());
        Assert.Matches(@"(?m)^NAME\s+REGION\s+CLUSTER\s+RUNTIME\s+GPUS\s+CPU\s+MEMORY\s+STATE\s+REASON$", nodes.Stdout);
        Assert.Matches(@"(?m)^box-1\s+local\s+box\s+local\s+2x h100-80gb\s+8\s+16 GiB\s+ready$", nodes.Stdout);
        Assert.Equal("box-1 is cordoned.\n", cordon.Stdout);
        var node = Assert.Single(JsonNode.Parse(cordoned.Stdout)!["data"]!.AsArray())!;
        Assert.Equal("cli test", node["state_reason"]!.GetValue<string>());
        Assert.Equal("box-1 is ready.\n", uncordon.Stdout);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("No node with id 'no-such-node'.", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_terminal_tables_are_coloured_unless_NO_COLOR_and_wait_shows_a_spinner()
    {
        var coloured = await _cli.RunOnTerminalAsync(["fleet", "nodes", .. server.Auth]);
        var plain = await _cli.RunOnTerminalAsync(["fleet", "nodes", .. server.Auth], new Dictionary<string, string> { ["NO_COLOR"] = "1" });
        var wait = await _cli.RunOnTerminalAsync(["jobs", "submit", .. server.Auth, "--project", "cli", "--wait", "--", "sleep", "2"]);

        Assert.True(coloured.ExitCode == 0, coloured.ToString());
        Assert.Contains("\u001b[1mNAME", coloured.Stdout, StringComparison.Ordinal);
        Assert.Contains("\u001b[32mready", coloured.Stdout, StringComparison.Ordinal);
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.DoesNotContain("\u001b[1m", plain.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[32m", plain.Stdout, StringComparison.Ordinal);
        Assert.True(wait.ExitCode == 0, wait.ToString());
        Assert.Matches(@"\r\u001b\[2K. job_\w+ running on box-1 · \d+s", wait.Stdout);
        Assert.Matches(@"job_\w+ \u001b\[32msucceeded\u001b\[0m \(exit code 0\)", wait.Stdout);
    }

    [Fact]
    public async Task Members_are_added_by_email_given_a_role_and_removed()
    {
        var add = await _cli.RunAsync(["members", "add", .. server.Auth, "ada@example.com", "--role", "admin"]);
        var setRole = await _cli.RunAsync(["members", "set-role", .. server.Auth, "ada@example.com", "viewer"]);
        var list = await _cli.RunAsync(["members", "list", .. server.Auth]);
        var remove = await _cli.RunAsync(["members", "remove", .. server.Auth, "ada@example.com"]);
        var removeAgain = await _cli.RunAsync(["members", "remove", .. server.Auth, "ada@example.com"]);

        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Contains("ada@example.com is now viewer.", setRole.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^mem_\w+\s+ada@example.com\s+viewer\s", list.Stdout);
        Assert.Equal(0, remove.ExitCode);
        Assert.Equal(1, removeAgain.ExitCode);
        Assert.Contains("no member with email 'ada@example.com'", removeAgain.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_prices_orgs_and_audit_print_the_apis_json_with_json()
    {
        var usage = await _cli.RunAsync(["usage", .. server.Auth, "--group-by", "project,meter", "--json"]);
        var prices = await _cli.RunAsync(["prices", .. server.Auth, "--json"]);
        var orgs = await _cli.RunAsync(["orgs", "list", .. server.Auth]);
        var audit = await _cli.RunAsync(["audit", "list", .. server.Auth, "--action", "projects.create", "--json"]);
        var export = await _cli.RunAsync(["audit", "export", .. server.Auth, "--format", "ocsf", "--action", "projects.create"]);

        Assert.Equal("usage_report", JsonNode.Parse(usage.Stdout)!["object"]!.GetValue<string>());
        Assert.Equal(["project", "meter"], JsonNode.Parse(usage.Stdout)!["group_by"]!.AsArray().Select(g => g!.GetValue<string>()));
        Assert.Equal("price_sheet", JsonNode.Parse(prices.Stdout)!["object"]!.GetValue<string>());
        Assert.Matches(@"(?m)^org_internal\s+internal\s", orgs.Stdout);
        var record = Assert.Single(JsonNode.Parse(audit.Stdout)!["data"]!.AsArray())!;
        Assert.Equal(server.ProjectId, record["target"]!.GetValue<string>());
        var line = Assert.Single(export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("API Activity", JsonNode.Parse(line)!["class_name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Usage_errors_exit_2_and_an_unreachable_server_exits_3()
    {
        var badMemory = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "--memory", "12X", "--", "true"]);
        var noCommand = await _cli.RunAsync(["jobs", "submit", .. server.Auth, "--project", "cli"]);
        var unknown = await _cli.RunAsync("jobs", "frobnicate");
        var notLoggedIn = await _cli.RunAsync("jobs", "list");
        var unreachable = await _cli.RunAsync("jobs", "list", "--endpoint", "http://127.0.0.1:1", "--key", "hr_x_y");
        var missingJob = await _cli.RunAsync(["jobs", "get", .. server.Auth, "job_missing"]);

        Assert.Equal(2, badMemory.ExitCode);
        Assert.Contains("'12X' is not a size", badMemory.Stderr + badMemory.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, noCommand.ExitCode);
        Assert.Contains("no command", noCommand.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Equal(2, notLoggedIn.ExitCode);
        Assert.Equal(3, unreachable.ExitCode);
        Assert.Contains("cannot reach http://127.0.0.1:1", unreachable.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, missingJob.ExitCode);
        Assert.Contains("No job with id 'job_missing'.", missingJob.Stderr, StringComparison.Ordinal);
    }
}
