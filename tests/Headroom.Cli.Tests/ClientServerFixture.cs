using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// One real <c>headroom up</c> for a whole test class (CI has two cores): a local box with 2 GPUs run by the local
/// runtime, so jobs run here as processes, and one project for them. Tests reach it through the CLI; the HTTP
/// client is for setting up and for waiting, not for what is under test.
/// </summary>
public sealed class ClientServerFixture : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private HeadroomProcess? _server;

    public string Endpoint { get; private set; } = "";

    public string AdminKey { get; private set; } = "";

    public string ProjectId { get; private set; } = "";

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The admin's credentials as flags, for commands that do not go through a saved login.</summary>
    public string[] Auth => ["--endpoint", Endpoint, "--key", AdminKey];

    public async Task InitializeAsync()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(2));
        var data = Path.Combine(_dir.Path, "data");
        _server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet]);
        var address = await _server.AddressAsync();
        Endpoint = address.ToString().TrimEnd('/');
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim();
        Http = new HttpClient { BaseAddress = address };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await Http.PostAsync("/v1/projects", new StringContent("""{"name":"cli"}""", Encoding.UTF8, "application/json"));
        ProjectId = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
    }

    /// <summary>Polls a job until it is in <paramref name="state"/>; fails with its last state after 60 s.</summary>
    public async Task<JsonNode> WaitForJobAsync(string id, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = JsonNode.Parse(await Http.GetStringAsync($"/v1/jobs/{id}"))!;
            if (job["state"]!.GetValue<string>() == state)
                return job;
            Assert.True(DateTime.UtcNow < deadline, $"job {id} is {job["state"]} ({job["state_reason"]}), waiting for {state}");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_server is not null)
        {
            _server.Terminate();
            await _server.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await _server.DisposeAsync();
        }
        _dir.Dispose();
    }
}
