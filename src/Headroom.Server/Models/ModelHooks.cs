using System.Data.Common;
using Headroom.Core.Access;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;
using Headroom.Gateway.Engines;
using Headroom.Gateway.OpenAi;
using Headroom.Server.Api;
using Headroom.Server.Billing;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Identity;
using Headroom.Store.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Models;

/// <summary>
/// The server's side of every model call (<see cref="IGatewayHooks"/>). The caller was already authenticated and
/// checked for <see cref="Permission.ModelInvoke"/> before the gateway read the body (<see cref="ModelServing"/>).
/// <list type="number">
/// <item>Admit: pick the project (<c>OpenAI-Project</c> header, else the key's project, else the org's first
/// project), pin the call to the project's regions (<see cref="GatewayCall.AllowedRegions"/>: no healthy replica
/// there is a 503 naming them, never a reroute), take rate-limit places for the caller and the project
/// (<see cref="ModelRateLimits"/>), then reserve the
/// call's most expensive outcome against the org's and project's budgets (<see cref="BudgetGuard"/>; a spent hard
/// limit is 429 <c>insufficient_quota</c>).</item>
/// <item>Complete: journal the tokens (one row keyed by the request id, committed before the response completes,
/// so an acknowledged call is metered even if the process dies right after, and never twice), settle the budget lease
/// with the real cost, release the rate-limit leases and log the call's metadata. Nothing of the prompt or output is
/// logged or audited; only a project that keeps request logs (<c>retention</c> in days) has the call's request and
/// answer stored, in <c>request_logs</c>, in the same transaction as its journal row.</item>
/// </list>
/// </summary>
internal sealed partial class ModelHooks(
    Database database, HotRows rows, ModelRateLimits limits, BudgetGuard budgets, CallJournal journalWriter, HeadroomSettings settings, Ids ids, TimeProvider time,
    ILogger<ModelHooks> logger, Deployments.ReplicaRouting deployments) : IGatewayHooks
{
    /// <summary>A deployment's model is visible to its org, and the operator's serverless ones to every org; models loaded in process to all.</summary>
    public bool IsModelVisible(HttpContext http, string model) =>
        deployments.Find(model) is not { } deployment || (Access.Of(http) is { } principal && deployment.VisibleTo(principal.OrgId));

    /// <summary>The output a call that names no <c>max_tokens</c> is budgeted for: the in-process engine's context.</summary>
    public const int DefaultMaxOutputTokens = 4096;

    // Token prices for budgeting, reread at most this often; what is billed comes from the ledger, not from here.
    private static readonly TimeSpan PricesFor = TimeSpan.FromSeconds(5);
    private TokenPrices? _prices;

    public const string ProjectHeader = "OpenAI-Project";

    /// <summary>
    /// Names the call in its response: the id its usage events carry (<c>{id}:input_tokens</c>, <c>{id}:output_tokens</c>).
    /// For chat and completions it is also the response's <c>id</c>; embedding responses have no id of their own.
    /// </summary>
    public const string CallIdHeader = "X-Model-Call-Id";
    private const string AdmissionItem = "hr.model_admission";

    private sealed record TokenPrices(PriceSheet Sheet, DateTimeOffset ReadAt);

    /// <summary>
    /// Sent by a batch's worker with each line: the hex SHA-256 of the line's <c>custom_id</c>. From the batch's own key
    /// it makes the call a batch call whose request id is derived from the batch and the line, so a line sent again
    /// (a retry, a resumed worker after a preemption) is metered once. From any other credential it is ignored.
    /// </summary>
    public const string BatchLineHeader = "Headroom-Batch-Line";

    private sealed record Admission(Principal Principal, string ProjectId, RateLease Lease, BudgetGuardLease Budget, decimal InputPerMillion, decimal OutputPerMillion, bool Batch,
        bool KeepsLogs, DateTimeOffset StartedAt);

    public async ValueTask<GatewayError?> AdmitAsync(GatewayCall call, CancellationToken cancellationToken)
    {
        if (Access.Of(call.HttpContext) is not { } principal)
            return GatewayError.Unauthorized();
        var (project, refusal) = await ProjectOfAsync(call.HttpContext, principal, cancellationToken);
        if (project is null)
            return refusal;
        if (ProjectSettings.RegionsOf(project) is { } regions)
            call.AllowedRegions = regions.ToHashSet(StringComparer.Ordinal);

        var batch = await BatchCallIdAsync(call, principal, cancellationToken);
        if (batch is not null)
            call.RequestId = batch;

        var perProject = settings.Models.PerProject.Tighten(project.ModelRequestsPerMinute, project.ModelTokensPerMinute, project.ModelConcurrentRequests);
        RateScope[] scopes =
        [
            new(CallerScope(principal), settings.Models.PerKey),
            new("project:" + project.Id, perProject),
        ];
        var tokens = (long)call.EstimatedInputTokens + (call.MaxOutputTokens ?? 0);
        var (lease, limited) = await limits.TryAdmitAsync(call.RequestId, scopes, tokens, time.GetUtcNow(), cancellationToken);
        if (lease is null)
        {
            LogRateLimited(logger, call.Model, principal.OrgId, project.Id, principal.ActorId, limited!.Message);
            return limited;
        }

        // Budgets: reserve the most this call can cost before any engine work, settle the real cost when it completes,
        // so concurrent calls never spend past a hard limit by more than one call.
        // A dedicated deployment's tokens are not charged (its GPU time is): nothing to reserve for them.
        var (inputRate, outputRate) = DedicatedTier(call.Model) is null ? await TokenRatesAsync(call.Model, batch is not null, cancellationToken) : (0m, 0m);
        var maxCost = ((call.EstimatedInputTokens * inputRate) + ((call.MaxOutputTokens ?? DefaultMaxOutputTokens) * outputRate)) / 1_000_000m;
        var budget = await budgets.ReserveAsync(principal.OrgId, project.Id, maxCost, cancellationToken);
        if (budget.Lease is null)
        {
            await limits.ReleaseAsync(lease, 0, CancellationToken.None);
            LogRateLimited(logger, call.Model, principal.OrgId, project.Id, principal.ActorId, budget.Message);
            return GatewayError.InsufficientQuota(budget.Message);
        }
        call.Items[AdmissionItem] = new Admission(principal, project.Id, lease, budget.Lease, inputRate, outputRate, batch is not null,
            project.RetentionDays is not null, time.GetUtcNow());
        call.HttpContext.Response.Headers[CallIdHeader] = call.RequestId;
        return null;
    }

    public async ValueTask CompleteAsync(GatewayCall call, TokenUsage usage, GatewayError? error, CancellationToken cancellationToken)
    {
        if (!call.Items.TryGetValue(AdmissionItem, out var item) || item is not Admission admission)
            return;
        var principal = admission.Principal;
        var charged = 0m;
        var settledByJournal = false;
        try
        {
            // A failed call is not charged, except a stream cut after output reached the caller: those tokens were served.
            var charge = (error is null || (call.Stream && usage.OutputTokens > 0)) && usage.TotalTokens > 0;
            var cost = charge ? ((usage.InputTokens * admission.InputPerMillion) + (usage.OutputTokens * admission.OutputPerMillion)) / 1_000_000m : 0m;
            if (charge || admission.KeepsLogs)
                settledByJournal = await RecordAsync(call, admission, usage, charge, cost, error, cancellationToken);
            charged = cost;
        }
        finally
        {
            try
            {
                // After the journal: the budget loop counts journaled calls as spent, so a settlement is never lost.
                if (!settledByJournal)
                    await budgets.SettleAsync(admission.Budget, Math.Min(charged, BudgetUnits.Max), CancellationToken.None);
            }
            catch (Exception e) when (e is DbException or DbUpdateException or InvalidOperationException)
            {
                // The call's answer stands; the budget loop releases a lease left unsettled.
                LogReleaseFailed(logger, call.RequestId, e);
            }
            try
            {
                await limits.ReleaseAsync(admission.Lease, usage.TotalTokens, CancellationToken.None);
            }
            catch (Exception e) when (e is DbException or DbUpdateException or InvalidOperationException)
            {
                // The call's answer stands; its lease expires on its own.
                LogReleaseFailed(logger, call.RequestId, e);
            }
        }
        LogCall(logger, call.RequestId, call.Model, call.Operation, principal.OrgId, admission.ProjectId, principal.ActorId, call.Replica,
            usage.InputTokens, usage.OutputTokens, usage.Estimated, error?.Status ?? 200);
    }

    /// <summary>
    /// Records the call's token counts when it is <paramref name="charged"/> (a row already there, the same request id,
    /// counts once) and, for a project that keeps request logs, the call's request log, together (<see cref="CallJournal"/>).
    /// True when the journal settles the call's budget lease at <paramref name="cost"/> once they are in the store.
    /// </summary>
    private async Task<bool> RecordAsync(GatewayCall call, Admission admission, TokenUsage usage, bool charged, decimal cost, GatewayError? error, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var apiKeyId = admission.Principal.ActorType == ActorType.ApiKey ? admission.Principal.ActorId : null;
        var log = !admission.KeepsLogs ? null : new RequestLogRow
        {
            Id = ids.New("rlog"),
            RequestId = call.RequestId,
            OrgId = admission.Principal.OrgId,
            ProjectId = admission.ProjectId,
            Model = call.Model,
            Operation = RequestLogs.OperationCode(call.Operation),
            ApiKeyId = apiKeyId,
            Actor = admission.Principal.ActorId,
            Region = call.Region,
            Stream = call.Stream,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            Estimated = usage.Estimated,
            Status = error?.Status ?? 200,
            StartedAt = admission.StartedAt,
            CompletedAt = now,
            RequestBody = call.Body.ToJsonString(),
            ResponseBody = string.IsNullOrEmpty(call.Output) ? null : call.Output,
        };
        var journal = !charged ? null : new TokenJournalRow
        {
            RequestId = call.RequestId,
            OrgId = admission.Principal.OrgId,
            ProjectId = admission.ProjectId,
            ApiKeyId = apiKeyId,
            Actor = admission.Principal.ActorId,
            Model = call.Model,
            Region = call.Region,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            Estimated = usage.Estimated,
            Batch = admission.Batch,
            DedicatedTier = DedicatedTier(call.Model),
            ServedAt = now,
        };
        return await journalWriter.RecordAsync(journal, log, admission.Budget, Math.Min(cost, BudgetUnits.Max), cancellationToken);
    }

    /// <summary>
    /// The project a call is metered and limited in: the <c>OpenAI-Project</c> header (a project of the caller's org
    /// that the credential may see), else the project the key is scoped to, else the org's first project (the oldest).
    /// </summary>
    private async Task<(ProjectRow? Project, GatewayError? Refusal)> ProjectOfAsync(HttpContext http, Principal principal, CancellationToken cancellationToken)
    {
        if (http.Request.Headers[ProjectHeader].ToString() is { Length: > 0 } named)
        {
            if (principal.ProjectId is { } scoped && scoped != named)
                return (null, GatewayError.Forbidden($"This API key is scoped to project {scoped}; it cannot call models for another project."));
            var project = await rows.ProjectAsync(principal.OrgId, named, cancellationToken);
            return project is null
                ? (null, new GatewayError(400, $"No project with id '{named}' (from the {ProjectHeader} header).", "invalid_request_error", ProjectHeader, "project_not_found"))
                : (project, null);
        }
        if (principal.ProjectId is { } own)
        {
            var project = await rows.ProjectAsync(principal.OrgId, own, cancellationToken);
            return project is null ? (null, GatewayError.Forbidden($"The project {own} of this API key no longer exists.")) : (project, null);
        }
        var first = await rows.FirstProjectAsync(principal.OrgId, cancellationToken);
        return first is null
            ? (null, new GatewayError(400, $"Model calls are metered to a project, and this org has none: create one (POST /v1/projects) or send the {ProjectHeader} header.",
                "invalid_request_error", ProjectHeader, "project_required"))
            : (first, null);
    }

    /// <summary>
    /// For a batch line (the <see cref="BatchLineHeader"/> from the key minted for a batch): the call's request id,
    /// <c>{operation prefix}-{batch id}-{first 32 hex digits of the line's key}</c>. Null for any other call.
    /// </summary>
    private async Task<string?> BatchCallIdAsync(GatewayCall call, Principal principal, CancellationToken cancellationToken)
    {
        var line = call.HttpContext.Request.Headers[BatchLineHeader].ToString();
        if (principal.ActorType != ActorType.ApiKey || line.Length != 64 || !line.All(char.IsAsciiHexDigitLower))
            return null;
        await using var db = database.Open();
        var batchId = await db.Batches.AsNoTracking().Where(b => b.ApiKeyId == principal.ActorId).Select(b => b.Id).FirstOrDefaultAsync(cancellationToken);
        if (batchId is null)
            return null;
        var prefix = call.RequestId[..(call.RequestId.IndexOf('-', StringComparison.Ordinal) + 1)];
        return prefix + batchId + "-" + line[..32];
    }

    /// <summary>Per-million input and output token prices of <paramref name="model"/> now (with the batch discount for a batch call); zero where the sheet has none.</summary>
    private async Task<(decimal Input, decimal Output)> TokenRatesAsync(string model, bool batch, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_prices is not { } cached || now - cached.ReadAt > PricesFor)
        {
            await using var db = database.Open();
            var (sheet, _) = await PriceEndpoints.LoadAsync(db, cancellationToken);
            _prices = cached = new TokenPrices(sheet, now);
        }
        var input = cached.Sheet.TokenPerMillionAt(model, Meter.InputTokens, batch, now);
        var output = cached.Sheet.TokenPerMillionAt(model, Meter.OutputTokens, batch, now);
        return (input.Found ? input.Rate : 0m, output.Found ? output.Rate : 0m);
    }

    /// <summary>The tier of the replicas serving <paramref name="model"/> when it is a dedicated deployment (billed by GPU time, not tokens); else null.</summary>
    private string? DedicatedTier(string model) =>
        deployments.Find(model) is { Billing: Deployments.DeploymentCodes.Dedicated } deployment ? deployment.Tier : null;

    /// <summary>The caller's rate-limit scope: its API key, or for an OIDC token its subject.</summary>
    private static string CallerScope(Principal principal) =>
        (principal.ActorType == ActorType.ApiKey ? "key:" : "user:") + principal.ActorId;

    // Debug: at thousands of calls a second a line each is most of the console's work and a tail-latency cost; every
    // call is in the token journal and the ledger anyway. Logging__LogLevel__Headroom.Server.Models=Debug turns it on.
    [LoggerMessage(EventId = 7001, Level = LogLevel.Debug,
        Message = "Model call {RequestId}: {Model} {Operation} org {OrgId} project {ProjectId} by {Actor} on {Replica}: {InputTokens} in, {OutputTokens} out (estimated {Estimated}), status {Status}")]
    private static partial void LogCall(ILogger logger, string requestId, string model, GatewayOperation operation, string orgId, string projectId,
        string actor, string? replica, int inputTokens, int outputTokens, bool estimated, int status);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Model call to {Model} by {Actor} (org {OrgId}, project {ProjectId}) refused: {Reason}")]
    private static partial void LogRateLimited(ILogger logger, string model, string orgId, string projectId, string actor, string reason);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Could not release the rate-limit leases of model call {RequestId}; they expire on their own")]
    private static partial void LogReleaseFailed(ILogger logger, string requestId, Exception exception);
}
