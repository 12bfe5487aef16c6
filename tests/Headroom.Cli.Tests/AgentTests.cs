using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// <c>headroom agent</c> against a real <c>headroom up</c>, with a stand-in for nvidia-smi that prints what a real
/// H100 node printed (../shared/fixtures): its heartbeats keep the node ready, a GPU error drains it, and when the
/// agent stops the node goes down.
/// </summary>
public sealed class AgentTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_agent_reports_health_and_its_silence_takes_the_node_down()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(2));
        var data = Path.Combine(_dir.Path, "data");
        await using var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet],
            new Dictionary<string, string> { ["HEADROOM_NODE_DOWN_AFTER_SECONDS"] = "2" });
        var address = await server.AddressAsync();
        var keyFile = Path.Combine(data, "admin.key");
        using var client = new HttpClient { BaseAddress = address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(keyFile)).Trim());

        // The stand-in prints the file `gpus`, whatever it is asked, as nvidia-smi prints its query.
        var gpus = Path.Combine(_dir.Path, "gpus.csv");
        var nvidiaSmi = Path.Combine(_dir.Path, "nvidia-smi");
        await File.WriteAllTextAsync(gpus, Gpus(ecc: 0));
        await File.WriteAllTextAsync(nvidiaSmi, $"#!/bin/sh\ncat '{gpus}'\n");
        File.SetUnixFileMode(nvidiaSmi, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        await using var agent = HeadroomProcess.Start(["agent", "--endpoint", address.ToString(), "--key-file", keyFile, "--node", "box-1",
            "--interval-seconds", "1", "--nvidia-smi", nvidiaSmi]);
        await WaitForAsync(client, "ready", reason => reason.Length == 0, agent);

        await File.WriteAllTextAsync(gpus, Gpus(ecc: 3));
        var drained = await WaitForAsync(client, "draining", reason => reason.Contains("uncorrectable ECC", StringComparison.Ordinal), agent);

        await File.WriteAllTextAsync(gpus, Gpus(ecc: 0));
        await WaitForAsync(client, "ready", reason => reason.Length == 0, agent);

        agent.Terminate();
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        var down = await WaitForAsync(client, "down", reason => reason.StartsWith("no heartbeat since", StringComparison.Ordinal), agent);

        Assert.Contains("GPU 1", drained, StringComparison.Ordinal);
        Assert.Contains("node box-1: draining", agent.Output, StringComparison.Ordinal);
        Assert.StartsWith("no heartbeat since", down, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_node_name_stops_the_agent_with_the_servers_answer()
    {
        var data = Path.Combine(_dir.Path, "data");
        await using var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0"]);
        var address = await server.AddressAsync();

        await using var agent = HeadroomProcess.Start(["agent", "--endpoint", address.ToString(), "--key-file", Path.Combine(data, "admin.key"),
            "--node", "no-such-node", "--nvidia-smi", "/bin/true"]);

        Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("404", agent.Output, StringComparison.Ordinal);
    }

    private static string Gpus(int ecc) =>
        "0, GPU-1fd8df79-c8c2-0a90-4940-d449e947a5fc, NVIDIA H100 80GB HBM3, 00000000:00:06.0, 81559, 0, 81079, 0, 0, 37, 73.20, 700.00, 345, 1980, 0, P0, Disabled\n" +
        $"1, GPU-2fd8df79-c8c2-0a90-4940-d449e947a5fc, NVIDIA H100 80GB HBM3, 00000000:00:07.0, 81559, 0, 81079, 0, 0, 38, 73.20, 700.00, 345, 1980, {ecc}, P0, Disabled\n";

    private static async Task<string> WaitForAsync(HttpClient client, string state, Func<string, bool> reason, HeadroomProcess agent)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var node = JsonNode.Parse(await client.GetStringAsync("/v1/fleet/nodes/box-1"))!;
            var why = node["state_reason"]!.GetValue<string>();
            if (node["state"]!.GetValue<string>() == state && reason(why) && node["last_heartbeat_at"] is not null)
                return why;
            Assert.True(DateTime.UtcNow < deadline, $"node is {node["state"]} ({why}), waiting for {state}; agent said:\n{agent.Output}");
            await Task.Delay(200);
        }
    }
}
