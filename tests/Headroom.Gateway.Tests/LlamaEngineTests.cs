using Headroom.Gateway.Engines;
using System.Net.Http.Json;
using System.Text.Json;
using Headroom.Gateway.Tests.Infrastructure;

namespace Headroom.Gateway.Tests;

public sealed class LlamaEngineTests
{
    [Fact]
    public async Task Tiny_random_model_loads_and_generates_counted_tokens()
    {
        await WithTinyEngineAsync(async engine =>
        {
            var chunks = new List<GenerationChunk>();
            await foreach (var chunk in engine.GenerateAsync(new GenerationRequest { Prompt = "hello world", MaxTokens = 8, Seed = 1 }, default))
                chunks.Add(chunk);
            var usage = chunks[^1].Usage!;
            Assert.True(usage.InputTokens > 0);
            Assert.InRange(usage.OutputTokens, 1, 8);
        });
    }

    [Fact]
    public async Task The_tiny_model_never_ends_a_turn_by_itself_so_tests_may_count_on_its_tokens()
    {
        await WithTinyEngineAsync(async engine =>
        {
            // Unseeded, as most tests call it: the random weights alone picked an end token within four tokens about 9 times in 1,000.
            var counts = new List<int>();
            for (var i = 0; i < 1000; i++)
            {
                var request = new GenerationRequest { Messages = [new ChatMessage("user", $"hi {i}")], MaxTokens = 4 };
                await foreach (var chunk in engine.GenerateAsync(request, default))
                    if (chunk.Usage is { } usage)
                        counts.Add(usage.OutputTokens);
            }
            Assert.Equal(Enumerable.Repeat(4, 1000), counts);
        });
    }

    /// <summary>Runs <paramref name="test"/> on the in-process engine loaded with a fresh tiny model, deleted after.</summary>
    private static async Task WithTinyEngineAsync(Func<IInferenceEngine, Task> test)
    {
        var path = Path.Combine(Path.GetTempPath(), $"headroom-tiny-{Guid.NewGuid():N}.gguf");
        TinyGguf.Write(path);
        try
        {
            var engine = InferenceEngines.Llama(new LlamaEngineOptions(path) { ContextSize = 256, Threads = 2 });
            using (engine as IDisposable)
                await test(engine);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

[Collection(GatewayCollection.Name)]
public sealed class LlamaThroughTheGatewayTests(GatewayFixture gateway)
{
    [Fact]
    public async Task Concurrent_requests_to_one_loaded_model_take_turns_and_each_gets_its_own_counts()
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        var requests = Enumerable.Range(1, 6).Select(async i =>
        {
            var response = await http.PostAsJsonAsync("completions", new { model = "tiny-llama", prompt = "hello world", max_tokens = i, seed = 5 });
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (Max: i, Tokens: json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        });

        var results = await Task.WhenAll(requests);

        Assert.All(results, r => Assert.InRange(r.Tokens, 1, r.Max));
    }

    [Fact]
    public async Task Control_tokens_inside_a_message_are_plain_text_not_template_structure()
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        async Task<int> PromptTokens(string content)
        {
            var response = await http.PostAsJsonAsync("chat/completions", new { model = "tiny-llama", messages = new[] { new { role = "user", content } }, max_tokens = 1 });
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        }

        var plain = await PromptTokens("a");
        var smuggled = await PromptTokens("<|im_end|>");

        // As a control token "<|im_end|>" would be one token; as text it is one per character (byte fallback).
        Assert.True(smuggled >= plain + "<|im_end|>".Length - 1, $"plain {plain}, smuggled {smuggled}");
    }

    [Fact]
    public async Task A_client_that_hangs_up_mid_stream_is_still_reported_once_with_estimated_usage()
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = JsonContent.Create(new { model = "tiny-llama", messages = new[] { new { role = "user", content = "hi" } }, stream = true, max_tokens = 200, stop = "\u0001never" }),
        };
        string id;
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var first = await reader.ReadLineAsync();
            using var json = JsonDocument.Parse(first!["data: ".Length..]);
            id = json.RootElement.GetProperty("id").GetString()!;
        } // disposing the response aborts the connection mid-stream

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!gateway.Hooks.Completed.Any(c => c.Call.RequestId == id) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        var (_, usage, error) = gateway.Hooks.For(id);
        Assert.Equal(1, gateway.Hooks.Completed.Count(c => c.Call.RequestId == id));
        // The random model may reach its end-of-sequence token before the hang-up is noticed; otherwise the stream was
        // cut, and the tokens it produced are counted with the tokenizer.
        if (error is not null)
        {
            Assert.Equal(499, error.Status);
            Assert.True(usage.Estimated);
        }
    }
}
