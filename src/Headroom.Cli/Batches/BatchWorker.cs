using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Headroom.Core.Batches;

namespace Headroom.Cli.Batches;

/// <summary>
/// The workload of a batch's spot job: sends each line of the input file to the server's own endpoint with the batch's
/// key, records each answer in <c>$HEADROOM_CHECKPOINT_DIR/results.jsonl</c> (flushed to disk before the next line is
/// sent), and finally posts the output and error files. A requeued attempt (after a preemption) reads the results and
/// sends only the lines without one; a line sent again because the process died before recording it carries the same
/// <c>Headroom-Batch-Line</c>, so the server meters it once. On SIGTERM (the notice) it stops after the current line.
/// </summary>
internal sealed class BatchWorker(HttpClient http, string batchId, string checkpointDir, TextWriter log)
{
    public const string ResultsFileName = "results.jsonl";
    private const int MaxAttempts = 5;

    public static Command Create()
    {
        var batch = new Option<string>("--batch") { Description = "The batch to run.", Required = true };
        var api = new Option<string>("--api") { Description = "The server's address, e.g. http://127.0.0.1:8080.", Required = true };
        var command = new Command("batch-worker", """
            Run one batch (what a batch's spot job runs; not for direct use). Reads the batch's key from
            $HEADROOM_CHECKPOINT_DIR/batch.key, keeps its progress in $HEADROOM_CHECKPOINT_DIR/results.jsonl, and stops
            after the current request on SIGTERM; run again, it resumes where it stopped.
            """)
        {
            batch, api,
        };
        command.Hidden = true;
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var checkpoint = Environment.GetEnvironmentVariable("HEADROOM_CHECKPOINT_DIR");
            if (string.IsNullOrEmpty(checkpoint) || !Uri.TryCreate(parse.GetRequiredValue(api), UriKind.Absolute, out var address))
            {
                error.WriteLine("batch-worker runs as a batch's job: it needs HEADROOM_CHECKPOINT_DIR and --api http://HOST:PORT.");
                return 2;
            }
            string key;
            try
            {
                key = (await File.ReadAllTextAsync(Path.Combine(checkpoint, "batch.key"), cancellationToken)).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"batch-worker: cannot read the batch's key: {e.Message}");
                return 2;
            }
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(10) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return await new BatchWorker(client, parse.GetRequiredValue(batch), checkpoint, parse.InvocationConfiguration.Output).RunAsync(stop.Token);
        });
        return command;
    }

    /// <summary>0 when the results were posted (or the batch had ended), 143 when stopped by <paramref name="stop"/>, 1 on a failure.</summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        using var batch = JsonDocument.Parse(await http.GetStringAsync($"/v1/batches/{batchId}", CancellationToken.None));
        var status = batch.RootElement.GetProperty("status").GetString();
        if (status is not ("validating" or "in_progress"))
        {
            await log.WriteLineAsync($"batch {batchId} is {status}; nothing to do");
            return 0;
        }
        var endpoint = batch.RootElement.GetProperty("endpoint").GetString()!;
        var inputId = batch.RootElement.GetProperty("input_file_id").GetString()!;
        var input = BatchInput.Parse(await http.GetByteArrayAsync($"/v1/files/{inputId}/content", CancellationToken.None), endpoint);
        if (!input.Valid)
        {
            await log.WriteLineAsync($"batch {batchId}: the input file is not valid: {input.Errors[0].Message}");
            return 1;
        }

        Directory.CreateDirectory(checkpointDir);
        var resultsPath = Path.Combine(checkpointDir, ResultsFileName);
        var done = ReadResults(resultsPath);
        await log.WriteLineAsync($"batch {batchId}: {input.Requests.Count} requests, {done.Count} already answered");
        await using (var results = new FileStream(resultsPath, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            foreach (var request in input.Requests)
            {
                if (done.ContainsKey(request.CustomId))
                    continue;
                if (stop.IsCancellationRequested)
                {
                    await log.WriteLineAsync($"batch {batchId}: stopping on notice after {done.Count} requests; the next attempt resumes");
                    return 143;
                }
                var result = await SendAsync(request);
                var line = result.Line.ToJsonString();
                await results.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), CancellationToken.None);
                results.Flush(flushToDisk: true);
                done[request.CustomId] = (result.Ok, line);
            }
        }

        // In the input's order, whatever order the attempts answered in.
        var output = new StringBuilder();
        var errors = new StringBuilder();
        int completed = 0, failed = 0;
        foreach (var request in input.Requests)
        {
            var (ok, line) = done[request.CustomId];
            (ok ? output : errors).Append(line).Append('\n');
            _ = ok ? completed++ : failed++;
        }
        using var form = new MultipartFormDataContent
        {
            { new StringContent(completed.ToString(CultureInfo.InvariantCulture)), "completed" },
            { new StringContent(failed.ToString(CultureInfo.InvariantCulture)), "failed" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(output.ToString())), "output", "output.jsonl" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(errors.ToString())), "errors", "errors.jsonl" },
        };
        using var posted = await http.PostAsync($"/v1/batches/{batchId}/output", form, CancellationToken.None);
        if (posted.StatusCode == HttpStatusCode.Conflict)
        {
            await log.WriteLineAsync($"batch {batchId} ended meanwhile; its results were not taken");
            return 0;
        }
        if (!posted.IsSuccessStatusCode)
        {
            await log.WriteLineAsync($"batch {batchId}: posting the results failed: {(int)posted.StatusCode} {await posted.Content.ReadAsStringAsync()}");
            return 1;
        }
        await log.WriteLineAsync($"batch {batchId}: {completed} completed, {failed} failed");
        return 0;
    }

    /// <summary>
    /// The answered lines of earlier attempts, by custom id. A last line cut by a kill mid-write is dropped (and cut
    /// from the file, so the next line starts clean): that request is sent again, under the same request id.
    /// </summary>
    internal static Dictionary<string, (bool Ok, string Line)> ReadResults(string path)
    {
        var done = new Dictionary<string, (bool, string)>(StringComparer.Ordinal);
        if (!File.Exists(path))
            return done;
        var bytes = File.ReadAllBytes(path);
        var complete = bytes.AsSpan().LastIndexOf((byte)'\n') + 1;
        if (complete < bytes.Length)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            file.SetLength(complete);
        }
        foreach (var line in Encoding.UTF8.GetString(bytes, 0, complete).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                var node = JsonNode.Parse(line)!;
                var status = node["response"]?["status_code"]?.GetValue<int>();
                done[node["custom_id"]!.GetValue<string>()] = (status is >= 200 and < 300, line);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
            {
                // Not one of ours: that request is sent again.
            }
        }
        return done;
    }

    /// <summary>Sends one line, retrying refusals that pass (429, 5xx, a lost connection); answers its output line.</summary>
    private async Task<(bool Ok, JsonObject Line)> SendAsync(BatchRequest request)
    {
        var lineKey = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(request.CustomId)));
        var id = "batch_req_" + lineKey[..24];
        string? failure = null;
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            TimeSpan wait;
            try
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, request.Url) { Content = new StringContent(request.Body, Encoding.UTF8, "application/json") };
                message.Headers.Add("Headroom-Batch-Line", lineKey);
                using var response = await http.SendAsync(message, CancellationToken.None);
                var text = await response.Content.ReadAsStringAsync(CancellationToken.None);
                var status = (int)response.StatusCode;
                if (attempt < MaxAttempts && (status == 429 || status >= 500))
                {
                    wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1 << attempt);
                    failure = $"{status}: {text}";
                }
                else
                {
                    JsonNode? body;
                    try
                    {
                        body = JsonNode.Parse(text);
                    }
                    catch (JsonException)
                    {
                        body = JsonValue.Create(text);
                    }
                    var requestId = response.Headers.TryGetValues("X-Model-Call-Id", out var ids) ? ids.FirstOrDefault() : null;
                    return (status is >= 200 and < 300, new JsonObject
                    {
                        ["id"] = id,
                        ["custom_id"] = request.CustomId,
                        ["response"] = new JsonObject { ["status_code"] = status, ["request_id"] = requestId, ["body"] = body },
                        ["error"] = null,
                    });
                }
            }
            catch (HttpRequestException e)
            {
                failure = e.Message;
                wait = TimeSpan.FromSeconds(1 << attempt);
            }
            catch (TaskCanceledException)
            {
                failure = "the request timed out";
                wait = TimeSpan.FromSeconds(1 << attempt);
            }
            if (attempt < MaxAttempts)
                await Task.Delay(wait < TimeSpan.FromSeconds(30) ? wait : TimeSpan.FromSeconds(30));
        }
        return (false, new JsonObject
        {
            ["id"] = id,
            ["custom_id"] = request.CustomId,
            ["response"] = null,
            ["error"] = new JsonObject { ["code"] = "request_failed", ["message"] = $"Gave up after {MaxAttempts} attempts: {failure}" },
        });
    }
}
