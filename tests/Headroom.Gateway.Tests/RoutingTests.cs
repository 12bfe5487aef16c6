using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Headroom.Gateway.Engines;
using Headroom.Gateway.Routing;
using Headroom.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI.Chat;

namespace Headroom.Gateway.Tests;

public sealed class ReplicaSelectionTests
{
    private static ReplicaView R(int outstanding, bool healthy = true, long lastPicked = 0) => new(outstanding, healthy, lastPicked);

    private static readonly Dictionary<string, (ReplicaView[] Replicas, int[] Excluded, int Expected)> Cases = new()
    {
        ["the least outstanding wins"] = ([R(3), R(1), R(2)], [], 1),
        ["unhealthy replicas are skipped even when idle"] = ([R(0, healthy: false), R(5)], [], 1),
        ["excluded replicas (already failed this request) are skipped"] = ([R(0), R(4)], [0], 1),
        ["ties go to the replica picked longest ago"] = ([R(1, lastPicked: 9), R(1, lastPicked: 4), R(1, lastPicked: 7)], [], 1),
        ["ties with equal history go to the lower index"] = ([R(2), R(2)], [], 0),
        ["none healthy gives -1"] = ([R(0, healthy: false), R(0, healthy: false)], [], -1),
        ["all excluded gives -1"] = ([R(0), R(0)], [0, 1], -1),
        ["no replicas gives -1"] = ([], [], -1),
        ["a replica outside the allowed regions is skipped however idle"] = ([new ReplicaView(0, true, 0, InAllowedRegion: false), R(9)], [], 1),
        ["only replicas outside the allowed regions gives -1"] = ([new ReplicaView(0, true, 0, InAllowedRegion: false)], [], -1),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Picks_the_least_outstanding_healthy_replica(string name)
    {
        var (replicas, excluded, expected) = Cases[name];
        Assert.Equal(expected, ReplicaSelection.Pick(replicas, excluded));
    }

    [Fact]
    public void Consecutive_failures_take_a_replica_out_and_only_a_passing_probe_brings_it_back()
    {
        var health = ReplicaHealth.Initial;
        for (var i = 1; i < ReplicaHealth.FailureThreshold; i++)
        {
            health = health.AfterRequest(failed: true);
            Assert.True(health.Healthy);
        }
        health = health.AfterRequest(failed: true);
        Assert.False(health.Healthy);
        Assert.False(health.AfterRequest(failed: false).Healthy); // a request that was already in flight does not revive it
        Assert.False(health.AfterProbe(passed: false).Healthy);
        Assert.Equal(ReplicaHealth.Initial, health.AfterProbe(passed: true));
    }

    [Fact]
    public void A_success_resets_the_failure_count()
    {
        var health = ReplicaHealth.Initial.AfterRequest(true).AfterRequest(true).AfterRequest(false).AfterRequest(true);
        Assert.True(health.Healthy);
        Assert.Equal(1, health.ConsecutiveFailures);
    }

    [Fact]
    public void Leases_spread_concurrent_requests_and_release_exactly_once()
    {
        using var registry = new ModelRegistry();
        var engine = new FixedEngine();
        registry.Add("m", engine, "a").Add("m", new FixedEngine(), "b").Add("m", new FixedEngine(), "c");
        Assert.True(registry.TryGet("m", out var replicas));

        var leases = Enumerable.Range(0, 6).Select(_ => replicas.Acquire([])!).ToList();
        Assert.Equal(["a", "b", "c", "a", "b", "c"], leases.Select(l => l.Replica.Name));

        leases[1].Dispose();
        leases[1].Dispose(); // idempotent
        Assert.Equal("b", replicas.Acquire([])!.Replica.Name);
    }

    [Fact]
    public void A_draining_replica_takes_no_new_request_and_its_leases_still_release_after_removal()
    {
        using var registry = new ModelRegistry();
        registry.Add("m", new FixedEngine(), "a").Add("m", new FixedEngine(), "b");
        Assert.True(registry.TryGet("m", out var replicas));
        var held = replicas.Acquire([])!;
        Assert.Equal("a", held.Replica.Name);

        Assert.True(registry.Drain("m", "a"));
        var picks = Enumerable.Range(0, 3).Select(_ => replicas.Acquire([])!).ToList();
        Assert.All(picks, p => Assert.Equal("b", p.Replica.Name));
        Assert.Equal([("a", 1, true), ("b", 3, false)], registry.Snapshot("m").Replicas.Select(r => (r.Name, r.Outstanding, r.Draining)));

        Assert.True(registry.Remove("m", "a"));
        held.Dispose();
        Assert.False(registry.Remove("m", "a"));
        Assert.Equal(["b"], registry.Snapshot("m").Replicas.Select(r => r.Name));
    }

    [Fact]
    public void A_retry_excludes_the_replica_it_failed_on_even_after_another_is_removed()
    {
        using var registry = new ModelRegistry();
        registry.Add("m", new FixedEngine(), "a").Add("m", new FixedEngine(), "b").Add("m", new FixedEngine(), "c");
        Assert.True(registry.TryGet("m", out var replicas));
        var first = replicas.Acquire([])!;
        var failed = replicas.Acquire([])!;
        first.Dispose();
        failed.Dispose();
        Assert.Equal("b", failed.Replica.Name);

        registry.Remove("m", "a"); // positions shift: "c" is now where "b" was, and "b" (tried) where "a" was
        var retry = replicas.Acquire([failed.Index])!;

        Assert.Equal("c", retry.Replica.Name);
    }

    [Fact]
    public void A_declared_model_without_replicas_counts_the_calls_it_could_not_serve_until_reset()
    {
        using var registry = new ModelRegistry();
        registry.Declare("m", new FixedEngine().Capabilities);
        Assert.Contains("m", registry.Models);
        Assert.True(registry.TryGet("m", out var replicas));

        Assert.Null(replicas.Acquire([]));
        Assert.Null(replicas.Acquire([]));
        Assert.Equal(2, registry.Snapshot("m", resetUnserved: true).Unserved);
        Assert.Equal(0, registry.Snapshot("m").Unserved);
        Assert.True(registry.Forget("m"));
        Assert.DoesNotContain("m", registry.Models);
    }

    [Fact]
    public async Task A_failed_probe_removes_a_replica_and_a_passing_one_restores_it()
    {
        using var registry = new ModelRegistry();
        var engine = new FixedEngine();
        registry.Add("m", engine);
        engine.Healthy = false;
        await registry.RefreshHealthAsync(default);
        Assert.False(registry.IsAvailable("m"));
        Assert.True(registry.TryGet("m", out var replicas));
        Assert.Null(replicas.Acquire([]));

        engine.Healthy = true;
        await registry.RefreshHealthAsync(default);
        Assert.True(registry.IsAvailable("m"));
    }

    [Fact]
    public void Replicas_of_one_model_must_share_capabilities()
    {
        using var registry = new ModelRegistry();
        registry.Add("m", new FixedEngine());
        using var http = new HttpClient();
        Assert.Throws<ArgumentException>(() => registry.Add("m", InferenceEngines.OpenAiUpstream(http, new Uri("http://127.0.0.1:9/v1/"), "e", embeddings: true)));
    }

    private sealed class FixedEngine : IInferenceEngine
    {
        public bool Healthy { get; set; } = true;
        public EngineCapabilities Capabilities { get; } = new(true, true, false, false, false);

        public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            yield return new GenerationChunk { Text = "x", FinishReason = "stop", Usage = new TokenUsage(1, 1) };
        }

        public ValueTask<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Healthy);
    }
}

