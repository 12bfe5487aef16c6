using System.Data.Common;
using Headroom.Gateway.OpenAi;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Models;

/// <summary>One thing calls are counted against (<c>key:{id}</c>, <c>project:{id}</c>) and its limits.</summary>
internal sealed record RateScope(string Scope, ModelLimits Limits);

/// <summary>What an admitted call holds until it completes: its place in the window and its in-flight leases.</summary>
internal sealed record RateLease(string RequestId, IReadOnlyList<RateScope> Scopes, long WindowStart, long ReservedTokens)
{
    public static RateLease Unlimited(string requestId) => new(requestId, [], 0, 0);
}

/// <summary>
/// Rate limits on model calls that hold across every replica on one database, as leases taken before work:
/// <list type="number">
/// <item>Requests and tokens per minute are counted in fixed one-minute windows (<c>rate_windows</c>, one row per
/// scope and window). Admission is one conditional upsert per scope that adds the request and its reserved tokens
/// only if the window stays within the limits, and returns nothing otherwise: atomic on both engines (a row lock on
/// PostgreSQL, the single writer on SQLite), so no two replicas can both take the last place.</item>
/// <item>Requests in flight are leases (<c>rate_leases</c>): counted and inserted under a per-scope advisory lock on
/// PostgreSQL. A lease is deleted when the call completes; one left by a replica that died expires after
/// <see cref="LeaseLifetime"/>.</item>
/// </list>
/// All scopes of a call are admitted in one transaction, so a refusal by the project undoes the key's count. The
/// tokens reserved are the prompt's estimate plus <c>max_tokens</c> (when given); on completion the window is
/// corrected to the tokens actually used.
/// <para>
/// On SQLite the same counts are kept in memory instead: an SQLite store belongs to one process, so there is nothing
/// to share, and a caller flooding far past its limits must be refused without a write (a transaction per refusal on
/// the single writer would slow every other tenant's calls).
/// </para>
/// </summary>
internal sealed class ModelRateLimits(Database database)
{
    private readonly InMemoryCounts? _memory = database.Connection.Provider == StoreProvider.Sqlite ? new InMemoryCounts() : null;

    /// <summary>How long a lease counts when its call never completes (its replica died): longer than any call.</summary>
    public static readonly TimeSpan LeaseLifetime = TimeSpan.FromMinutes(10);

    private const long WindowSeconds = 60;

