using System.Collections.Concurrent;
using System.Diagnostics;
using Headroom.Store;
using Headroom.Store.Billing;
using Headroom.Store.Identity;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Api;

/// <summary>
/// The rows every model call reads and few requests write, kept in memory on each replica so that admitting a call
/// costs no query: API keys (by lookup id), an org's projects and an org's budgets. At gateway rates these lookups
/// were most of a call's store work (bench/README.md, Gateway).
/// </summary>
/// <remarks>
/// A write made through this replica drops what it changed once it has committed, so the next request here reads
/// it. A write made on another replica (several replicas share one PostgreSQL) is seen here when the entry expires,
/// at most <see cref="Lifetime"/> later: a key revoked on one replica stops working on the others within a second.
/// </remarks>
internal sealed class HotRows(Database database)
{
    /// <summary>How long an entry is answered from memory before it is read again.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);

    private readonly RowCache<string, ApiKeyRow> _keys = new();
    private readonly RowCache<string, ProjectRow[]> _projects = new();
    private readonly RowCache<string, BudgetRow[]> _budgets = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _keyUse = new(StringComparer.Ordinal);

    /// <summary>The key with this lookup id, or null. A miss is not remembered: a key created a moment ago is found.</summary>
    public ValueTask<ApiKeyRow?> KeyAsync(string lookupId, CancellationToken cancellationToken) =>
        _keys.GetAsync(lookupId, async (id, ct) =>
        {
            await using var db = database.Open();
            return await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.LookupId == id, ct);
        }, cancellationToken);

    /// <summary>The org's projects, oldest first.</summary>
    private async ValueTask<ProjectRow[]> ProjectsAsync(string orgId, CancellationToken cancellationToken) =>
        await _projects.GetAsync(orgId, async (id, ct) =>
        {
            await using var db = database.Open();
            return await db.Projects.AsNoTracking().Where(p => p.OrgId == id).OrderBy(p => p.CreatedAt).ThenBy(p => p.Id).ToArrayAsync(ct);
        }, cancellationToken) ?? [];

    /// <summary>
    /// The org's project <paramref name="projectId"/>, or null. One not in memory is looked for in the store before it is
    /// called missing: a project created through another replica a moment ago is found.
    /// </summary>
    public async ValueTask<ProjectRow?> ProjectAsync(string orgId, string projectId, CancellationToken cancellationToken)
    {
        if (Array.Find(await ProjectsAsync(orgId, cancellationToken), p => p.Id == projectId) is { } cached)
            return cached;
        _projects.Forget(orgId);
        return Array.Find(await ProjectsAsync(orgId, cancellationToken), p => p.Id == projectId);
    }

    /// <summary>The org's oldest project, or null; an org with none in memory is looked for in the store again first.</summary>
    public async ValueTask<ProjectRow?> FirstProjectAsync(string orgId, CancellationToken cancellationToken)
    {
        if ((await ProjectsAsync(orgId, cancellationToken)).FirstOrDefault() is { } cached)
            return cached;
        _projects.Forget(orgId);
        return (await ProjectsAsync(orgId, cancellationToken)).FirstOrDefault();
    }

    /// <summary>The org's budgets (its own and its projects').</summary>
    public async ValueTask<BudgetRow[]> BudgetsAsync(string orgId, CancellationToken cancellationToken) =>
        await _budgets.GetAsync(orgId, async (id, ct) =>
        {
            await using var db = database.Open();
            return await db.Budgets.AsNoTracking().Where(b => b.OrgId == id).ToArrayAsync(ct);
        }, cancellationToken) ?? [];

    /// <summary>
    /// Whether the key's last-used time is due to be written: once a minute per key and replica, so that a busy key
    /// does not turn every call into a write.
    /// </summary>
    public bool KeyUseDue(ApiKeyRow key, DateTimeOffset now)
    {
        var last = _keyUse.TryGetValue(key.Id, out var written) ? written : key.LastUsedAt;
        if (last is { } at && at >= now.AddMinutes(-1))
            return false;
        _keyUse[key.Id] = now;
        return true;
    }

    /// <summary>After a committed write to any API key (keys are few and change rarely: all are read again).</summary>
    public void KeysChanged() => _keys.ForgetAll();

    /// <summary>After a committed write to a project of <paramref name="orgId"/>.</summary>
    public void ProjectsChanged(string orgId) => _projects.Forget(orgId);

    /// <summary>After a committed write to a budget of <paramref name="orgId"/>.</summary>
    public void BudgetsChanged(string orgId) => _budgets.Forget(orgId);
}

/// <summary>
/// Values loaded on a miss and answered from memory for <see cref="HotRows.Lifetime"/>. A load that began before a
/// <see cref="Forget"/> is returned to its caller but not kept, so a value read before a write is never kept after it.
/// </summary>
/// <remarks>
/// Ages are taken on the machine's monotonic clock, not the injected <see cref="TimeProvider"/>: they bound how stale
/// a copy may be next to other processes, which a test's manual clock does not move.
/// </remarks>
internal sealed class RowCache<TKey, TValue> where TKey : notnull where TValue : class
{
    /// <summary>Past this many entries the cache starts again empty rather than grow without bound.</summary>
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private long _generation;

    public async ValueTask<TValue?> GetAsync(TKey key, Func<TKey, CancellationToken, Task<TValue?>> load, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        if (_entries.TryGetValue(key, out var entry) && Stopwatch.GetElapsedTime(entry.LoadedAt, now) < HotRows.Lifetime)
            return entry.Value;
        var generation = Interlocked.Read(ref _generation);
        var value = await load(key, cancellationToken);
        if (value is null)
            return null;
        if (_entries.Count >= MaxEntries)
            _entries.Clear();
        // Kept only when no write was announced while it loaded; a Forget racing the store below takes it out again.
        if (Interlocked.Read(ref _generation) == generation)
        {
            var stored = new Entry(value, now);
            _entries[key] = stored;
            if (Interlocked.Read(ref _generation) != generation)
                _entries.TryRemove(KeyValuePair.Create(key, stored));
        }
        return value;
    }

    public void Forget(TKey key)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(key, out _);
    }

    public void ForgetAll()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }

    private sealed record Entry(TValue Value, long LoadedAt);
}
