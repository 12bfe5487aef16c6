using Headroom.Core.Pricing;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Metering;

/// <summary>
/// The dimensions a usage event is priced and grouped by. GPU time carries <see cref="Tier"/>, <see cref="GpuModel"/>
/// and <see cref="Region"/> (and <see cref="Model"/> when a dedicated deployment served it); tokens carry
/// <see cref="Model"/>, <see cref="Batch"/> when they came through the batch API, and the API key that spent them.
/// </summary>
public sealed record UsageDimensions(
    Tier? Tier = null,
    string? GpuModel = null,
    string? Region = null,
    string? Model = null,
    string? ApiKeyId = null,
    bool Batch = false);

/// <summary>
/// One metered fact, as appended to the org's ledger. <see cref="Id"/> is the idempotency id: a replay of the same id
/// counts once.
/// </summary>
/// <remarks>
/// <para>For <see cref="Meter.GpuSeconds"/>, <see cref="Quantity"/> is the milli-GPUs held throughout
/// [<see cref="Start"/>, <see cref="End"/>), and the billed quantity is milli-GPUs × whole seconds (both times are
/// floored to the second). <see cref="NotChargedFrom"/> is set when the operator preempted the workload: it is the
/// moment the notice was given, and the notice period up to <see cref="End"/> (when the workload actually stopped) is
/// recorded but not charged.</para>
/// <para>For token meters, <see cref="Quantity"/> is the token count and <see cref="Start"/> equals <see cref="End"/>:
/// the point in time the tokens were served. <see cref="Estimated"/> says the count was made with a tokenizer because
/// the engine reported none (a cut stream, an upstream that sends no usage).</para>
/// </remarks>
public sealed record UsageEvent(
    string Id,
    string OrgId,
    string ProjectId,
    Meter Meter,
    long Quantity,
    UsageDimensions Dimensions,
    DateTimeOffset Start,
    DateTimeOffset End,
    DateTimeOffset? NotChargedFrom = null,
    bool Estimated = false)
{
    /// <summary>GPU time: <paramref name="milliGpus"/> held over [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public static UsageEvent GpuTime(
        string id, string orgId, string projectId, long milliGpus, Tier tier, string gpuModel, string region,
        DateTimeOffset start, DateTimeOffset end, DateTimeOffset? notChargedFrom = null, string? model = null) =>
        new(id, orgId, projectId, Meter.GpuSeconds, milliGpus, new UsageDimensions(tier, gpuModel, region, model), start, end, notChargedFrom);

    /// <summary>
    /// GPU time of one attempt of a workload, from the control plane's own record of it: it ran from
    /// <paramref name="started"/> until <paramref name="ended"/>, and was given notice by the operator at
    /// <paramref name="noticed"/> (null when it was not preempted). An end recorded before the start bills nothing; a
    /// notice is kept inside the run, so the notice period is never charged and nothing outside the run is.
    /// </summary>
    public static UsageEvent GpuAttempt(
        string id, string orgId, string projectId, long milliGpus, Tier tier, string gpuModel, string region,
        DateTimeOffset started, DateTimeOffset ended, DateTimeOffset? noticed)
    {
        var end = ended < started ? started : ended;
        DateTimeOffset? notChargedFrom = noticed is not { } n ? null : n < started ? started : n > end ? end : n;
        return GpuTime(id, orgId, projectId, milliGpus, tier, gpuModel, region, started, end, notChargedFrom);
    }

    /// <summary>Tokens of <paramref name="model"/> served at <paramref name="time"/>.</summary>
    public static UsageEvent Tokens(
        string id, string orgId, string projectId, Meter meter, long tokens, string model, DateTimeOffset time,
        bool batch = false, string? apiKeyId = null) =>
        new(id, orgId, projectId, meter, tokens, new UsageDimensions(Model: model, ApiKeyId: apiKeyId, Batch: batch), time, time);

    /// <summary>
    /// A capacity block's up-front charge (positive) or refund (negative) of <paramref name="amount"/> at
    /// <paramref name="time"/>; the amount must fit line precision (10 places) and <see cref="MaxPrepaidAmount"/>.
    /// </summary>
    public static UsageEvent Prepaid(
        string id, string orgId, string projectId, decimal amount, string gpuModel, string region, DateTimeOffset time) =>
        new(id, orgId, projectId, Meter.Reservation, BillingMath.ToPrepaidUnits(amount),
            new UsageDimensions(Tier.Reserved, gpuModel, region), time, time);

    /// <summary>The largest up-front charge one event may carry, so its quantity fits a long at 10 places.</summary>
    public const decimal MaxPrepaidAmount = 900_000_000m;

    /// <summary>The most milli-GPUs one event may hold: 100 000 GPUs.</summary>
    public const long MaxMilliGpus = 100_000_000;

    /// <summary>The most tokens one event may count.</summary>
    public const long MaxTokens = 1_000_000_000_000;

    /// <summary>The longest GPU-time event; a workload that runs longer is metered in several events.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(366);

    /// <summary>The moment billing stops: <see cref="End"/>, or the preemption notice when that came first.</summary>
    public DateTimeOffset ChargedUntil => NotChargedFrom is { } notice && notice < End ? notice : End;

    /// <summary>
    /// Every reason this event cannot be rated, in field order; empty when it is well-formed. The store refuses such an
    /// event with a 400; the rater reports it instead of charging it.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Id))
        {
            problems.Add("id: required.");
        }
        if (string.IsNullOrWhiteSpace(OrgId))
        {
            problems.Add("org_id: required.");
        }
        if (string.IsNullOrWhiteSpace(ProjectId))
        {
            problems.Add("project_id: required.");
        }
        if (Dimensions is null)
        {
            problems.Add("dimensions: required.");
            return problems;
        }
        switch (Meter)
        {
            case Meter.GpuSeconds:
                if (Quantity is <= 0 or > MaxMilliGpus)
                {
                    problems.Add($"quantity: a GPU-time event holds between 1 and {MaxMilliGpus} milli-GPUs, not {Quantity}.");
                }
                if (Dimensions.Tier is null)
                {
                    problems.Add("dimensions.tier: required for gpu_seconds.");
                }
                if (string.IsNullOrWhiteSpace(Dimensions.GpuModel))
                {
                    problems.Add("dimensions.gpu_model: required for gpu_seconds.");
                }
                if (string.IsNullOrWhiteSpace(Dimensions.Region))
                {
                    problems.Add("dimensions.region: required for gpu_seconds.");
                }
                if (End < Start)
                {
                    problems.Add($"end: {End:O} is before start {Start:O}; a duration cannot be negative.");
                }
                else if (End - Start > MaxDuration)
                {
                    problems.Add($"end: the event spans more than {MaxDuration.TotalDays} days.");
                }
                if (NotChargedFrom is { } notice && (notice < Start || notice > End))
                {
                    problems.Add($"not_charged_from: {notice:O} is outside [start, end].");
                }
                break;
            case Meter.InputTokens or Meter.OutputTokens:
                if (Quantity is < 0 or > MaxTokens)
                {
                    problems.Add($"quantity: a token count is between 0 and {MaxTokens}, not {Quantity}.");
                }
                if (string.IsNullOrWhiteSpace(Dimensions.Model))
                {
                    problems.Add($"dimensions.model: required for {Meter.ToCode()}.");
                }
                if (End != Start)
                {
                    problems.Add("end: a token event happens at one point in time; end must equal start.");
                }
                if (NotChargedFrom is not null)
                {
                    problems.Add("not_charged_from: only GPU time has a notice period.");
                }
                break;
            case Meter.Reservation:
                if (Quantity == 0 || Math.Abs((decimal)Quantity) > MaxPrepaidAmount * BillingMath.PrepaidUnitsPerCurrency)
                {
                    problems.Add($"quantity: a reservation charge or refund is non-zero and at most {MaxPrepaidAmount} in units of 10^-10, not {Quantity}.");
                }
                if (Dimensions.Tier != Tier.Reserved || string.IsNullOrWhiteSpace(Dimensions.GpuModel) || string.IsNullOrWhiteSpace(Dimensions.Region))
                {
                    problems.Add("dimensions: a reservation charge is of tier reserved and names its GPU model and region.");
                }
                if (End != Start || NotChargedFrom is not null)
                {
                    problems.Add("end: a reservation charge happens at one point in time, without a notice.");
                }
                break;
            default:
                problems.Add($"meter: unknown value {(int)Meter}.");
                break;
        }
        if (Estimated && Meter is not (Meter.InputTokens or Meter.OutputTokens))
        {
            problems.Add("estimated: only token counts are ever estimated.");
        }
        if (Dimensions.Tier is { } anyTier && MeteringCodes.TierCode(anyTier) is null)
        {
            problems.Add($"dimensions.tier: unknown value {(int)anyTier}.");
        }
        return problems;
    }
}
