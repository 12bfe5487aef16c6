using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Tests;

namespace Headroom.Cli.Tests;

/// <summary><c>headroom up --model</c>: the models it serves, and a model call's usage surviving a kill -9 right after its answer.</summary>
public sealed class ModelServingTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_call_answered_just_before_a_kill_9_is_metered_exactly_once_after_the_restart()
    {
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        TinyGguf.Write(gguf);
        var data = Path.Combine(_dir.Path, "data");
        string[] args = ["up", "--data", data, "--port", "0", "--model", $"tiny={gguf}"];
        // The same replica id after the restart takes the control-loop lease back at once.
        var env = new Dictionary<string, string> { ["HEADROOM_REPLICA_ID"] = "box-control-plane" };

        string callId;
        await using (var first = HeadroomProcess.Start(args, env))
        {
            using var client = await AdminApi.ClientAsync(first, data);
            // The banner's lines follow the address line; wait for them rather than race the output reader.
            for (var waited = 0; !first.Output.Contains("Models:", StringComparison.Ordinal) && waited < 100; waited++)
                await Task.Delay(100);
            Assert.Contains("Models:   all-minilm-l6-v2, tiny", first.Output, StringComparison.Ordinal);
            using (var project = await client.PostAsJsonAsync("/v1/projects", new { name = "calls" }))
                Assert.True(project.IsSuccessStatusCode, await project.Content.ReadAsStringAsync());
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", new
            {
                model = "tiny", max_tokens = 4, messages = new[] { new { role = "user", content = "hi" } },
            });
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            first.KillHard();
            Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
            callId = body["id"]!.GetValue<string>();
            Assert.Equal(callId, response.Headers.GetValues("X-Model-Call-Id").Single());
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        await using var second = HeadroomProcess.Start(args, env);
        using var again = await AdminApi.ClientAsync(second, data);
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (true)
        {
            var page = JsonNode.Parse(await again.GetStringAsync("/v1/usage/events?limit=100"))!;
            var ids = page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()).Where(id => id.StartsWith(callId, StringComparison.Ordinal)).ToList();
            if (ids.Count > 0)
            {
                Assert.Equal([$"{callId}:input_tokens", $"{callId}:output_tokens"], ids.Order(StringComparer.Ordinal));
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"the call {callId} was never metered:\n{second.Output}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task A_model_flag_without_a_file_stops_start_up_naming_it()
    {
        var (code, output) = await HeadroomProcess.RunAsync("up", "--data", _dir.Path, "--port", "0", "--model", "ghost=/nope/ghost.gguf", "--model", "nameless");

        Assert.Equal(2, code);
        Assert.Contains("models.ghost: file '/nope/ghost.gguf' does not exist", output, StringComparison.Ordinal);
        Assert.Contains("models.nameless: the path of a GGUF file is required", output, StringComparison.Ordinal);
    }
}
