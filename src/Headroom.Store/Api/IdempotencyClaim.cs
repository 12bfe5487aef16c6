namespace Headroom.Store.Api;

/// <summary>
/// The <c>Idempotency-Key</c> a request holds while its handler runs. Every save of the handler's writes also stamps
/// the claim's <see cref="IdempotencyRow.AppliedAt"/> in the same transaction (see <see cref="HeadroomDb"/>), so after a
/// crash between the handler's commit and the stored response a retry learns that the request took effect, instead
/// of running it a second time.
/// </summary>
/// <remarks>
/// Carried in an <see cref="AsyncLocal{T}"/>, so it reaches every context the handler opens. A task that outlives the
/// request captures it too; <see cref="Dispose"/> deactivates it, so such a task never stamps a finished request.
/// </remarks>
public sealed class IdempotencyClaim : IDisposable
{
    private static readonly AsyncLocal<IdempotencyClaim?> s_current = new();

    private IdempotencyClaim(string orgId, string key, DateTimeOffset at) => (OrgId, Key, At) = (orgId, key, at);

    public string OrgId { get; }
    public string Key { get; }

    /// <summary>The time to record as applied (the request's clock, not the store's).</summary>
    public DateTimeOffset At { get; }

    private bool Active { get; set; } = true;

    /// <summary>The claim of the request this code runs for, if it holds one and is still running.</summary>
    public static IdempotencyClaim? Current => s_current.Value is { Active: true } claim ? claim : null;

    /// <summary>Makes this claim current for the calling flow and what it awaits.</summary>
    public static IdempotencyClaim Enter(string orgId, string key, DateTimeOffset at) => s_current.Value = new IdempotencyClaim(orgId, key, at);

    public void Dispose()
    {
        Active = false;
        if (ReferenceEquals(s_current.Value, this))
            s_current.Value = null;
    }
}
