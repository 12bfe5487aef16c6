// Gateway benchmarks (bench/README.md). Every mode loads a mock OpenAI-compatible upstream on loopback.
//   dotnet run -c Release --project bench/Headroom.Gateway.Bench -- layer [seconds]     the gateway layer alone (MapOpenAi +
//       the openai-upstream engine, no auth, limits or metering) against the mock, at 1, 16 and 64 connections
//   ... -- compare [seconds] [headroom executable]   direct to the mock, through `headroom up` (auth, limits, metering on)
//       and through the Portkey gateway (bench/Headroom.Gateway.Bench/portkey, `npm ci` there first), in one run
//   ... -- through [seconds] [connections] [headroom executable]   through `headroom up` alone, plain (BENCH_STREAM=1: streaming;
//       BENCH_PAUSE seconds first, to attach a profiler)
//   ... -- ab [seconds] [headroom executable A] [executable B]   two builds (or environments, BENCH_ENV_A / BENCH_ENV_B) in turns
//   ... -- flood [seconds] [headroom executable]   one tenant flooding at 10x its limits: another tenant's latency
//   ... -- tokens [rounds] [model.gguf]   the in-process llama engine against LLamaSharp called directly
using System.Globalization;
using Headroom.Gateway.Engines;
using Headroom.Gateway.OpenAi;
using Headroom.Gateway.Routing;
using Microsoft.AspNetCore.Builder;

var mode = args.Length > 0 ? args[0] : "layer";
double Seconds(double fallback) => args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : fallback;
string? Executable() => args.Length > 2 ? args[2] : null;

switch (mode)
{
    case "tokens":
        await TokensBench.RunAsync(args.Length > 2 ? args[2] : null, args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5);
        return 0;
    case "compare":
        await ServerBench.CompareAsync(Seconds(5), Executable());
        return 0;
    case "through":
        await ServerBench.ThroughAsync(Seconds(5), args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16, args.Length > 3 ? args[3] : null);
        return 0;
    case "ab":
        await ServerBench.AbAsync(Seconds(6), Executable(), args.Length > 3 ? args[3] : null);
        return 0;
    case "flood":
        return await ServerBench.FloodAsync(Seconds(20), Executable()) ? 0 : 1;
    case "layer":
        await LayerAsync(Seconds(5));
        return 0;
    default:
        Console.Error.WriteLine($"unknown mode '{mode}': layer, compare, through, ab, flood or tokens");
        return 2;
}

static async Task LayerAsync(double seconds)
{
    await using var mock = await Harness.StartMockAsync();
    using var upstreamHttp = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 });
    using var models = new ModelRegistry().Add("mock-model", InferenceEngines.OpenAiUpstream(upstreamHttp, new Uri(mock.Url + "/v1/"), "mock-model"));
    await using var gateway = await Harness.StartAsync(app => app.MapGroup("/v1").MapOpenAi(models));

    Console.WriteLine($"{"target",-9} {"mode",-7} {"conns",5} {"req/s",9} {"p50 ms",8} {"p99 ms",8}");
    foreach (var stream in new[] { false, true })
    {
        foreach (var connections in new[] { 1, 16, 64 })
        {
            var results = await Harness.LoadInTurnsAsync([(mock.Url, null), (gateway.Url, null)], connections, stream, seconds);
            var (direct, through) = (results[0], results[1]);
            Harness.Print("direct", stream, connections, direct);
            Harness.Print("gateway", stream, connections, through);
            Console.WriteLine($"{"",-9} {"",-7} {"",5} added p50 {through.P50 - direct.P50:F3} ms, p99 {through.P99 - direct.P99:F3} ms, throughput ratio {through.Rps / direct.Rps:F2}");
        }
    }
}
