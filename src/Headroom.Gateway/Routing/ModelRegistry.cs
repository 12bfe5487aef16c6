using Headroom.Gateway.Engines;

namespace Headroom.Gateway.Routing;

/// <summary>
/// Model names and the replicas that serve each. Register every replica of a model with <see cref="Add"/>; requests
/// go to the healthy, not draining replica with the fewest outstanding requests. Replicas that come and go at run time
/// (deployments) leave with <see cref="Drain"/> (no new requests) and then <see cref="Remove"/>. Disposing the registry
/// disposes its engines.
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    private readonly Dictionary<string, ModelReplicas> _models = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>
    /// Adds a replica of <paramref name="model"/>. The first replica's capabilities are the model's; later ones must
    /// match. <paramref name="region"/> is where it runs, for projects pinned to regions (null: serves unpinned traffic only
    /// when a project is pinned).
    /// </summary>
    public ModelRegistry Add(string model, IInferenceEngine engine, string? replicaName = null, string? region = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentNullException.ThrowIfNull(engine);
        lock (_lock)
        {
            if (!_models.TryGetValue(model, out var replicas))
                _models[model] = replicas = new ModelReplicas(model, engine.Capabilities);
            else if (replicas.Capabilities != engine.Capabilities)
                throw new ArgumentException($"Replicas of '{model}' must share capabilities.", nameof(engine));
            replicas.Add(new Replica(replicaName ?? $"{model}-{replicas.Count}", engine, region));
        }
        return this;
    }

    /// <summary>
    /// Declares <paramref name="model"/> with no replica yet (a deployment whose replicas are still starting): it is
    /// listed, and a call to it is answered 503 and counted in <see cref="ReplicaSnapshot"/>'s <c>Unserved</c>, until a
    /// replica joins. A model already known keeps its replicas.
    /// </summary>
    public ModelRegistry Declare(string model, EngineCapabilities capabilities)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        lock (_lock)
            _models.TryAdd(model, new ModelReplicas(model, capabilities));
        return this;
    }

    /// <summary>
    /// Takes a replica out of rotation for good: it gets no new request, and those it holds finish (their leases still
    /// release). Returns false when no such replica is registered. The engine is disposed by the caller, when its
    /// outstanding requests are done (see <see cref="Snapshot"/>).
    /// </summary>
    public bool Drain(string model, string replicaName)
    {
        lock (_lock)
            return _models.TryGetValue(model, out var replicas) && replicas.SetDraining(replicaName);
    }

    /// <summary>Removes a replica (whatever it holds is cut off from new requests; in-flight ones finish on the engine they have). False when it was not there.</summary>
    public bool Remove(string model, string replicaName)
    {
        lock (_lock)
            return _models.TryGetValue(model, out var replicas) && replicas.Remove(replicaName);
    }

    /// <summary>Forgets a model and all its replicas (a deleted deployment). False when it was not there.</summary>
    public bool Forget(string model)
    {
        lock (_lock)
            return _models.Remove(model);
    }

    /// <summary>The replicas of <paramref name="model"/> as routing sees them now (empty when it is unknown), and the calls refused for lack of a replica since the last <paramref name="resetUnserved"/>.</summary>
    public ReplicaSnapshot Snapshot(string model, bool resetUnserved = false) =>
        TryGet(model, out var replicas) ? replicas.Snapshot(resetUnserved) : new ReplicaSnapshot([], 0);

    public IReadOnlyList<string> Models
    {
        get
        {
            lock (_lock)
                return [.. _models.Keys.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Probes every replica once and takes each out of or back into rotation by the answer.</summary>
    public async Task RefreshHealthAsync(CancellationToken cancellationToken)
    {
        ModelReplicas[] all;
        lock (_lock)
            all = [.. _models.Values];
        foreach (var model in all)
            await model.ProbeAsync(cancellationToken);
    }

    /// <summary>Whether a replica of <paramref name="model"/> would take a request now.</summary>
    public bool IsAvailable(string model) => TryGet(model, out var replicas) && replicas.AnyHealthy;

    internal bool TryGet(string model, out ModelReplicas replicas)
    {
        lock (_lock)
            return _models.TryGetValue(model, out replicas!);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var engine in _models.Values.SelectMany(m => m.Engines).Distinct())
                (engine as IDisposable)?.Dispose();
            _models.Clear();
        }
    }
}

/// <summary>What routing knows of one replica: its name, region, requests in flight, health and whether it drains.</summary>
public sealed record ReplicaState(string Name, string? Region, int Outstanding, bool Healthy, bool Draining);

/// <summary>The replicas of one model, and <paramref name="Unserved"/>: calls refused because no replica could take them.</summary>
public sealed record ReplicaSnapshot(IReadOnlyList<ReplicaState> Replicas, int Unserved);

internal sealed class Replica(string name, IInferenceEngine engine, string? region)
{
    private static int s_ids;

