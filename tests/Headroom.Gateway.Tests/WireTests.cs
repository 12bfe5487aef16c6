using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Headroom.Gateway.Engines;
using Headroom.Gateway.OpenAi;
using Headroom.Gateway.Tests.Infrastructure;

namespace Headroom.Gateway.Tests;

/// <summary>The bytes on the wire, where the SDKs are lenient: SSE framing, error bodies, field tolerance.</summary>
[Collection(GatewayCollection.Name)]
public sealed class WireTests(GatewayFixture gateway) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = gateway.BaseUrl };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task A_stream_is_data_events_then_a_usage_chunk_then_DONE()
    {
        var response = await _http.PostAsJsonAsync("chat/completions", new
        {
            model = "upstream-chat",
            messages = new[] { new { role = "user", content = "hi" } },
            stream = true,
            stream_options = new { include_usage = true },
            user = "end-user-7",
            metadata = new { team = "a" },
            store = false,
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", events[^1]);
        using var usageChunk = JsonDocument.Parse(events[^2]["data: ".Length..]);
        Assert.Equal(0, usageChunk.RootElement.GetProperty("choices").GetArrayLength());
        Assert.Equal(9, usageChunk.RootElement.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        using var first = JsonDocument.Parse(events[0]["data: ".Length..]);
        Assert.Equal("chat.completion.chunk", first.RootElement.GetProperty("object").GetString());
        Assert.Equal("assistant", first.RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
    }

    [Fact]
    public async Task A_streamed_piece_reaches_the_client_while_the_engine_is_still_working_on_the_next()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = JsonContent.Create(new { model = "gated", messages = new[] { new { role = "user", content = "hi" } }, stream = true }),
        };
        // The engine waits after "first" until the gate opens: the piece (and the headers) must arrive before that.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        HttpResponseMessage? response = null;
        StreamReader? reader = null;
        var seen = new StringBuilder();
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
            while (!seen.ToString().Contains("\"first\"", StringComparison.Ordinal))
                seen.AppendLine(await reader.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException($"the stream ended early: {seen}"));
        }
        finally
        {
            gateway.Gated.Open();
        }
        using (response)
        using (reader)
            seen.Append(await reader.ReadToEndAsync());

        Assert.Contains("\" second\"", seen.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", seen.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_include_usage_a_stream_has_no_usage_chunk_but_is_still_metered()
    {
        var response = await _http.PostAsJsonAsync("chat/completions", new
        {
            model = "tiny-llama",
            messages = new[] { new { role = "user", content = "hi" } },
            stream = true,
            max_completion_tokens = 3,
        });
        var body = await response.Content.ReadAsStringAsync();

        Assert.DoesNotContain("\"usage\"", body, StringComparison.Ordinal);
        using var first = JsonDocument.Parse(body.Split("\n\n")[0]["data: ".Length..]);
        var id = first.RootElement.GetProperty("id").GetString()!;
        var usage = gateway.Hooks.For(id).Usage;
        Assert.InRange(usage.OutputTokens, 1, 3);
        Assert.False(usage.Estimated);
    }

    [Theory]
    [InlineData("{not json", null)]
    [InlineData("[1,2]", null)]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":"tiny-llama"}""", "messages")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"n":2}""", "n")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"top_p":1.5}""", "top_p")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"seed":"x"}""", "seed")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}""", "tool_choice")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "stream")]
    [InlineData("""{"model":"\ud800","messages":[{"role":"user","content":"hi"}]}""", null)]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":"a lone \udc00 surrogate"}]}""", null)]
    public async Task Malformed_chat_requests_are_400s_in_OpenAI_shape(string body, string? param)
    {
        var response = await _http.PostAsync("chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.True(error.TryGetProperty("code", out _), "code is present, null or not");
    }

    [Fact]
    public async Task Tolerated_fields_do_not_refuse_the_in_process_engine()
    {
        var response = await _http.PostAsJsonAsync("chat/completions", new
        {
            model = "tiny-llama",
            messages = new object[] { new { role = "developer", content = "be brief" }, new { role = "user", content = new[] { new { type = "text", text = "hi" } } } },
            max_tokens = 2,
            n = 1,
            tools = Array.Empty<object>(),
            tool_choice = "none",
            response_format = new { type = "text" },
            user = "u",
            stream = false,
            logit_bias = new { },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_429_carries_Retry_After_and_the_rate_limit_shape()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = JsonContent.Create(new { model = "tiny-llama", messages = new[] { new { role = "user", content = "hi" } } }),
        };
        request.Headers.Authorization = new("Bearer", "sk-refuse-429");

        var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter!.Delta);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", json.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task When_usage_cannot_be_reported_the_request_is_not_acknowledged()
    {
        var plain = await SendAsAsync("sk-journal-down", new { model = "upstream-chat", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.InternalServerError, plain.StatusCode);
        Assert.Contains("server_error", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var stream = await SendAsAsync("sk-journal-down", new { model = "upstream-chat", messages = new[] { new { role = "user", content = "hi" } }, stream = true });
        var events = (await stream.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("\"error\"", events[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("data: [DONE]", events);

        var embeddings = await SendAsAsync("sk-journal-down", new { model = "all-minilm-l6-v2", input = "x" }, "embeddings");
        Assert.Equal(HttpStatusCode.InternalServerError, embeddings.StatusCode);
    }

    private async Task<HttpResponseMessage> SendAsAsync(string apiKey, object body, string path = "chat/completions")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", apiKey);
        return await _http.SendAsync(request);
    }

    [Fact]
    public async Task Completions_work_plain_and_streaming_with_stop_sequences_honoured()
    {
        var (text, finish, tokens) = await CompleteAsync(new { model = "tiny-llama", prompt = "the cat", max_tokens = 12, seed = 3, temperature = 1.0 });
        Assert.InRange(tokens, 1, 12);
        Assert.Equal(tokens == 12 ? "length" : "stop", finish);

        // The same seed with a stop sequence taken from that text: the output ends just before it.
        Assert.True(text.Length >= 4, $"the seeded tiny model wrote '{text}'");
        var stop = text.Substring(text.Length / 2, 2);
        var (stopped, stoppedFinish, _) = await CompleteAsync(new { model = "tiny-llama", prompt = "the cat", max_tokens = 12, seed = 3, temperature = 1.0, stop });
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped);
        Assert.Equal("stop", stoppedFinish);

        var streamed = await _http.PostAsJsonAsync("completions", new { model = "tiny-llama", prompt = "the cat", max_tokens = 12, seed = 3, temperature = 1.0, stream = true, stream_options = new { include_usage = true } });
        var events = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Equal(text, string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal(tokens, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    private async Task<(string Text, string Finish, int Tokens)> CompleteAsync(object body)
    {
        var response = await _http.PostAsJsonAsync("completions", body);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = json.RootElement.GetProperty("choices")[0];
        return (choice.GetProperty("text").GetString()!, choice.GetProperty("finish_reason").GetString()!,
            json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Embeddings_refuse_unknown_encodings_and_token_arrays()
    {
        var badFormat = await _http.PostAsJsonAsync("embeddings", new { model = "all-minilm-l6-v2", input = "x", encoding_format = "int8" });
        Assert.Equal(HttpStatusCode.BadRequest, badFormat.StatusCode);
        var tokens = await _http.PostAsJsonAsync("embeddings", new { model = "all-minilm-l6-v2", input = new[] { new[] { 1, 2 } } });
        Assert.Equal(HttpStatusCode.BadRequest, tokens.StatusCode);
        var dims = await _http.PostAsJsonAsync("embeddings", new { model = "all-minilm-l6-v2", input = "x", dimensions = 128 });
        Assert.Equal(HttpStatusCode.BadRequest, dims.StatusCode);
        var notANumber = await _http.PostAsJsonAsync("embeddings", new { model = "all-minilm-l6-v2", input = "x", dimensions = new { } });
        Assert.Equal(HttpStatusCode.BadRequest, notANumber.StatusCode);
        var chatModel = await _http.PostAsJsonAsync("embeddings", new { model = "tiny-llama", input = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, chatModel.StatusCode);
    }

    [Fact]
    public void Base64_is_little_endian_float32()
    {
        float[] vector = [1f, -2.5f, 0.1f];
        var bytes = Convert.FromBase64String(OpenAiHandler.ToBase64(vector));
        Assert.Equal(12, bytes.Length);
        Assert.Equal(vector, new[] { BitConverter.ToSingle(bytes, 0), BitConverter.ToSingle(bytes, 4), BitConverter.ToSingle(bytes, 8) });
        Assert.Equal(new byte[] { 0x00, 0x00, 0x80, 0x3F }, bytes[..4]); // 1.0f, least significant byte first
    }
}

public sealed class StopSequencesTests
{
    [Fact]
    public void Text_that_may_start_a_stop_sequence_is_held_back_until_decided()
    {
        var stops = new StopSequences(["END", "\n\n"]);
        Assert.Equal(("abc", false), stops.Push("abcE"));
        Assert.Equal(("", false), stops.Push("N"));
        Assert.Equal(("ENx", false), stops.Push("x"));
        Assert.Equal(("y", true), stops.Push("yEND and more"));
    }

    [Fact]
    public void The_earliest_stop_wins_and_the_rest_is_flushed_at_the_end()
    {
        var stops = new StopSequences(["bb", "a"]);
        Assert.Equal(("x", true), stops.Push("xabb"));

        var open = new StopSequences(["zz"]);
        Assert.Equal(("hello ", false), open.Push("hello z"));
        Assert.Equal("z", open.Flush());
    }

    [Fact]
    public void Without_stop_sequences_text_passes_straight_through()
    {
        Assert.Equal(("any", false), new StopSequences([]).Push("any"));
    }
}

public sealed class TokenEstimatorTests
{
    [Fact]
    public void Counts_with_cl100k_and_adds_chat_overhead()
    {
        Assert.Equal(4, TokenEstimator.Count("Hello from mock."));
        var request = new GenerationRequest { Messages = [new ChatMessage("user", "Hello from mock.")] };
        Assert.Equal(3 + 1 + 4 + 3, TokenEstimator.CountInput(request));
    }
}

[Collection(GatewayCollection.Name)]
public sealed class LongInputTests(GatewayFixture gateway)
{
    [Fact]
    public async Task A_long_embedding_input_is_answered()
    {
        var text = string.Join(' ', Enumerable.Repeat("headroom sells spare capacity", 400));
        var embedding = (await gateway.Client().GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync(text)).Value;
        Assert.Equal(384, embedding.ToFloats().Length);
    }

    [Fact]
    public async Task A_prompt_longer_than_the_llama_context_is_a_400_context_length_exceeded()
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        var prompt = string.Join(' ', Enumerable.Repeat("hello world", 300));

        var response = await http.PostAsJsonAsync("completions", new { model = "tiny-llama", prompt });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("context_length_exceeded", json.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("prompt", json.RootElement.GetProperty("error").GetProperty("param").GetString());
    }
}
