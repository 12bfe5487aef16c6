using System.Collections.Concurrent;
using Headroom.Core.Pricing;
using Headroom.Store;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>
/// This replica's running answers to questions over the append-only usage ledger (a usage report, a draft invoice, the
/// operator's economics), one per key, each with the state it was computed from so that the next request can add
/// just the entries appended since instead of reading the whole range again. One per host: two servers in one process
/// never share answers, and replicas on one PostgreSQL each keep their own (nothing is shared that could go stale
/// across them; each reads the ledger's head on every request).
/// </summary>
/// <remarks>
/// A key's state is read and replaced only while holding its gate (<see cref="UnderGateAsync"/>), so two requests for
/// the same answer never rate the same entries twice: the second waits, then finds the answer current or extends it by
/// what arrived in between. A state whose extension failed half way is dropped (<see cref="Slot.ExtendAsync"/>), never
/// answered from.
/// </remarks>
internal abstract class RunningAnswers<TState>
    where TState : class
{
    private const int MaxKeys = 1024;

    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private long _recomputed;
    private long _extended;

    internal sealed class Slot
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>The last answer and what it was computed from; null until the first one.</summary>
        public TState? State { get; set; }

        /// <summary>Runs <paramref name="extend"/> on the state; if it throws, the state (maybe half extended) is dropped.</summary>
        public async Task ExtendAsync(Func<TState, Task> extend)
        {
            var state = State ?? throw new InvalidOperationException("There is no state to extend.");
            try
            {
                await extend(state);
            }
            catch
            {
                State = null;
                throw;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="answer"/> on the key's slot while holding its gate. The whole cache is dropped when it holds
    /// too many keys (a slot in use stays valid).
    /// </summary>
    public async Task<T> UnderGateAsync<T>(string key, Func<Slot, Task<T>> answer, CancellationToken cancellationToken)
    {
        if (_slots.Count >= MaxKeys && !_slots.ContainsKey(key))
            _slots.Clear();
        var slot = _slots.GetOrAdd(key, static _ => new Slot());
        await slot.Gate.WaitAsync(cancellationToken);
        try
        {
            return await answer(slot);
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <summary>Answers computed from scratch (no state, or prices moved), and answers extended by new entries only.</summary>
    public (long Recomputed, long Extended) Counts => (Interlocked.Read(ref _recomputed), Interlocked.Read(ref _extended));

    public void CountRecomputed() => Interlocked.Increment(ref _recomputed);

    public void CountExtended() => Interlocked.Increment(ref _extended);

    /// <summary>Forgets every answer: the next request of each key is computed from scratch.</summary>
    public void Clear() => _slots.Clear();
}

/// <summary>An answer rated with the prices in force and kept up to a ledger seq (a usage report, a draft invoice).</summary>
internal interface IRatedAnswer
{
    /// <summary>The prices the next entries are rated with: replaced only by <see cref="PricesInForce.CarryAsync"/>'s.</summary>
    PricesInForce Prices { get; set; }

    /// <summary>The org's ledger seq the answer covers up to (0: none yet).</summary>
    long Seq { get; }

    /// <summary>No spot point at or after this time was read to rate the entries counted (<see cref="Rater.SpotReadUntil"/>).</summary>
    DateTimeOffset SpotReadUntil { get; }
}

/// <summary>Running answers for one org's ledger up to its head, rated with the price sheet and the spot prices.</summary>
internal abstract class RatedAnswers<TState> : RunningAnswers<TState>
    where TState : class, IRatedAnswer
{
    /// <summary>
    /// The key's answer up to the org's ledger <paramref name="head"/>: the kept one, extended by <paramref name="extend"/>
    /// (which adds the entries in (state.Seq, head]) when the ledger grew and its prices carry to <paramref name="mark"/>;
    /// otherwise one built by <paramref name="compute"/> from scratch with the prices now in force.
    /// </summary>
    public Task<TState> CurrentAsync(string key, HeadroomDb db, long head, PriceMark mark, DateTimeOffset until,
        Func<TState, Task> extend, Func<PricesInForce, Task<TState>> compute, CancellationToken cancellationToken) =>
        UnderGateAsync(key, async slot =>
        {
            if (slot.State is { } state && state.Seq <= head
                && await state.Prices.CarryAsync(db, mark, until, state.SpotReadUntil, cancellationToken) is { } carried)
            {
                state.Prices = carried;
                if (state.Seq < head)
                {
                    await slot.ExtendAsync(extend);
                    CountExtended();
                }
                return state;
            }
            var fresh = await compute(await PricesInForce.LoadAsync(db, mark, until, withSpot: true, cancellationToken));
            (slot.State as IDisposable)?.Dispose();
            slot.State = fresh;
            CountRecomputed();
            return fresh;
        }, cancellationToken);
}

/// <summary>
/// What, besides the ledger, a rated answer depends on: the price sheet (its latest version number) and the spot prices
/// (the latest point before the range's end). While both are unchanged, the loaded sheet and spot history are the same
/// and every entry rates as it did, so an answer may be extended entry by entry. When the sheet moved, it is recomputed;
/// when only spot points were added, <see cref="PricesInForce.CarryAsync"/> decides.
/// </summary>
internal readonly record struct PriceMark(int? SheetVersion, DateTimeOffset? SpotHead)
{
    public static async Task<PriceMark> ReadAsync(HeadroomDb db, DateTimeOffset until, bool withSpot, CancellationToken cancellationToken) => new(
        await db.PriceSheetVersions.MaxAsync(v => (int?)v.Number, cancellationToken),
        withSpot ? await db.SpotPricePoints.Where(p => p.Time < until).MaxAsync(p => (DateTimeOffset?)p.Time, cancellationToken) : null);
}

/// <summary>The price sheet and spot history an answer was rated with, kept to rate the entries appended after it.</summary>
internal sealed record PricesInForce(PriceMark Mark, PriceSheet Sheet, SpotPriceHistory Spot)
{
    public static async Task<PricesInForce> LoadAsync(HeadroomDb db, PriceMark mark, DateTimeOffset until, bool withSpot, CancellationToken cancellationToken)
    {
        var (sheet, _) = await PriceEndpoints.LoadAsync(db, cancellationToken);
        var spot = withSpot ? await SpotPoints.LoadAsync(db, until, cancellationToken) : SpotPriceHistory.Empty;
        return new(mark, sheet, spot);
    }

    /// <summary>
    /// The prices to extend an answer rated with these, now that <paramref name="mark"/> is read, or null when it must be
    /// recomputed. Unchanged: these. Only new spot points: these with the spot history reloaded, if it agrees with the
    /// one the answer was rated with before <paramref name="spotReadUntil"/> (<see cref="Rater.SpotReadUntil"/> of the
    /// entries counted). The spot pricer publishes a point whenever a pool's price moves; a point prices
    /// only usage from its time on, so one after every counted spot interval leaves what was counted exactly as a
    /// recomputation would count it, and the new entries are rated with it. A point inside or before a counted interval,
    /// or a new price sheet version, recomputes.
    /// </summary>
    public async Task<PricesInForce?> CarryAsync(HeadroomDb db, PriceMark mark, DateTimeOffset until, DateTimeOffset spotReadUntil, CancellationToken cancellationToken)
    {
        if (mark == Mark)
            return this;
        if (mark.SheetVersion != Mark.SheetVersion)
            return null;
        var spot = await SpotPoints.LoadAsync(db, until, cancellationToken);
        return spot.AgreesBefore(Spot, spotReadUntil) ? this with { Mark = mark, Spot = spot } : null;
    }
}