/// <summary>Retry and failure behaviour through the real endpoints and the mock upstreams.</summary>
[Collection(GatewayCollection.Name)]
public sealed class RoutingThroughTheGatewayTests(GatewayFixture gateway)
{
    [Fact]
    public async Task A_replica_that_fails_before_anything_was_streamed_is_retried_once_on_another()
    {
        var brokenBefore = gateway.Broken.Requests.Count;
        var chat = gateway.Client().GetChatClient("flaky");

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("hi")])).Value;
        Assert.Equal(MockUpstream.Reply, completion.Content[0].Text);
        Assert.Equal("flaky-good", gateway.Hooks.For(completion.Id).Call.Replica);

        var text = "";
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hi")]))
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
        Assert.Equal(MockUpstream.Reply, text);
        Assert.True(gateway.Broken.Requests.Count > brokenBefore, "the broken replica was tried first");
    }

    [Fact]
    public async Task A_model_whose_only_replica_is_unreachable_is_a_502_and_is_still_reported_to_the_hooks()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            gateway.Client().GetChatClient("dead").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(502, error.Status);
        Assert.Contains(gateway.Hooks.Completed, c => c.Call.Model == "dead" && c.Error?.Status == 502);
    }

    [Fact]
    public async Task A_stream_cut_after_output_is_not_retried_ends_with_an_error_event_and_is_metered_as_estimated()
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        var response = await http.PostAsJsonAsync("chat/completions", new
        {
            model = "cut",
            messages = new[] { new { role = "user", content = "hi" } },
            stream = true,
            stream_options = new { include_usage = true },
        });
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("partial", events[1], StringComparison.Ordinal);
        Assert.Contains("\"error\"", events[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("data: [DONE]", events);
        using var first = JsonDocument.Parse(events[0]["data: ".Length..]);
        var (call, usage, error) = gateway.Hooks.For(first.RootElement.GetProperty("id").GetString()!);
        Assert.Equal(502, error!.Status);
        Assert.True(usage.Estimated);
        Assert.Equal(2, usage.OutputTokens); // "partial answer" in cl100k_base
        Assert.Equal(1, gateway.Hooks.Completed.Count(c => c.Call.RequestId == call.RequestId));
    }

    [Fact]
    public async Task A_non_streaming_request_cut_after_output_is_a_502_not_a_partial_answer()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            gateway.Client().GetChatClient("cut").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(502, error.Status);
    }

    [Fact]
    public async Task A_pinned_project_is_served_only_in_its_regions_and_gets_a_503_naming_them_otherwise()
    {
        for (var i = 0; i < 3; i++)
        {
            var completion = (await gateway.Client("sk-region-eu-west").GetChatClient("pinned").CompleteChatAsync([new UserChatMessage("hi")])).Value;
            Assert.Equal("pinned-eu", gateway.Hooks.For(completion.Id).Call.Replica);
        }

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            gateway.Client("sk-region-ap-south").GetChatClient("pinned").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(503, error.Status);
        Assert.Contains("ap-south", error.Message, StringComparison.Ordinal);
        Assert.True(error.GetRawResponse()!.Headers.TryGetValue("Retry-After", out _));
    }
}

public sealed class HealthProbeTests
{
    [Fact]
    public async Task A_replica_whose_upstream_stopped_is_taken_out_by_the_probe_service()
    {
        using var http = new HttpClient();
        var upstream = await MockUpstream.StartAsync();
        using var registry = new ModelRegistry();
        registry.Add("m", InferenceEngines.OpenAiUpstream(http, upstream.BaseUrl, "mock-model"));

        var services = new ServiceCollection().AddLogging().AddGatewayHealthProbes(registry, TimeSpan.FromMilliseconds(50)).BuildServiceProvider();
        var probes = services.GetServices<IHostedService>().Single();
        await probes.StartAsync(default);
        try
        {
            await Task.Delay(200);
            Assert.True(registry.IsAvailable("m"));

            await upstream.DisposeAsync();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (registry.IsAvailable("m") && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            Assert.False(registry.IsAvailable("m"));
        }
        finally
        {
            await probes.StopAsync(default);
            await services.DisposeAsync();
        }
    }
}
