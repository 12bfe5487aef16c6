using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;

/// <summary>
/// Benchmarks through a real <c>headroom up</c> (a child process, SQLite, auth, rate limits and metering on) serving
/// the mock upstream as a serverless deployment by URL.
/// </summary>
internal static class ServerBench
{
    /// <summary>
    /// Load on each gateway before anything is measured (<c>BENCH_WARMUP</c> seconds, 20 by default): .NET's tiered JIT
    /// was still recompiling hot code 15 s into a run, and V8 compiles too; half of it plain and half streaming.
    /// </summary>
    private static readonly double WarmUpSeconds = double.Parse(Environment.GetEnvironmentVariable("BENCH_WARMUP") ?? "20", CultureInfo.InvariantCulture);

    /// <summary>
    /// Direct to the mock, through Headroom and through the Portkey gateway, at 1, 16 and 64 connections, plain and
    /// streaming, in one run (the three in turns, <see cref="Harness.LoadInTurnsAsync"/>); prints each and the ratios
    /// the targets are stated in.
    /// </summary>
    public static async Task CompareAsync(double seconds, string? executable)
    {
        await using var mock = await Harness.StartMockAsync();
        await using var headroom = await HeadroomUp.StartAsync(executable, new Dictionary<string, string>());
        var (_, key) = await headroom.TenantAsync("bench");
        await headroom.DeployMockAsync(mock.Url);
        await using var portkey = await Portkey.StartAsync();
        var headroomHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key };
        var portkeyHeaders = new Dictionary<string, string>
        {
            ["Authorization"] = "Bearer sk-bench", ["x-portkey-provider"] = "openai", ["x-portkey-custom-host"] = mock.Url + "/v1",
        };
        // Both runtimes compile hot code during their first seconds of load (.NET's tiered JIT, V8): measured after that.
        foreach (var stream in new[] { false, true })
        {
            await Harness.LoadAsync(headroom.Url, 16, stream, WarmUpSeconds / 2, headroomHeaders);
            await Harness.LoadAsync(portkey.Url, 16, stream, WarmUpSeconds / 2, portkeyHeaders);
        }

