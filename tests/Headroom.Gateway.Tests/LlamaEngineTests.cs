using System.Diagnostics;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Tests.Infrastructure;

namespace Headroom.Gateway.Tests;

public sealed class LlamaEngineTests
{
    [Fact]
    public async Task Tiny_random_model_loads_and_generates_counted_tokens()
    {
        var path = Path.Combine(Path.GetTempPath(), $"headroom-tiny-{Guid.NewGuid():N}.gguf");
        TinyGguf.Write(path);
        try
        {
            var clock = Stopwatch.StartNew();
            using var engine = (IDisposable)InferenceEngines.Llama(new LlamaEngineOptions(path) { ContextSize = 256, Threads = 2 });
            var chunks = new List<GenerationChunk>();
            await foreach (var chunk in ((IInferenceEngine)engine).GenerateAsync(new GenerationRequest { Prompt = "hello world", MaxTokens = 8, Seed = 1 }, default))
                chunks.Add(chunk);
            var usage = chunks[^1].Usage!;
            Assert.True(usage.InputTokens > 0);
            Assert.InRange(usage.OutputTokens, 1, 8);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), clock.Elapsed.ToString());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
