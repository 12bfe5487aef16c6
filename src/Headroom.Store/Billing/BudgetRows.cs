namespace Headroom.Store.Billing;

/// <summary>
/// A spending budget of an org, or of one project when <see cref="ProjectId"/> is set, per calendar month (UTC).
/// Money is kept as integer units of 10⁻¹⁰ (the places of an invoice line), so the reservation check is one atomic
/// integer UPDATE on SQLite and PostgreSQL alike, never floating point.
/// </summary>
public sealed class BudgetRow
{
    public required string Id { get; set; }
    public required string OrgId { get; set; }
    public string? ProjectId { get; set; }
    public required string Name { get; set; }
    public long LimitUnits { get; set; }

    /// <summary>Alert thresholds in percent of the limit, ascending, comma-separated ("50,80,100").</summary>
    public required string AlertPercents { get; set; }

    public bool HardLimit { get; set; }
    public string? WebhookUrl { get; set; }

    /// <summary>The HMAC-SHA256 key for webhook signatures; write-only in the API.</summary>
    public string? WebhookSecret { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// A budget's spend in one period. Spent = <see cref="MeteredUnits"/> (the rated cost of the ledger's events, set by
/// the budget loop) + <see cref="SettledUnits"/> (what leases settled since that figure was taken). A lease is granted
/// only if metered + settled + reserved + its maximum ≤ the limit, in one UPDATE.
/// </summary>
public sealed class BudgetSpendRow
{
    public required string BudgetId { get; set; }
    public DateTimeOffset PeriodStart { get; set; }
    public long MeteredUnits { get; set; }
    public long SettledUnits { get; set; }
    public long ReservedUnits { get; set; }

    /// <summary>How many of the budget's alert thresholds have fired in this period.</summary>
    public int AlertsFired { get; set; }
}

/// <summary>One budget's share of a lease: the maximum it holds until settled. Settling marks it, once.</summary>
public sealed class BudgetLeaseRow
{
    public required string LeaseId { get; set; }
    public required string BudgetId { get; set; }
    public DateTimeOffset PeriodStart { get; set; }
    public long MaxUnits { get; set; }
    public bool Settled { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// Something that happened to a budget (a threshold crossed), kept for <c>GET /v1/budgets/{id}/events</c> and, when the
/// budget has a webhook, delivered by the webhook loop: <see cref="Delivery"/> is <c>none</c>, <c>pending</c>,
/// <c>delivered</c> or <c>failed</c> (after the last retry).
/// </summary>
public sealed class BudgetEventRow
{
    public required string Id { get; set; }
    public required string BudgetId { get; set; }
    public required string OrgId { get; set; }
    public required string Type { get; set; }
    public DateTimeOffset PeriodStart { get; set; }
    public int Percent { get; set; }
    public long ThresholdUnits { get; set; }
    public long SpentUnits { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string Delivery { get; set; }
    public int Attempts { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }
    public string LastError { get; set; } = "";
}