    /// <summary>Takes a place for <paramref name="requestId"/> in every limited scope, or says which limit refused it.</summary>
    public async Task<(RateLease? Lease, GatewayError? Refusal)> TryAdmitAsync(
        string requestId, IEnumerable<RateScope> scopes, long tokens, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // A fixed order of scopes keeps two transactions from waiting on each other's locks.
        var limited = scopes.Where(s => !s.Limits.IsNone).OrderBy(s => s.Scope, StringComparer.Ordinal).ToList();
        if (limited.Count == 0)
            return (RateLease.Unlimited(requestId), null);
        var seconds = now.ToUnixTimeSeconds();
        var window = seconds - (seconds % WindowSeconds);
        var untilNextWindow = (int)(window + WindowSeconds - seconds);
        foreach (var scope in limited)
        {
            if (scope.Limits.TokensPerMinute > 0 && tokens > scope.Limits.TokensPerMinute)
                return (null, GatewayError.RateLimited(
                    $"Request too large for {Describe(scope)}: it needs about {tokens} tokens (prompt plus max_tokens), over the limit of {scope.Limits.TokensPerMinute} tokens per minute. Send a shorter prompt or a lower max_tokens.",
                    (int)WindowSeconds));
        }

        if (_memory is not null)
            return _memory.TryAdmit(requestId, limited, window, tokens, untilNextWindow);

        await using var db = database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        var transaction = Microsoft.EntityFrameworkCore.Storage.DbContextTransactionExtensions.GetDbTransaction(tx);
        foreach (var scope in limited)
        {
            var limits = scope.Limits;
            if (limits.RequestsPerMinute > 0 || limits.TokensPerMinute > 0)
            {
                var counted = await ScalarAsync(connection, transaction, """
                    INSERT INTO rate_windows (scope, window_start, requests, tokens) VALUES (@scope, @window, 1, @tokens)
                    ON CONFLICT (scope, window_start) DO UPDATE
                        SET requests = rate_windows.requests + 1, tokens = rate_windows.tokens + excluded.tokens
                        WHERE rate_windows.requests < @rpm AND rate_windows.tokens + excluded.tokens <= @tpm
                    RETURNING requests
                    """, cancellationToken, ("scope", scope.Scope), ("window", window), ("tokens", tokens),
                    ("rpm", Limit(limits.RequestsPerMinute)), ("tpm", Limit(limits.TokensPerMinute)));
                if (counted is null)
                {
                    var requestsFull = await ScalarAsync(connection, transaction,
                        "SELECT requests FROM rate_windows WHERE scope = @scope AND window_start = @window", cancellationToken,
                        ("scope", scope.Scope), ("window", window)) >= Limit(limits.RequestsPerMinute);
                    await tx.RollbackAsync(cancellationToken);
                    return (null, WindowFull(scope, requestsFull, untilNextWindow));
                }
            }
            if (limits.ConcurrentRequests > 0)
            {
                if (db.Provider == StoreProvider.Postgres)
                    await ScalarAsync(connection, transaction, "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext(@lock))) AS locked", cancellationToken,
                        ("lock", "rate:" + scope.Scope));
                var inFlight = await ScalarAsync(connection, transaction,
                    "SELECT count(*) FROM rate_leases WHERE scope = @scope AND expires_at > @now", cancellationToken,
                    ("scope", scope.Scope), ("now", seconds));
                if (inFlight >= limits.ConcurrentRequests)
                {
                    await tx.RollbackAsync(cancellationToken);
                    return (null, TooManyAtOnce(scope));
                }
                await ScalarAsync(connection, transaction,
                    "INSERT INTO rate_leases (scope, request_id, expires_at) VALUES (@scope, @request, @expires)", cancellationToken,
                    ("scope", scope.Scope), ("request", requestId), ("expires", seconds + (long)LeaseLifetime.TotalSeconds));
            }
        }
        await tx.CommitAsync(cancellationToken);
        return (new RateLease(requestId, limited, window, tokens), null);
    }

    /// <summary>Frees the call's in-flight leases and corrects its window to the tokens it used.</summary>
    public async Task ReleaseAsync(RateLease lease, long tokensUsed, CancellationToken cancellationToken)
    {
        if (lease.Scopes.Count == 0)
            return;
        if (_memory is not null)
        {
            _memory.Release(lease, tokensUsed);
            return;
        }
        await using var db = database.Open();
        var concurrent = lease.Scopes.Where(s => s.Limits.ConcurrentRequests > 0).Select(s => s.Scope).ToList();
        if (concurrent.Count > 0)
            await db.RateLeases.Where(l => concurrent.Contains(l.Scope) && l.RequestId == lease.RequestId).ExecuteDeleteAsync(cancellationToken);
        var delta = tokensUsed - lease.ReservedTokens;
        var counted = lease.Scopes.Where(s => s.Limits.RequestsPerMinute > 0 || s.Limits.TokensPerMinute > 0).Select(s => s.Scope).ToList();
        if (delta != 0 && counted.Count > 0)
        {
            await db.RateWindows.Where(w => counted.Contains(w.Scope) && w.WindowStart == lease.WindowStart)
                .ExecuteUpdateAsync(s => s.SetProperty(w => w.Tokens, w => w.Tokens + delta), cancellationToken);
        }
    }

