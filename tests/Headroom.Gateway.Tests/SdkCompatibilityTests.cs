using System.ClientModel;
using System.Text.Json;
using Headroom.Gateway.Tests.Infrastructure;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace Headroom.Gateway.Tests;

/// <summary>The official OpenAI .NET SDK (2.15), unchanged, against the mapped endpoints on a real Kestrel.</summary>
[Collection(GatewayCollection.Name)]
public sealed class SdkCompatibilityTests(GatewayFixture gateway)
{
    [Fact]
    public async Task Lists_every_registered_model()
    {
        var models = (await gateway.Client().GetOpenAIModelClient().GetModelsAsync()).Value;

        Assert.Equal(["all-minilm-l6-v2", "cut", "dead", "flaky", "gated", "pinned", "tiny-llama", "upstream-chat", "upstream-embed", "upstream-no-usage"],
            models.Select(m => m.Id).Order(StringComparer.Ordinal));
        Assert.All(models, m => Assert.Equal("headroom", m.OwnedBy));
    }

    [Fact]
    public async Task Models_the_hooks_hide_are_neither_listed_nor_served_and_look_missing()
    {
        var client = gateway.Client("sk-limited");
        Assert.Equal(["tiny-llama"], (await client.GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id));

        var get = await Assert.ThrowsAsync<ClientResultException>(() => client.GetOpenAIModelClient().GetModelAsync("upstream-chat"));
        Assert.Equal(404, get.Status);
        var chat = await Assert.ThrowsAsync<ClientResultException>(() => client.GetChatClient("upstream-chat").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, chat.Status);
        var embed = await Assert.ThrowsAsync<ClientResultException>(() => client.GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("x"));
        Assert.Equal(404, embed.Status);
    }

    [Fact]
    public async Task Gets_one_model_and_404s_an_unknown_one()
    {
        var modelClient = gateway.Client().GetOpenAIModelClient();
        Assert.Equal("tiny-llama", (await modelClient.GetModelAsync("tiny-llama")).Value.Id);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => modelClient.GetModelAsync("no-such-model"));
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task Chat_on_the_in_process_engine_returns_text_and_engine_token_counts()
    {
        var chat = gateway.Client().GetChatClient("tiny-llama");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0.7f, TopP = 0.9f, EndUserId = "user-1" };
        options.Metadata["purpose"] = "test";
#pragma warning disable OPENAI001 // seed is marked experimental in the SDK
        options.Seed = 42;
#pragma warning restore OPENAI001