    /// <summary>Stable for the replica's life (unlike its position, which shifts when another replica is removed); what a retry excludes.</summary>
    public int Id { get; } = Interlocked.Increment(ref s_ids);
    public string Name { get; } = name;
    public bool Draining { get; set; }
    public string? Region { get; } = region;
    public IInferenceEngine Engine { get; } = engine;
    public int Outstanding { get; set; }
    public long LastPicked { get; set; }
    public ReplicaHealth Health { get; set; } = ReplicaHealth.Initial;
}

/// <summary>The replicas of one model. All state changes happen under one lock; picks are the pure <see cref="ReplicaSelection"/>.</summary>
internal sealed class ModelReplicas(string model, EngineCapabilities capabilities)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private readonly List<Replica> _replicas = [];
    private readonly Lock _lock = new();
    private long _picks;
    private int _unserved;

    public string Model { get; } = model;
    public EngineCapabilities Capabilities { get; } = capabilities;

    public int Count
    {
        get
        {
            lock (_lock)
                return _replicas.Count;
        }
    }

    public bool AnyHealthy
    {
        get
        {
            lock (_lock)
                return _replicas.Exists(r => r.Health.Healthy && !r.Draining);
        }
    }

    public IEnumerable<IInferenceEngine> Engines
    {
        get
        {
            lock (_lock)
                return [.. _replicas.Select(r => r.Engine)];
        }
    }

    public void Add(Replica replica)
    {
        lock (_lock)
            _replicas.Add(replica);
    }

    public bool SetDraining(string name)
    {
        lock (_lock)
        {
            if (_replicas.Find(r => r.Name == name) is not { } replica)
                return false;
            replica.Draining = true;
            return true;
        }
    }

    public bool Remove(string name)
    {
        lock (_lock)
            return _replicas.RemoveAll(r => r.Name == name) > 0;
    }

    public ReplicaSnapshot Snapshot(bool resetUnserved)
    {
        lock (_lock)
        {
            var snapshot = new ReplicaSnapshot([.. _replicas.Select(r => new ReplicaState(r.Name, r.Region, r.Outstanding, r.Health.Healthy, r.Draining))], _unserved);
            if (resetUnserved)
                _unserved = 0;
            return snapshot;
        }
    }

    /// <summary>
    /// Takes the best replica whose <see cref="Replica.Id"/> is not in <paramref name="excluded"/> and, when <paramref name="allowedRegions"/> is set, in
    /// one of those regions; null when none is eligible. Dispose the lease when the request ends.
    /// </summary>
    public ReplicaLease? Acquire(ReadOnlySpan<int> excluded, IReadOnlySet<string>? allowedRegions = null)
    {
        lock (_lock)
        {
            Span<ReplicaView> views = _replicas.Count <= 64 ? stackalloc ReplicaView[_replicas.Count] : new ReplicaView[_replicas.Count];
            for (var i = 0; i < _replicas.Count; i++)
            {
                var r = _replicas[i];
                var allowed = allowedRegions is null || (r.Region is not null && allowedRegions.Contains(r.Region));
                views[i] = new ReplicaView(r.Outstanding, r.Health.Healthy && !r.Draining && !excluded.Contains(r.Id), r.LastPicked, allowed);
            }
            var index = ReplicaSelection.Pick(views, []);
            if (index < 0)
            {
                if (excluded.IsEmpty)
                    _unserved++;
                return null;
            }
            var replica = _replicas[index];
            replica.Outstanding++;
            replica.LastPicked = ++_picks;
            return new ReplicaLease(this, replica, replica.Id);
        }
    }

    public void Release(Replica replica, bool? failed)
    {
        lock (_lock)
        {
            replica.Outstanding--;
            if (failed is { } f)
                replica.Health = replica.Health.AfterRequest(f);
        }
    }

    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        Replica[] replicas;
        lock (_lock)
            replicas = [.. _replicas];
        foreach (var replica in replicas)
        {
            bool passed;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ProbeTimeout);
            try
            {
                passed = await replica.Engine.CheckHealthAsync(timeout.Token);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                passed = false; // a probe that throws or hangs past the timeout fails
            }
            lock (_lock)
                replica.Health = replica.Health.AfterProbe(passed);
        }
    }
}

/// <summary>One request's hold on a replica. Mark the outcome, then dispose; the outstanding count drops exactly once.</summary>
internal sealed class ReplicaLease(ModelReplicas owner, Replica replica, int index) : IDisposable
{
    private bool? _failed;
    private bool _released;

    public Replica Replica { get; } = replica;
    /// <summary>The replica's <see cref="Replica.Id"/>, for excluding it from a retry.</summary>
    public int Index { get; } = index;

    /// <summary>Records a retryable failure (counts toward taking the replica out) or a success (resets the count).</summary>
    public void MarkOutcome(bool failed) => _failed = failed;

    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        owner.Release(Replica, _failed);
    }
}
