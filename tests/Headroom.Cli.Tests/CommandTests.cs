using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Headroom.Tests;
using Microsoft.Data.Sqlite;

namespace Headroom.Cli.Tests;

/// <summary>The real executable: start-up, first-run key, clean stop, migrate, audit verify.</summary>
public sealed class CommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Version_prints_the_version()
    {
        var (code, output) = await HeadroomProcess.RunAsync("version");

        Assert.Equal(0, code);
        Assert.Matches(@"^headroom \d+\.\d+\.\d+", output);
    }

    [Fact]
    public async Task Help_lists_the_commands_and_up_shows_examples()
    {
        var (code, output) = await HeadroomProcess.RunAsync("--help");
        var (upCode, upHelp) = await HeadroomProcess.RunAsync("up", "--help");

        Assert.Equal((0, 0), (code, upCode));
        foreach (var command in new[] { "up", "migrate", "audit", "version" })
            Assert.Contains(command, output, StringComparison.Ordinal);
        foreach (var option in new[] { "--data", "--listen", "--port", "--database", "--fleet", "--config", "Examples:" })
            Assert.Contains(option, upHelp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_with_bad_settings_lists_every_problem_and_exits_2()
    {
        var (code, output) = await HeadroomProcess.RunAsync("up", "--data", _dir.Path, "--port", "99999", "--listen", "nowhere", "--fleet", "/missing.yaml");

        Assert.Equal(2, code);
        Assert.Contains("3 problems", output, StringComparison.Ordinal);
        Assert.Contains("port:", output, StringComparison.Ordinal);
        Assert.Contains("listen:", output, StringComparison.Ordinal);
        Assert.Contains("fleet:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_creates_the_operator_org_prints_its_key_once_and_stops_cleanly_on_sigterm()
    {
        var data = Path.Combine(_dir.Path, "data");
        string key;
        await using (var first = HeadroomProcess.Start(["up", "--data", data, "--port", "0"]))
        {
            var address = await first.AddressAsync();
            key = (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim();
            using var client = new HttpClient { BaseAddress = address };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var orgs = JsonNode.Parse(await client.GetStringAsync("/v1/orgs"))!;

            first.Terminate();
            var code = await first.WaitForExitAsync(TimeSpan.FromSeconds(20));

            Assert.Equal(0, code);
            Assert.Contains(key, first.Output, StringComparison.Ordinal);
            Assert.Equal("internal", orgs["data"]![0]!["name"]!.GetValue<string>());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "admin.key")));
        }

        await using var second = HeadroomProcess.Start(["up", "--data", data, "--port", "0"]);
        await second.AddressAsync();
        second.Terminate();
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain(key, second.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_applies_once_then_reports_the_store_up_to_date()
    {
        var (first, firstOutput) = await HeadroomProcess.RunAsync("migrate", "--data", _dir.Path);
        var (second, secondOutput) = await HeadroomProcess.RunAsync("migrate", "--data", _dir.Path);

        Assert.Equal((0, 0), (first, second));
        Assert.Contains("Applied", firstOutput, StringComparison.Ordinal);
        Assert.Contains("up to date", secondOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_verify_passes_an_intact_log_and_names_an_edited_record()
    {
        var data = Path.Combine(_dir.Path, "data");
        await using (var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0"]))
        {
            var address = await server.AddressAsync();
            using var client = new HttpClient { BaseAddress = address };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim());
            for (var i = 0; i < 3; i++)
            {
                using var response = await client.PostAsync("/v1/projects", new StringContent($$"""{"name":"p{{i}}"}""", System.Text.Encoding.UTF8, "application/json"));
                response.EnsureSuccessStatusCode();
            }
            server.Terminate();
            await server.WaitForExitAsync(TimeSpan.FromSeconds(20));
        }

        var (clean, cleanOutput) = await HeadroomProcess.RunAsync("audit", "verify", "--data", data);
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(data, "headroom.db")}"))
        {
            await connection.OpenAsync();
            await using var edit = connection.CreateCommand();
            edit.CommandText = "UPDATE audit_records SET target = 'prj_forged' WHERE seq = 2";
            Assert.Equal(1, await edit.ExecuteNonQueryAsync());
        }
        var (tampered, tamperedOutput) = await HeadroomProcess.RunAsync("audit", "verify", "--data", data, "--json");

        Assert.Equal(0, clean);
        Assert.Contains("intact: 3 records", cleanOutput, StringComparison.Ordinal);
        Assert.Equal(1, tampered);
        var report = JsonNode.Parse(tamperedOutput.Trim().Split('\n')[^1])!;
        Assert.Contains(report["findings"]!.AsArray(), f => f!["seq"]!.GetValue<long>() == 2 && f["kind"]!.GetValue<string>() == "Edited");
    }
}