        Console.WriteLine($"{"target",-9} {"mode",-7} {"conns",5} {"req/s",9} {"p50 ms",8} {"p99 ms",8}");
        foreach (var stream in new[] { false, true })
        {
            foreach (var connections in new[] { 1, 16, 64 })
            {
                var results = await Harness.LoadInTurnsAsync([(mock.Url, null), (headroom.Url, headroomHeaders), (portkey.Url, portkeyHeaders)], connections, stream, seconds);
                var (direct, through, viaPortkey) = (results[0], results[1], results[2]);
                Harness.Print("direct", stream, connections, direct);
                Harness.Print("headroom", stream, connections, through);
                Harness.Print("portkey", stream, connections, viaPortkey);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{"",-9} {"",-7} {"",5} headroom adds p50 {through.P50 - direct.P50:F3} ms, p99 {through.P99 - direct.P99:F3} ms; " +
                    $"portkey adds p50 {viaPortkey.P50 - direct.P50:F3} ms, p99 {viaPortkey.P99 - direct.P99:F3} ms; " +
                    $"throughput headroom/portkey {through.Rps / viaPortkey.Rps:F1}x"));
            }
        }
        Console.WriteLine($"memory (RSS): headroom {headroom.RssMib():F0} MiB ({headroom.RssMib("RssFile:"):F0} MiB of it mapped files), portkey {portkey.RssMib():F0} MiB");
    }

    /// <summary>
    /// Two builds of Headroom side by side (<paramref name="executableA"/> and <paramref name="executableB"/>, the same
    /// one by default; <c>BENCH_ENV_A</c> / <c>BENCH_ENV_B</c> add environment, <c>NAME=value,NAME=value</c>), loaded in
    /// turns at 1 and 16 connections, plain and streaming: a change measured against the code before it under the same
    /// drift of the shared machine, which moved results of runs one after the other by more than most changes do. The CPU
    /// per call is each process's over all the turns, its idle ones included.
    /// </summary>
    public static async Task AbAsync(double seconds, string? executableA, string? executableB)
    {
        static Dictionary<string, string> EnvironmentOf(string variable) =>
            (Environment.GetEnvironmentVariable(variable) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(pair => pair.Split('=', 2)).ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "");
        await using var mock = await Harness.StartMockAsync();
        await using var a = await HeadroomUp.StartAsync(executableA, EnvironmentOf("BENCH_ENV_A"));
        await using var b = await HeadroomUp.StartAsync(executableB ?? executableA, EnvironmentOf("BENCH_ENV_B"));
        var targets = new List<(string, IReadOnlyDictionary<string, string>?)>();
        foreach (var headroom in new[] { a, b })
        {
            var (_, key) = await headroom.TenantAsync("bench");
            await headroom.DeployMockAsync(mock.Url);
            targets.Add((headroom.Url, new Dictionary<string, string> { ["Authorization"] = "Bearer " + key }));
        }
        foreach (var stream in new[] { false, true })
            foreach (var (url, headers) in targets)
                await Harness.LoadAsync(url, 16, stream, WarmUpSeconds / 2, headers);

        Console.WriteLine($"{"target",-9} {"mode",-7} {"conns",5} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"CPU us/call",12}");
        foreach (var stream in new[] { false, true })
        {
            foreach (var connections in new[] { 1, 16 })
            {
                var (cpuA, cpuB) = (a.CpuTime(), b.CpuTime());
                var results = await Harness.LoadInTurnsAsync(targets, connections, stream, seconds);
                (cpuA, cpuB) = (a.CpuTime() - cpuA, b.CpuTime() - cpuB);
                Harness.Print("A", stream, connections, results[0], string.Create(CultureInfo.InvariantCulture, $" {cpuA.TotalMicroseconds / results[0].Count,12:F0}"));
                Harness.Print("B", stream, connections, results[1], string.Create(CultureInfo.InvariantCulture, $" {cpuB.TotalMicroseconds / results[1].Count,12:F0}"));
            }
        }
    }

    /// <summary>
    /// Through Headroom only, plain calls (streaming with <c>BENCH_STREAM=1</c>) at <paramref name="connections"/>, after
    /// a pause of <c>BENCH_PAUSE</c> seconds (default 0) in which a profiler can attach to the printed process id; for
    /// finding where a call's time goes.
    /// </summary>
    public static async Task ThroughAsync(double seconds, int connections, string? executable)
    {
        var stream = Environment.GetEnvironmentVariable("BENCH_STREAM") == "1";
        await using var mock = await Harness.StartMockAsync();
        await using var headroom = await HeadroomUp.StartAsync(executable, new Dictionary<string, string>());
        var (_, key) = await headroom.TenantAsync("bench");
        await headroom.DeployMockAsync(mock.Url);
        var headers = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key };
        await Harness.LoadAsync(headroom.Url, connections, stream, WarmUpSeconds, headers); // warm-up: the JIT recompiles hot code for the first seconds
        Console.WriteLine($"headroom pid {headroom.Process.Id}");
        await Task.Delay(TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("BENCH_PAUSE") ?? "0", CultureInfo.InvariantCulture)));
        var direct = await Harness.LoadAsync(mock.Url, connections, stream, seconds);
        var cpuBefore = headroom.CpuTime();
        var through = await Harness.LoadAsync(headroom.Url, connections, stream, seconds, headers);
        var cpu = headroom.CpuTime() - cpuBefore;
        Harness.Print("direct", stream, connections, direct);
        Harness.Print("headroom", stream, connections, through);
        // CPU per call barely moves with other load on the machine, unlike the rates and latencies.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"headroom adds p50 {through.P50 - direct.P50:F3} ms, p99 {through.P99 - direct.P99:F3} ms; {cpu.TotalMilliseconds * 1000 / through.Count:F0} us of CPU per call (metering included)"));
    }

    /// <summary>
    /// Two tenants under the same per-key limits. The victim calls at a steady 8 calls/s, alone and while the other
    /// floods at 10x its request limit from 16 connections; the victim's p99 under the flood must stay within
    /// 1.5x of its baseline. Returns whether it did.
    /// </summary>
    public static async Task<bool> FloodAsync(double seconds, string? executable)
    {
        const int limitPerMinute = 600;
        await using var mock = await Harness.StartMockAsync();
        await using var headroom = await HeadroomUp.StartAsync(executable, new Dictionary<string, string>
        {
            ["HEADROOM_MODEL_LIMITS__KEY__REQUESTS_PER_MINUTE"] = limitPerMinute.ToString(CultureInfo.InvariantCulture),
            ["HEADROOM_MODEL_LIMITS__KEY__CONCURRENT_REQUESTS"] = "8",
        });
        var (_, victimKey) = await headroom.TenantAsync("victim");
        var (_, flooderKey) = await headroom.TenantAsync("flooder");
        await headroom.DeployMockAsync(mock.Url);

        using var victim = Harness.Client(headroom.Url, 1, new Dictionary<string, string> { ["Authorization"] = "Bearer " + victimKey });
        using var flooder = Harness.Client(headroom.Url, 16, new Dictionary<string, string> { ["Authorization"] = "Bearer " + flooderKey });
        var body = Harness.ChatBody(stream: false);
        for (var i = 0; i < 20; i++)
            await Harness.CallAsync(victim, body, stream: false);

        // Alone and under the flood in turns (twice each), so drift on a shared machine hits both alike.
        var alone = new List<double>();
        var flooded = new List<double>();
        int answered = 0, refused = 0, other = 0;
        for (var round = 0; round < 2; round++)
        {
            alone.AddRange(await PacedAsync(victim, body, VictimPerSecond, seconds / 2));
            using var stop = new CancellationTokenSource();
            var flood = FloodLoadAsync(flooder, body, perSecond: limitPerMinute / 60 * 10, stop.Token);
            flooded.AddRange(await PacedAsync(victim, body, VictimPerSecond, seconds / 2));
            stop.Cancel();
            var (a, r, o) = await flood;
            (answered, refused, other) = (answered + a, refused + r, other + o);
        }
        var baseline = Result.Of(alone, TimeSpan.FromSeconds(seconds));
        var underFlood = Result.Of(flooded, TimeSpan.FromSeconds(seconds));

        Console.WriteLine($"per-key limit {limitPerMinute} calls/min; the victim calls {VictimPerSecond}/s; the flooder sent {limitPerMinute / 60 * 10} calls/s from 16 connections, {seconds:F0} s of each");
        Console.WriteLine($"flooder: {answered} answered, {refused} refused with 429, {other} other");
        Console.WriteLine($"{"victim",-14} {"calls",6} {"p50 ms",8} {"p99 ms",8}");
        Console.WriteLine($"{"alone",-14} {baseline.Count,6} {baseline.P50,8:F3} {baseline.P99,8:F3}");
        Console.WriteLine($"{"under flood",-14} {underFlood.Count,6} {underFlood.P50,8:F3} {underFlood.P99,8:F3}");
        var ratio = underFlood.P99 / baseline.P99;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"victim p99 under flood / alone = {ratio:F2} (target <= 1.5)"));
        return ratio <= 1.5;
    }

    // Inside the victim's own limit (600 a minute) over any minute of the run: it must never be the one refused.
    private const int VictimPerSecond = 8;

    /// <summary>Open loop: one call every 1/<paramref name="perSecond"/> s; the latencies. A late call is not made up for.</summary>
    private static async Task<List<double>> PacedAsync(HttpClient client, string body, int perSecond, double seconds)
    {
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        var interval = TimeSpan.FromSeconds(1.0 / perSecond);
        for (var next = TimeSpan.Zero; next < TimeSpan.FromSeconds(seconds); next += interval)
        {
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait);
            latencies.Add(await Harness.CallAsync(client, body, stream: false));
        }
        return latencies;
    }

    private static async Task<(int Answered, int Refused, int Other)> FloodLoadAsync(HttpClient client, string body, int perSecond, CancellationToken stop)
    {
        int answered = 0, refused = 0, other = 0;
        var interval = TimeSpan.FromSeconds(1.0 / perSecond);
        var calls = new List<Task>();
        var clock = Stopwatch.StartNew();
        for (var next = TimeSpan.Zero; !stop.IsCancellationRequested; next += interval)
        {
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            calls.Add(Task.Run(async () =>
            {
                using var response = await client.PostAsync("chat/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
                await response.Content.ReadAsByteArrayAsync();
                _ = (int)response.StatusCode switch
                {
                    200 => Interlocked.Increment(ref answered),
                    429 => Interlocked.Increment(ref refused),
                    _ => Interlocked.Increment(ref other),
                };
            }));
        }
        await Task.WhenAll(calls);
        return (answered, refused, other);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("run from within the repository (Headroom.slnx not found above the bench)");
    }

    /// <summary>Resident memory in MiB (VmRSS), or of it only the pages of mapped files (RssFile: SQLite maps its database).</summary>
    internal static double RssMib(int pid, string field = "VmRSS:")
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
        return double.NaN;
    }
}

