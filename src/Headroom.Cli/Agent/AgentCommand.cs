using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Headroom.Core.Fleet;

namespace Headroom.Cli.Agent;

/// <summary>
/// <c>headroom agent</c>: the node agent. Every interval it runs <c>nvidia-smi</c> on its node and sends the output to
/// the control plane as a heartbeat; the server judges the GPUs' health (<c>POST /v1/fleet/nodes/{id}/heartbeat</c>).
/// When heartbeats stop, the server marks the node down after <c>node_down_after_seconds</c>.
/// </summary>
internal static class AgentCommand
{
    private static readonly TimeSpan NvidiaSmiTimeout = TimeSpan.FromSeconds(15);

    internal static Command Create()
    {
        var endpoint = new Option<string>("--endpoint") { Description = "The control plane's address, e.g. https://headroom.example.com.", Required = true };
        var keyFile = new Option<FileInfo>("--key-file") { Description = "A file holding a fleet-admin API key (hr_...).", Required = true };
        var node = new Option<string>("--node") { Description = "This node's name in the fleet.", Required = true };
        var interval = new Option<int>("--interval-seconds") { Description = "Seconds between heartbeats.", DefaultValueFactory = _ => 5 };
        var nvidiaSmi = new Option<string>("--nvidia-smi") { Description = "The nvidia-smi program to run.", DefaultValueFactory = _ => NvidiaSmi.FileName };
        var command = new Command("agent", """
            Run the node agent: report this node's GPUs (nvidia-smi) and their health to the control plane as heartbeats.
            A node with uncorrectable ECC errors, an overheated GPU or GPUs gone missing is drained; one whose heartbeats
            stop is marked down and its jobs are requeued from their checkpoints. Stops on SIGTERM or Ctrl-C.

            Examples:
              headroom agent --endpoint https://headroom.example.com --key-file /etc/headroom/agent.key --node gpu-017
              headroom agent --endpoint http://127.0.0.1:8080 --key-file key --node box-1 --interval-seconds 2
            """)
        {
            endpoint, keyFile, node, interval, nvidiaSmi,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!Uri.TryCreate(parse.GetRequiredValue(endpoint), UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
            {
                error.WriteLine("--endpoint: expected an http or https address, e.g. https://headroom.example.com");
                return 2;
            }
            var seconds = parse.GetValue(interval);
            if (seconds is < 1 or > 3600)
            {
                error.WriteLine("--interval-seconds: must be in 1..3600");
                return 2;
            }
            string key;
            try
            {
                key = (await File.ReadAllTextAsync(parse.GetRequiredValue(keyFile).FullName, cancellationToken)).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"--key-file: {e.Message}");
                return 2;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var path = $"/v1/fleet/nodes/{Uri.EscapeDataString(parse.GetRequiredValue(node))}/heartbeat";
            string? lastState = null;
            while (!stop.IsCancellationRequested)
            {
                var report = await ReadGpusAsync(parse.GetRequiredValue(nvidiaSmi), stop.Token);
                try
                {
                    using var response = await http.PostAsJsonAsync(path, report, stop.Token);
                    var body = await response.Content.ReadAsStringAsync(stop.Token);
                    if (!response.IsSuccessStatusCode)
                    {
                        error.WriteLine($"heartbeat refused ({(int)response.StatusCode}): {body}");
                        if (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden or System.Net.HttpStatusCode.NotFound)
                            return 1; // no retry fixes a wrong key or node name
                    }
                    else if (JsonNode.Parse(body)?["node"] is { } view)
                    {
                        var state = $"{view["state"]} {view["state_reason"]}".Trim();
                        if (state != lastState)
                            output.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ} node {view["name"]}: {state}");
                        lastState = state;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stop.IsCancellationRequested)
                {
                    error.WriteLine($"control plane unreachable: {e.Message}");
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(seconds), stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            return 0;
        });
        return command;
    }

    /// <summary>nvidia-smi's CSV report, or why there is none (not installed, failed, hung).</summary>
    private static async Task<Dictionary<string, string>> ReadGpusAsync(string program, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in NvidiaSmi.QueryArguments)
            start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start)!;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(NvidiaSmiTimeout);
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                return new() { ["error"] = $"{program} did not answer within {NvidiaSmiTimeout.TotalSeconds} s" };
            }
            return process.ExitCode == 0
                ? new() { ["nvidia_smi"] = await stdout }
                : new() { ["error"] = $"{program} exited with {process.ExitCode}: {(await stderr).Trim()}" };
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new() { ["error"] = $"{program} could not be run: {e.Message}" };
        }
    }
}
