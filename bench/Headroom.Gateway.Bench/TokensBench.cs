using System.Diagnostics;
using System.Globalization;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Tests.Infrastructure;
using LLama;
using LLama.Common;
using LLama.Native;
using LLama.Sampling;

/// <summary>
/// Tokens per second of the in-process engine (<see cref="InferenceEngines.Llama"/>, what <c>headroom up --model</c>
/// serves) against LLamaSharp called directly (its <see cref="StatelessExecutor"/>), same GGUF, same prompts, same
/// seeds, same thread count, alternating runs so drift on a shared machine hits both alike. Without a model path it
/// writes a random-weight llama GGUF big enough that generating a token is real work (no package ships a small model).
/// </summary>
internal static class TokensBench
{
    public static async Task RunAsync(string? modelPath, int rounds)
    {
        var path = modelPath;
        if (path is null)
        {
            path = Path.Combine(Path.GetTempPath(), "headroom-bench-llama.gguf");
            TinyGguf.Write(path, seed: 11, new TinyGguf.Shape(Embedding: 512, Heads: 8, KvHeads: 4, FeedForward: 1536, Layers: 8));
        }
        const int maxTokens = 96;
        var threads = Math.Max(1, Environment.ProcessorCount);
        string[] prompts = ["the cat sat on the mat", "hello world", "a dog and a cat", "the world said hello to the cat on the mat"];
        NativeLogConfig.llama_log_set(static (_, _) => { });

        var engine = InferenceEngines.Llama(new LlamaEngineOptions(path) { Threads = threads, DefaultMaxTokens = maxTokens });
        var parameters = new ModelParams(path) { ContextSize = 4096, Threads = threads, BatchThreads = threads };
        using var weights = await LLamaWeights.LoadFromFileAsync(parameters);
        var executor = new StatelessExecutor(weights, parameters);

        // Warm both (first-touch of the weights, thread pools) before timing.
        await EngineAsync(engine, prompts[0], 1, 8);
        await DirectAsync(executor, prompts[0], 1, 8);

        long engineTokens = 0, directTokens = 0;
        double engineSeconds = 0, directSeconds = 0;
        var perRound = new List<(double Engine, double Direct)>();
        for (var round = 0; round < rounds; round++)
        {
            long et = 0, dt = 0;
            double es = 0, ds = 0;
            for (var i = 0; i < prompts.Length; i++)
            {
                var seed = round * 100 + i;
                // Which goes first alternates, so neither always runs on a cache the other warmed.
                for (var turn = 0; turn < 2; turn++)
                {
                    var clock = Stopwatch.StartNew();
                    if ((turn + i) % 2 == 0)
                    {
                        et += await EngineAsync(engine, prompts[i], seed, maxTokens);
                        es += clock.Elapsed.TotalSeconds;
                    }
                    else
                    {
                        dt += await DirectAsync(executor, prompts[i], seed, maxTokens);
                        ds += clock.Elapsed.TotalSeconds;
                    }
                }
            }
            perRound.Add((et / es, dt / ds));
            engineTokens += et;
            directTokens += dt;
            engineSeconds += es;
            directSeconds += ds;
        }
        (engine as IDisposable)?.Dispose();

        var engineRate = engineTokens / engineSeconds;
        var directRate = directTokens / directSeconds;
        Console.WriteLine($"model {Path.GetFileName(path)} ({new FileInfo(path).Length / 1_048_576.0:F0} MiB), {threads} threads, {rounds} rounds × {prompts.Length} prompts, max {maxTokens} tokens");
        Console.WriteLine($"{"path",-28} {"tokens",8} {"seconds",8} {"tokens/s",9}");
        Console.WriteLine($"{"LLamaSharp StatelessExecutor",-28} {directTokens,8} {directSeconds,8:F2} {directRate,9:F1}");
        Console.WriteLine($"{"Headroom in-process engine",-28} {engineTokens,8} {engineSeconds,8:F2} {engineRate,9:F1}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine / direct = {engineRate / directRate:F3} (rounds: {string.Join(", ", perRound.Select(r => (r.Engine / r.Direct).ToString("F3", CultureInfo.InvariantCulture)))})"));
    }

    private static async Task<long> EngineAsync(IInferenceEngine engine, string prompt, int seed, int maxTokens)
    {
        long generated = 0;
        await foreach (var chunk in engine.GenerateAsync(new GenerationRequest { Prompt = prompt, MaxTokens = maxTokens, Seed = seed }, CancellationToken.None))
        {
            if (chunk.Usage is { } usage)
                generated = usage.OutputTokens;
        }
        return generated;
    }

    // StatelessExecutor yields once per sampled token (text that may be empty mid-character), so the yields count tokens.
    private static async Task<long> DirectAsync(StatelessExecutor executor, string prompt, int seed, int maxTokens)
    {
        long generated = 0;
        var inference = new InferenceParams { MaxTokens = maxTokens, SamplingPipeline = new DefaultSamplingPipeline { Temperature = 1f, TopP = 1f, Seed = (uint)seed } };
        await foreach (var _ in executor.InferAsync(prompt, inference))
            generated++;
        return generated;
    }
}
