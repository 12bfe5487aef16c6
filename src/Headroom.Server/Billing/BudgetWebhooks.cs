using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Headroom.Server.Api;
using Headroom.Server.Coordination;
using Headroom.Server.Hosting;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Billing;

/// <summary>
/// Delivers budget events to their budget's webhook, on the replica that holds the control-loop lease: an HTTP POST
/// of the event's JSON with <c>Headroom-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{body}")}</c>.
/// A 2xx answer delivers it; anything else (or no answer in 10 s) is retried after 10 s, 20 s, 40 s, ... up to an
/// hour apart, <see cref="MaxAttempts"/> times in all, after which the event is marked failed. Delivery is at least
/// once: a receiver dedupes on the event id (<c>Headroom-Event-Id</c>).
/// </summary>
internal sealed partial class BudgetWebhooks(
    Database database, IHttpClientFactory http, HeadroomSettings settings, Leadership leadership, TimeProvider time, ILogger<BudgetWebhooks> logger)
    : LeaderLoop(leadership, time, logger)
{
    public const string None = "none";
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
    public const int MaxAttempts = 8;
    public const string SignatureHeader = "Headroom-Signature";
    public const string ClientName = "budget-webhooks";
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromHours(1);

    /// <summary>Twice the scheduler period (2 s by default).</summary>
    protected override TimeSpan Period => settings.SchedulerPeriod * 2;

    protected override Task RunPassAsync(CancellationToken cancellationToken) => DeliverAsync(cancellationToken);

    /// <summary>One pass over the events that are due; returns how many were delivered.</summary>
    internal async Task<int> DeliverAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await using var db = database.Open();
        var due = await db.BudgetEvents.Where(e => e.Delivery == Pending && e.NextAttemptAt <= now).OrderBy(e => e.Id).Take(50).ToListAsync(cancellationToken);
        var delivered = 0;
        foreach (var e in due)
        {
            var budget = await db.Budgets.AsNoTracking().FirstOrDefaultAsync(b => b.Id == e.BudgetId, cancellationToken);
            if (budget?.WebhookUrl is null || budget.WebhookSecret is null)
            {
                // The budget was deleted or its webhook removed since: nothing to deliver to.
                e.Delivery = Failed;
                e.LastError = "the budget no longer has a webhook";
                continue;
            }
            var body = JsonSerializer.Serialize(BudgetForms.EventView(e, budget), Json.Options);
            var error = await PostAsync(budget.WebhookUrl, budget.WebhookSecret, e.Id, body, now, cancellationToken);
            e.Attempts++;
            if (error is null)
            {
                e.Delivery = Delivered;
                e.NextAttemptAt = null;
                e.LastError = "";
                delivered++;
                continue;
            }
            e.LastError = error.Length > 500 ? error[..500] : error;
            if (e.Attempts >= MaxAttempts)
            {
                e.Delivery = Failed;
                e.NextAttemptAt = null;
                LogGaveUp(logger, e.Id, budget.WebhookUrl, e.Attempts);
            }
            else
            {
                e.NextAttemptAt = now + Backoff(e.Attempts);
            }
        }
        await db.SaveChangesAsync(cancellationToken);
        return delivered;
    }

    /// <summary>The wait after the given number of failed attempts: 10 s doubling, at most an hour.</summary>
    public static TimeSpan Backoff(int attempts) =>
        TimeSpan.FromTicks(Math.Min(LongestRetry.Ticks, FirstRetry.Ticks << Math.Min(attempts - 1, 20)));

    /// <summary>The signature header's value for <paramref name="body"/> sent at <paramref name="time"/>.</summary>
    public static string Sign(string secret, DateTimeOffset time, string body)
    {
        var t = time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(t + "." + body));
        return $"t={t},v1={Convert.ToHexStringLower(mac)}";
    }

    /// <summary>Null when the receiver answered 2xx; otherwise what went wrong.</summary>
    private async Task<string?> PostAsync(string url, string secret, string eventId, string body, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add(SignatureHeader, Sign(secret, now, body));
        request.Headers.Add("Headroom-Event-Id", eventId);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await http.CreateClient(ClientName).SendAsync(request, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return ex.Message;
        }
    }

    [LoggerMessage(EventId = 6402, Level = LogLevel.Warning, Message = "Budget event {EventId} could not be delivered to {Url} after {Attempts} attempts")]
    private static partial void LogGaveUp(ILogger logger, string eventId, string url, int attempts);
}