    /// <summary>Forgets windows that have closed and leases that have expired (housekeeping, on the leader).</summary>
    public async Task<int> PruneAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var seconds = now.ToUnixTimeSeconds();
        if (_memory is not null)
            return _memory.Prune(seconds - (2 * WindowSeconds));
        await using var db = database.Open();
        var windows = await db.RateWindows.Where(w => w.WindowStart < seconds - (2 * WindowSeconds)).ExecuteDeleteAsync(cancellationToken);
        var leases = await db.RateLeases.Where(l => l.ExpiresAt <= seconds).ExecuteDeleteAsync(cancellationToken);
        return windows + leases;
    }

    private static long Limit(int limit) => limit > 0 ? limit : long.MaxValue / 4;

    private static GatewayError WindowFull(RateScope scope, bool requestsFull, int untilNextWindow)
    {
        var what = requestsFull ? $"{scope.Limits.RequestsPerMinute} requests per minute" : $"{scope.Limits.TokensPerMinute} tokens per minute";
        return GatewayError.RateLimited($"Rate limit reached for {Describe(scope)}: {what}. Try again in {untilNextWindow} s.", untilNextWindow);
    }

    private static GatewayError TooManyAtOnce(RateScope scope) => GatewayError.RateLimited(
        $"Rate limit reached for {Describe(scope)}: {scope.Limits.ConcurrentRequests} requests at once. Try again when one finishes.", 1);

    /// <summary>The windows and in-flight calls of a single-process store, with the database path's rules, under one lock.</summary>
    private sealed class InMemoryCounts
    {
        private readonly Dictionary<(string Scope, long Window), (long Requests, long Tokens)> _windows = [];
        private readonly Dictionary<string, HashSet<string>> _inFlight = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();

        public (RateLease? Lease, GatewayError? Refusal) TryAdmit(string requestId, List<RateScope> limited, long window, long tokens, int untilNextWindow)
        {
            lock (_lock)
            {
                // Check every scope first, then count in all: a refusal by one leaves the others untouched.
                foreach (var scope in limited)
                {
                    var limits = scope.Limits;
                    if (limits.RequestsPerMinute > 0 || limits.TokensPerMinute > 0)
                    {
                        var (requests, used) = _windows.GetValueOrDefault((scope.Scope, window));
                        if (requests >= Limit(limits.RequestsPerMinute) || used + tokens > Limit(limits.TokensPerMinute))
                            return (null, WindowFull(scope, requests >= Limit(limits.RequestsPerMinute), untilNextWindow));
                    }
                    if (limits.ConcurrentRequests > 0 && _inFlight.GetValueOrDefault(scope.Scope)?.Count >= limits.ConcurrentRequests)
                        return (null, TooManyAtOnce(scope));
                }
                foreach (var scope in limited)
                {
                    if (scope.Limits.RequestsPerMinute > 0 || scope.Limits.TokensPerMinute > 0)
                    {
                        var (requests, used) = _windows.GetValueOrDefault((scope.Scope, window));
                        _windows[(scope.Scope, window)] = (requests + 1, used + tokens);
                    }
                    if (scope.Limits.ConcurrentRequests > 0)
                    {
                        if (!_inFlight.TryGetValue(scope.Scope, out var calls))
                            _inFlight[scope.Scope] = calls = new HashSet<string>(StringComparer.Ordinal);
                        calls.Add(requestId);
                    }
                }
                return (new RateLease(requestId, limited, window, tokens), null);
            }
        }

        public void Release(RateLease lease, long tokensUsed)
        {
            lock (_lock)
            {
                foreach (var scope in lease.Scopes)
                {
                    if (_inFlight.TryGetValue(scope.Scope, out var calls) && calls.Remove(lease.RequestId) && calls.Count == 0)
                        _inFlight.Remove(scope.Scope);
                    if (_windows.TryGetValue((scope.Scope, lease.WindowStart), out var counts))
                        _windows[(scope.Scope, lease.WindowStart)] = (counts.Requests, counts.Tokens + tokensUsed - lease.ReservedTokens);
                }
            }
        }

        public int Prune(long before)
        {
            lock (_lock)
            {
                var old = _windows.Keys.Where(k => k.Window < before).ToList();
                foreach (var key in old)
                    _windows.Remove(key);
                return old.Count;
            }
        }
    }

    private static string Describe(RateScope scope) => scope.Scope.Split(':', 2) switch
    {
        ["project", var id] => $"project {id}",
        ["key", var id] => $"this API key ({id})",
        [_, var id] => $"this caller ({id})",
        _ => scope.Scope,
    };

    /// <summary>Runs one statement in the transaction; the first column of the first row, or null when there is none.</summary>
    private static async Task<long?> ScalarAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken,
        params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is null or DBNull ? null : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
    }
}
