using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary>
/// A node agent cut off from the control plane by a loopback proxy that drops its traffic: a short cut changes
/// nothing; a long one takes the node down, the job there is stopped before its next attempt starts, and no attempt
/// is charged for time another attempt was charged for.
/// </summary>
public sealed class PartitionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_cut_off_agent_never_leaves_a_job_running_twice_or_charged_twice()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(1));
        var data = Path.Combine(_dir.Path, "data");
        await using var server = HeadroomProcess.Start(["up", "--data", data, "--port", "0", "--fleet", fleet],
            new Dictionary<string, string> { ["HEADROOM_NODE_DOWN_AFTER_SECONDS"] = "3" });
        var address = await server.AddressAsync();
        var keyFile = Path.Combine(data, "admin.key");
        using var client = new HttpClient { BaseAddress = address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(keyFile)).Trim());

        await using var proxy = new CuttableProxy(address.Port);
        var nvidiaSmi = Path.Combine(_dir.Path, "nvidia-smi");
        await File.WriteAllTextAsync(nvidiaSmi, "#!/bin/sh\necho '0, GPU-1fd8df79-c8c2-0a90-4940-d449e947a5fc, NVIDIA H100 80GB HBM3, 00000000:00:06.0, 81559, 0, 81079, 0, 0, 37, 73.20, 700.00, 345, 1980, 0, P0, Disabled'\n");
        File.SetUnixFileMode(nvidiaSmi, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var agent = HeadroomProcess.Start(["agent", "--endpoint", $"http://127.0.0.1:{proxy.Port}", "--key-file", keyFile, "--node", "box-1",
            "--interval-seconds", "1", "--nvidia-smi", nvidiaSmi]);
        await WaitAsync(async () => (await NodeAsync(client))["last_heartbeat_at"] is not null, "the first heartbeat", agent);

        var project = (await AdminApi.PostAsync(client, "/v1/projects", """{"name":"partition"}"""))["id"]!.GetValue<string>();
        var id = (await AdminApi.PostAsync(client, "/v1/jobs", $$"""
            {"project_id":"{{project}}","checkpoint":"requeue","command":["/bin/sh","-c",
             "dir=$HEADROOM_CHECKPOINT_DIR; a=$HEADROOM_ATTEMPT; date +%s.%N > \"$dir/s.tmp.$a\"; mv \"$dir/s.tmp.$a\" \"$dir/start.$a\"; while :; do date +%s.%N > \"$dir/a.tmp.$a\"; mv \"$dir/a.tmp.$a\" \"$dir/alive.$a\"; sleep 0.2; done"]}
            """))["id"]!.GetValue<string>();
        await WaitAsync(async () => (await JobAsync(client, id))["state"]!.GetValue<string>() == "running", "the job to run", agent);

        // A cut shorter than node_down_after_seconds: nothing happens.
        proxy.Cut = true;
        await Task.Delay(TimeSpan.FromSeconds(1));
        proxy.Cut = false;
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal("ready", (await NodeAsync(client))["state"]!.GetValue<string>());
        Assert.Equal(1, (await JobAsync(client, id))["attempt"]!.GetValue<int>());

        // A long cut: the node goes down and the job is stopped, lost and requeued; it waits for a node.
        proxy.Cut = true;
        await WaitAsync(async () => (await JobAsync(client, id))["attempt"]!.GetValue<int>() == 2, "the job to be requeued", agent);
        Assert.Equal("down", (await NodeAsync(client))["state"]!.GetValue<string>());
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal("queued", (await JobAsync(client, id))["state"]!.GetValue<string>());

        // The agent gets through again: the node is back and attempt 2 runs there.
        proxy.Cut = false;
        await WaitAsync(async () => (await JobAsync(client, id))["state"]!.GetValue<string>() == "running", "attempt 2 to run", agent);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await AdminApi.PostAsync(client, $"/v1/jobs/{id}/cancel", "{}");
        await WaitAsync(async () => (await JobAsync(client, id))["state"]!.GetValue<string>() == "cancelled", "the cancel", agent);

        // Attempt 1 was dead before attempt 2 started. (Each beat is written to a scratch file and renamed, so a kill
        // between the shell's truncate and date's write cannot leave an empty beat behind.)
        var checkpoints = Path.Combine(data, "jobs", "checkpoints", id);
        var lastAlive1 = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "alive.1")), CultureInfo.InvariantCulture);
        var start2 = double.Parse(await File.ReadAllTextAsync(Path.Combine(checkpoints, "start.2")), CultureInfo.InvariantCulture);
        Assert.True(lastAlive1 < start2, $"attempt 1 beat at {lastAlive1}, after attempt 2 started at {start2}");

        // Each attempt is charged once, for its own stretch, and the stretches do not overlap.
        JsonArray events = [];
        await WaitAsync(async () =>
        {
            events = JsonNode.Parse(await client.GetStringAsync("/v1/usage/events?limit=100"))!["data"]!.AsArray();
            return events.Count == 2;
        }, "both attempts to be metered", agent);
        var byAttempt = events.ToDictionary(e => e!["id"]!.GetValue<string>(), e => e!);
        var end1 = DateTimeOffset.Parse(byAttempt[$"{id}:1"]["end"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        var startCharged2 = DateTimeOffset.Parse(byAttempt[$"{id}:2"]["start"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        Assert.True(end1 <= startCharged2, $"attempt 1 charged until {end1:O}, attempt 2 from {startCharged2:O}");
    }

    private static Task<JsonNode> NodeAsync(HttpClient client) => GetAsync(client, "/v1/fleet/nodes/box-1");

    private static Task<JsonNode> JobAsync(HttpClient client, string id) => GetAsync(client, $"/v1/jobs/{id}");

    private static async Task<JsonNode> GetAsync(HttpClient client, string path) => JsonNode.Parse(await client.GetStringAsync(path))!;

    private static async Task WaitAsync(Func<Task<bool>> until, string what, HeadroomProcess agent)
    {
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (!await until())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}; agent said:\n{agent.Output}");
            await Task.Delay(200);
        }
    }

    /// <summary>A TCP proxy on loopback that, while <see cref="Cut"/>, drops every connection it holds and every new one.</summary>
    private sealed class CuttableProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _open = [];
        private readonly Task _accepting;
        private volatile bool _cut;

        public CuttableProxy(int target)
        {
            _target = target;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public bool Cut
        {
            get => _cut;
            set
            {
                _cut = value;
                if (value)
                {
                    lock (_open)
                    {
                        foreach (var c in _open)
                            c.Dispose();
                        _open.Clear();
                    }
                }
            }
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient inbound;
                try
                {
                    inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (_cut)
                {
                    inbound.Dispose();
                    continue;
                }
                _ = PipeAsync(inbound);
            }
        }

        private async Task PipeAsync(TcpClient inbound)
        {
            using var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                lock (_open)
                {
                    _open.Add(inbound);
                    _open.Add(outbound);
                }
                await Task.WhenAny(
                    inbound.GetStream().CopyToAsync(outbound.GetStream(), _stop.Token),
                    outbound.GetStream().CopyToAsync(inbound.GetStream(), _stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // A cut or the end of the test.
            }
            finally
            {
                inbound.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            Cut = true;
            try
            {
                await _accepting;
            }
            catch (OperationCanceledException)
            {
            }
            _stop.Dispose();
        }
    }
}