/// <summary>A <c>headroom up</c> child process on a free loopback port with a throwaway data directory.</summary>
internal sealed class HeadroomUp : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _data;
    private readonly HttpClient _admin;

    private HeadroomUp(Process process, string data, string url, string adminKey)
    {
        _process = process;
        _data = data;
        Url = url;
        _admin = new HttpClient { BaseAddress = new Uri(url) };
        _admin.DefaultRequestHeaders.Authorization = new("Bearer", adminKey);
    }

    public string Url { get; }

    /// <summary>The process's CPU time so far, user and system.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public static async Task<HeadroomUp> StartAsync(string? executable, IReadOnlyDictionary<string, string> environment)
    {
        executable ??= Path.Combine(ServerBench.RepoRoot(), "src", "Headroom.Cli", "bin", "Release", "net10.0", "headroom");
        if (!File.Exists(executable))
            throw new InvalidOperationException($"{executable} does not exist: dotnet build src/Headroom.Cli -c Release");
        var data = Directory.CreateTempSubdirectory("headroom-bench-").FullName;
        var port = ServerBench.FreePort();
        var info = new ProcessStartInfo(executable, ["up", "--data", data, "--port", port.ToString(CultureInfo.InvariantCulture)]);
        info.Environment["HEADROOM_SERVE_MINILM"] = "false"; // not measured here; spares the start-up
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        var process = ChildProcess.Start(info, "headroom");
        var url = $"http://127.0.0.1:{port}";
        var keyFile = Path.Combine(data, "admin.key");
        using var probe = new HttpClient();
        await ChildProcess.WaitUntilAsync(process, "headroom up", TimeSpan.FromSeconds(60),
            async () => File.Exists(keyFile) && (await probe.GetAsync(url + "/healthz")).IsSuccessStatusCode);
        return new HeadroomUp(process, data, url, (await File.ReadAllTextAsync(keyFile)).Trim());
    }

    /// <summary>A new org with an owner key and a project its calls are metered to; the bench's callers are tenants, not the operator.</summary>
    public async Task<(string OrgId, string Key)> TenantAsync(string name)
    {
        var org = await PostAsync(_admin, "/v1/orgs", new { name });
        var key = (await PostAsync(_admin, "/v1/keys", new { name = name + " key", roles = new[] { "owner" }, org_id = org["id"]!.GetValue<string>() }))["key"]!.GetValue<string>();
        using var tenant = new HttpClient { BaseAddress = new Uri(Url) };
        tenant.DefaultRequestHeaders.Authorization = new("Bearer", key);
        await PostAsync(tenant, "/v1/projects", new { name = name + "-app" });
        return (org["id"]!.GetValue<string>(), key);
    }

    /// <summary>Serves the mock to every org as the operator's serverless deployment <c>mock-model</c>, and waits until it answers.</summary>
    public async Task DeployMockAsync(string mockUrl)
    {
        var project = await PostAsync(_admin, "/v1/projects", new { name = "bench-catalog" });
        await PostAsync(_admin, "/v1/deployments", new
        {
            model = "mock-model", project_id = project["id"]!.GetValue<string>(), engine = "openai-upstream", billing = "serverless", url = mockUrl + "/v1",
        });
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(200))
        {
            var models = await _admin.GetStringAsync("/v1/models");
            if (models.Contains("\"mock-model\"", StringComparison.Ordinal))
            {
                using var call = await _admin.PostAsync("/v1/chat/completions", new StringContent(Harness.ChatBody(false), System.Text.Encoding.UTF8, "application/json"));
                if (call.IsSuccessStatusCode)
                    return;
            }
            if (waited.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException("the mock deployment never served: " + models);
        }
    }

    public double RssMib(string field = "VmRSS:") => ServerBench.RssMib(_process.Id, field);

    public Process Process => _process;

    private static async Task<JsonNode> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    public async ValueTask DisposeAsync()
    {
        _admin.Dispose();
        await ChildProcess.StopAsync(_process);
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// The Portkey gateway (npm <c>@portkey-ai/gateway</c> 1.15.2, pinned with <c>@hono/node-server</c> 1.13.5 in
/// portkey/package.json). It listens on every interface: run the bench in a network namespace of its own
/// (bench/README.md).
/// </summary>
internal sealed class Portkey : IAsyncDisposable
{
    private readonly Process _process;

    private Portkey(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public static async Task<Portkey> StartAsync()
    {
        var dir = Path.Combine(ServerBench.RepoRoot(), "bench", "Headroom.Gateway.Bench", "portkey");
        var server = Path.Combine(dir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");
        if (!File.Exists(server))
            throw new InvalidOperationException($"{server} is missing: (cd {dir} && npm ci)");
        var port = ServerBench.FreePort();
        var info = new ProcessStartInfo("node", [server, "--headless", "--port=" + port.ToString(CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = dir,
        };
        info.Environment["NODE_ENV"] = "production";
        var process = ChildProcess.Start(info, echoErrorsAs: null);
        var url = $"http://127.0.0.1:{port}";
        using var probe = new HttpClient();
        await ChildProcess.WaitUntilAsync(process, "portkey", TimeSpan.FromSeconds(30), async () =>
        {
            await probe.GetAsync(url + "/");
            return true;
        });
        return new Portkey(process, url);
    }

    public double RssMib(string field = "VmRSS:") => ServerBench.RssMib(_process.Id, field);

    public async ValueTask DisposeAsync()
    {
        await ChildProcess.StopAsync(_process);
    }
}

/// <summary>The bench's child servers: started with their output drained, waited for until they answer, killed at the end.</summary>
internal static class ChildProcess
{
    /// <summary>Starts <paramref name="info"/>; stderr lines are echoed with <paramref name="echoErrorsAs"/> as a prefix (null: dropped).</summary>
    public static Process Start(ProcessStartInfo info, string? echoErrorsAs)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (echoErrorsAs is not null && e.Data is not null)
                Console.Error.WriteLine(echoErrorsAs + ": " + e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Polls <paramref name="ready"/> (a refused connection counts as not yet) until it holds; fails if the process exits or the time runs out.</summary>
    public static async Task WaitUntilAsync(Process process, string name, TimeSpan timeout, Func<Task<bool>> ready)
    {
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(200))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{name} exited with {process.ExitCode}");
            if (waited.Elapsed > timeout)
                throw new TimeoutException($"{name} did not answer in {timeout.TotalSeconds:F0} s");
            try
            {
                if (await ready())
                    return;
            }
            catch (HttpRequestException)
            {
            }
        }
    }

    public static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}