        var completion = (await chat.CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("hello world")], options)).Value;

        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("tiny-llama", completion.Model);
        Assert.True(completion.Usage.InputTokenCount > 10, "the ChatML-formatted prompt is tokenized by the engine");
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 6);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        if (completion.Usage.OutputTokenCount == 6)
            Assert.Equal(ChatFinishReason.Length, completion.FinishReason);

        var (_, usage, error) = gateway.Hooks.For(completion.Id);
        Assert.Null(error);
        Assert.False(usage.Estimated);
        Assert.Equal(completion.Usage.InputTokenCount, usage.InputTokens);
        Assert.Equal(completion.Usage.OutputTokenCount, usage.OutputTokens);

        // The same seed gives the same text: sampling is the engine's, seeded by the request.
        var again = (await chat.CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("hello world")], options)).Value;
        Assert.Equal(completion.Content[0].Text, again.Content[0].Text);
    }

    [Fact]
    public async Task Streaming_chat_on_the_in_process_engine_ends_with_usage()
    {
        var chat = gateway.Client().GetChatClient("tiny-llama");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8 };
        var text = "";
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        string? id = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("the cat sat on the mat")], options))
        {
            id ??= update.CompletionId;
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }

        Assert.NotNull(usage);
        Assert.InRange(usage.OutputTokenCount, 1, 8);
        Assert.NotNull(finish);
        var recorded = gateway.Hooks.For(id!);
        Assert.Equal(usage.InputTokenCount, recorded.Usage.InputTokens);
        Assert.Equal(usage.OutputTokenCount, recorded.Usage.OutputTokens);
        Assert.False(recorded.Usage.Estimated);
    }

    [Fact]
    public async Task Chat_through_an_upstream_uses_its_counts_and_streams_its_deltas()
    {
        var chat = gateway.Client().GetChatClient("upstream-chat");

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("hi")])).Value;
        Assert.Equal(MockUpstream.Reply, completion.Content[0].Text);
        Assert.Equal((5, 4), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount));

        var text = "";
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hi")]))
        {
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
            usage = update.Usage ?? usage;
        }
        Assert.Equal(MockUpstream.Reply, text);
        Assert.Equal((5, 4), (usage!.InputTokenCount, usage.OutputTokenCount));
        Assert.All(gateway.Good.Requests.Where(r => r["messages"] is not null), r => Assert.Equal("mock-model", r["model"]!.GetValue<string>()));
    }

    [Fact]
    public async Task An_upstream_without_usage_is_counted_with_a_tokenizer_and_flagged_estimated()
    {
        var chat = gateway.Client().GetChatClient("upstream-no-usage");

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("hello there")])).Value;

        Assert.Equal(4, completion.Usage.OutputTokenCount); // "Hello from mock." in cl100k_base
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(gateway.Hooks.For(completion.Id).Usage.Estimated);
    }

    [Fact]
    public async Task MiniLM_embeddings_in_base64_and_float_are_the_same_unit_vectors_and_related_sentences_are_closer()
    {
        var client = gateway.Client().GetEmbeddingClient("all-minilm-l6-v2");
        string[] sentences = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by eight percent."];

        // The SDK asks for base64 by default.
        var embeddings = (await client.GenerateEmbeddingsAsync(sentences)).Value;
        var vectors = embeddings.OrderBy(e => e.Index).Select(e => e.ToFloats().ToArray()).ToArray();

        Assert.All(vectors, v => Assert.Equal(384, v.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 3));
        Assert.True(Cosine(vectors[0], vectors[1]) > Cosine(vectors[0], vectors[2]) + 0.2,
            $"related {Cosine(vectors[0], vectors[1])}, unrelated {Cosine(vectors[0], vectors[2])}");
        Assert.True(embeddings.Usage.InputTokenCount > sentences.Length);

        // The protocol method with encoding_format float: the same numbers as JSON floats.
        var body = BinaryData.FromObjectAsJson(new { model = "all-minilm-l6-v2", input = sentences, encoding_format = "float" });
        var raw = await client.GenerateEmbeddingsAsync(BinaryContent.Create(body));
        using var json = JsonDocument.Parse(raw.GetRawResponse().Content);
        var floats = json.RootElement.GetProperty("data").EnumerateArray()
            .Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        for (var i = 0; i < sentences.Length; i++)
            Assert.Equal(vectors[i], floats[i]);
    }

    [Fact]
    public async Task A_single_string_input_and_an_upstream_embeddings_model_work()
    {
        var mini = (await gateway.Client().GetEmbeddingClient("all-minilm-l6-v2").GenerateEmbeddingAsync("one sentence")).Value;
        Assert.Equal(384, mini.ToFloats().Length);

        var upstream = (await gateway.Client().GetEmbeddingClient("upstream-embed").GenerateEmbeddingsAsync(["a", "b"])).Value;
        Assert.Equal([0.1f, 0.2f, 0.3f, 0.4f], upstream[0].ToFloats().ToArray());
        Assert.Equal([0.2f, 0.2f, 0.3f, 0.4f], upstream[1].ToFloats().ToArray());
    }

    [Theory]
    [InlineData("sk-refuse-401", 401)]
    [InlineData("sk-refuse-403", 403)]
    [InlineData("sk-refuse-409", 409)]
    [InlineData("sk-refuse-422", 422)]
    [InlineData("sk-refuse-429", 429)]
    [InlineData("sk-refuse-quota", 429)]
    public async Task Refusals_from_the_hooks_reach_the_SDK_with_their_status(string apiKey, int status)
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            gateway.Client(apiKey).GetChatClient("upstream-chat").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(status, error.Status);
        if (status == 429)
            Assert.True(error.GetRawResponse()!.Headers.TryGetValue("Retry-After", out _));
    }

    [Fact]
    public async Task An_unknown_model_is_a_404_model_not_found()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            gateway.Client().GetChatClient("gpt-nonexistent").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(404, error.Status);
        using var json = JsonDocument.Parse(error.GetRawResponse()!.Content);
        Assert.Equal("model_not_found", json.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Bad_requests_are_400s_naming_the_parameter()
    {
        var client = gateway.Client();
        var tooHot = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.GetChatClient("tiny-llama").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = 5 }));
        Assert.Equal(400, tooHot.Status);
        Assert.Equal("temperature", Param(tooHot));

        var options = new ChatCompletionOptions();
        options.Tools.Add(ChatTool.CreateFunctionTool("lookup", "Looks something up"));
        var tools = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.GetChatClient("tiny-llama").CompleteChatAsync([new UserChatMessage("hi")], options));
        Assert.Equal(400, tools.Status);
        Assert.Equal("tools", Param(tools));

        var json = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.GetChatClient("tiny-llama").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() }));
        Assert.Equal(400, json.Status);
        Assert.Equal("response_format", Param(json));

        var notChat = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.GetChatClient("all-minilm-l6-v2").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(400, notChat.Status);
    }

    [Fact]
    public async Task The_upstream_engine_takes_tools_and_response_format_and_its_tool_calls_reach_the_SDK()
    {
        var options = new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat(), ToolChoice = ChatToolChoice.CreateAutoChoice() };
        options.Tools.Add(ChatTool.CreateFunctionTool("lookup", "Looks something up"));
        var chat = gateway.Client().GetChatClient("upstream-chat");

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("look up x")], options)).Value;
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.Equal("lookup", completion.ToolCalls[0].FunctionName);
        Assert.Equal("""{"q":"x"}""", completion.ToolCalls[0].FunctionArguments.ToString());
        Assert.Equal(30, completion.Usage.TotalTokenCount);
        Assert.Contains(gateway.Good.Requests, r => r["tools"] is not null && r["response_format"] is not null && r["tool_choice"] is not null);

        var arguments = "";
        string? name = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("look up x")], options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                name ??= call.FunctionName;
                arguments += call.FunctionArgumentsUpdate?.ToString();
            }
            finish = update.FinishReason ?? finish;
        }
        Assert.Equal("lookup", name);
        Assert.Equal("""{"q":"x"}""", arguments);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
    }

    internal static double Cosine(float[] a, float[] b) =>
        a.Zip(b, (x, y) => (double)x * y).Sum() / Math.Sqrt(a.Sum(x => (double)x * x) * b.Sum(x => (double)x * x));

    private static string? Param(ClientResultException error)
    {
        using var json = JsonDocument.Parse(error.GetRawResponse()!.Content);
        return json.RootElement.GetProperty("error").GetProperty("param").GetString();
    }
}
