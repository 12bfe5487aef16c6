using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Headroom.Runtimes.Slurm;

/// <summary>Where slurmrestd listens and who Headroom is to it.</summary>
public sealed record SlurmRestOptions
{
    /// <summary>slurmrestd's base URL, e.g. http://127.0.0.1:6820.</summary>
    public required Uri BaseUrl { get; init; }

    /// <summary>The Slurm user the token was made for (<c>X-SLURM-USER-NAME</c>).</summary>
    public required string UserName { get; init; }

    /// <summary>A current JWT for <see cref="UserName"/> (<c>X-SLURM-USER-TOKEN</c>); called before every request,
    /// so it may refresh (e.g. <see cref="SlurmClient.CreateTokenAsync"/> or a token from the cluster's key).</summary>
    public required Func<CancellationToken, ValueTask<string>> Token { get; init; }
}

/// <summary>
/// Observes and cancels jobs through slurmrestd's OpenAPI v0.0.38 (Slurm 22.05), authenticated with a JWT
/// (slurmrestd started with <c>SLURM_JWT=daemon -a rest_auth/jwt</c>). It does not submit: v0.0.38 ignores a
/// script's <c>#SBATCH</c> lines and has no node list, so the plan's placement cannot go through it; Headroom
/// submits with <see cref="SlurmClient"/>. Versioned on purpose: newer Slurm releases retire old API versions.
/// </summary>
public sealed class SlurmRestClient(HttpClient http, SlurmRestOptions options)
{
    private const string Api = "slurm/v0.0.38";
    private const int InvalidJobId = 2017;

    /// <summary>Null when slurmctld answers UP; otherwise what is wrong.</summary>
    public async Task<string?> PingAsync(CancellationToken cancellationToken = default)
    {
        var (document, failure, _) = await SendAsync(HttpMethod.Get, "ping", cancellationToken);
        using (document)
        {
            if (document is null)
            {
                return failure;
            }
            return document.RootElement.TryGetProperty("pings", out var pings) && pings.GetArrayLength() > 0
                && pings[0].TryGetProperty("ping", out var ping) && ping.GetString() == "UP"
                ? null
                : "slurmctld did not answer UP";
        }
    }

    public async Task<ObserveResult> ObserveAsync(long slurmJobId, CancellationToken cancellationToken = default)
    {
        var (document, failure, invalidJob) = await SendAsync(HttpMethod.Get, "job/" + slurmJobId.ToString(CultureInfo.InvariantCulture), cancellationToken);
        using (document)
        {
            if (invalidJob)
            {
                return new ObserveResult.NotFound();
            }
            if (document is null)
            {
                return new ObserveResult.Unavailable(failure!);
            }
            if (!document.RootElement.TryGetProperty("jobs", out var jobs) || jobs.GetArrayLength() == 0)
            {
                return new ObserveResult.NotFound();
            }
            return new ObserveResult.Found(FromJson(jobs[0]));
        }
    }

    /// <summary>
    /// Signals every step of the job. slurmrestd's default is KILL, at once and without Slurm's TERM-then-KILL
    /// stop; pass <c>TERM</c> for a graceful stop that the batch shell relays to the workload.
    /// </summary>
    public async Task<SignalResult> CancelAsync(long slurmJobId, string? signal = null, CancellationToken cancellationToken = default)
    {
        var path = "job/" + slurmJobId.ToString(CultureInfo.InvariantCulture) + (signal is null ? "" : "?signal=SIG" + Uri.EscapeDataString(signal));
        var (document, failure, invalidJob) = await SendAsync(HttpMethod.Delete, path, cancellationToken);
        using (document)
        {
            return invalidJob ? new SignalResult.NotFound()
                : document is null ? new SignalResult.Unavailable(failure!)
                : new SignalResult.Sent();
        }
    }

    /// <summary>One request. Returns the JSON on success; otherwise why not, and whether Slurm said the job id is unknown.</summary>
    private async Task<(JsonDocument? Document, string? Failure, bool InvalidJob)> SendAsync(HttpMethod method, string path, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(method, new Uri(options.BaseUrl, $"{Api}/{path}"));
            request.Headers.Add("X-SLURM-USER-NAME", options.UserName);
            request.Headers.Add("X-SLURM-USER-TOKEN", await options.Token(cancellationToken));
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                return (null, "slurmrestd refused the credentials (401): check the token, its user and SLURM_JWT=daemon", false);
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body);
            }
            catch (JsonException)
            {
                return (null, $"slurmrestd answered {(int)response.StatusCode} without JSON: {body.Trim()}", false);
            }
            if (document.RootElement.TryGetProperty("errors", out var errors) && errors.GetArrayLength() > 0)
            {
                var first = errors[0];
                var number = first.TryGetProperty("error_number", out var n) && n.TryGetInt32(out var value) ? value : 0;
                var message = first.TryGetProperty("description", out var d) ? d.GetString() : first.ToString();
                document.Dispose();
                // slurmrestd passes the token through; when slurmctld rejects it (jwt_decode failure) the answer is
                // a 500 with error_number -1 that reads like a missing job. Only 2017 means the job is unknown.
                return (null, number == -1 ? $"slurmrestd: {message} (unspecified error: also what a rejected token looks like)" : $"slurmrestd: {message}",
                    number == InvalidJobId);
            }
            if (!response.IsSuccessStatusCode)
            {
                document.Dispose();
                return (null, $"slurmrestd answered {(int)response.StatusCode}", false);
            }
            return (document, null, false);
        }
        catch (HttpRequestException e)
        {
            return (null, $"slurmrestd unreachable: {e.Message}", false);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, "slurmrestd timed out", false);
        }
    }

    private static SlurmJobObservation FromJson(JsonElement job)
    {
        var state = Text(job, "job_state") ?? "";
        var reason = Text(job, "state_reason");
        var preemptTime = Epoch(job, "preempt_time");
        var status = SlurmStates.Map(state, reason is "None" ? null : reason, noticeGiven: preemptTime is not null);
        var ended = status?.IsTerminal == true;
        // exit_code is a wait status: the code in bits 8-15, the signal in bits 0-6.
        var wait = job.TryGetProperty("exit_code", out var e) && e.TryGetInt32(out var w) ? w : (int?)null;
        var name = Text(job, "name") ?? "";
        return new SlurmJobObservation(
            job.GetProperty("job_id").GetInt64(), name, SlurmOutput.HeadroomJobId(name), SlurmOutput.Attempt(Text(job, "comment")), state, reason is "None" ? null : reason, status,
            job.TryGetProperty("restart_cnt", out var r) && r.TryGetInt32(out var restarts) ? restarts : 0,
            ended && wait is { } x ? (x >> 8) & 0xff : null,
            ended && wait is { } y && (y & 0x7f) != 0 ? y & 0x7f : null,
            Hostlist.Expand(Text(job, "nodes")), Text(job, "partition"),
            Epoch(job, "start_time"), ended ? Epoch(job, "end_time") : null, preemptTime,
            Text(job, "standard_output"), SlurmObservationSource.Controller);
    }

    private static string? Text(JsonElement job, string name) =>
        job.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;

    private static DateTimeOffset? Epoch(JsonElement job, string name) =>
        job.TryGetProperty(name, out var value) && value.TryGetInt64(out var seconds) && seconds > 0
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;
}
