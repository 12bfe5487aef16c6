using System.Globalization;
using System.Text.Json.Serialization;
using Headroom.Core.Access;
using Headroom.Core.Pricing;
using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>
/// A budget as POST creates it and PATCH changes it (fields left out are unchanged on PATCH). <c>limit</c> is a
/// decimal string; <c>period</c> is <c>month</c> (the calendar month in UTC, the only period for now);
/// <c>webhook_secret</c> is write-only and required with a <c>webhook_url</c>.
/// </summary>
public sealed record BudgetBody(
    string? Name, string? ProjectId, string? Limit, string? Period, IReadOnlyList<int>? AlertPercents, bool? HardLimit,
    string? WebhookUrl, string? WebhookSecret);

public sealed record BudgetSpendView(DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, string Spent, string Reserved, string Available);

public sealed record BudgetView(
    string Id, string Name, string? ProjectId, string Limit, string Period, IReadOnlyList<int> AlertPercents, bool HardLimit,
    string? WebhookUrl, bool WebhookSecretSet, BudgetSpendView Current, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public string Object => "budget";
}

/// <summary>
/// A budget event, as listed and as POSTed to the webhook. <see cref="Delivery"/>: none (no webhook), pending,
/// delivered or failed; it and <see cref="Attempts"/> are left out of the webhook's body.
/// </summary>
public sealed record BudgetEventView(
    string Id, string Type, string BudgetId, string OrgId, string? ProjectId, DateTimeOffset PeriodStart, int Percent, string Threshold,
    string Spent, string Limit, DateTimeOffset Time,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Delivery,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Attempts)
{
    public string Object => "budget.event";
}

internal static class BudgetForms
{
    public const string Month = "month";

    public static IReadOnlyList<int> Percents(string stored) =>
        [.. stored.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, NumberStyles.None, CultureInfo.InvariantCulture))];

    public static long Threshold(long limitUnits, int percent) => (long)Math.Ceiling(limitUnits * (decimal)percent / 100m);

    public static BudgetView View(BudgetRow b, BudgetSpendRow? spend, BillingPeriod period)
    {
        var spent = (spend?.MeteredUnits ?? 0) + (spend?.SettledUnits ?? 0);
        var reserved = spend?.ReservedUnits ?? 0;
        return new(b.Id, b.Name, b.ProjectId, BudgetUnits.Text(b.LimitUnits), Month, Percents(b.AlertPercents), b.HardLimit, b.WebhookUrl,
            b.WebhookSecret is not null,
            new BudgetSpendView(period.Start, period.End, BudgetUnits.Text(spent), BudgetUnits.Text(reserved), BudgetUnits.Text(Math.Max(0, b.LimitUnits - spent - reserved))),
            b.CreatedAt, b.UpdatedAt);
    }

    /// <summary>The webhook body: the event without its delivery state.</summary>
    public static BudgetEventView EventView(BudgetEventRow e, BudgetRow b, bool withDelivery = false) => new(
        e.Id, e.Type, e.BudgetId, e.OrgId, b.ProjectId, e.PeriodStart, e.Percent, BudgetUnits.Text(e.ThresholdUnits), BudgetUnits.Text(e.SpentUnits),
        BudgetUnits.Text(b.LimitUnits), e.Time, withDelivery ? e.Delivery : null, withDelivery ? e.Attempts : null);
}

/// <summary>
/// Budgets of the caller's org: per org (no <c>project_id</c>) or per project, per calendar month. A key scoped to a
/// project sees and manages that project's budgets only. Spend, reservations and alerts are kept by
/// <see cref="BudgetGuard"/> and <see cref="BudgetWatch"/>.
/// </summary>
internal static class BudgetEndpoints
{
    private const int MaxUrl = 2000;

    public static void Map(IEndpointRouteBuilder api)
    {
        var budgets = api.MapGroup("/budgets").WithTags("Budgets");
        budgets.MapGet("", List).WithName("budgets.list").RequireAccess(Permission.BudgetRead);
        budgets.MapPost("", Create).WithName("budgets.create").RequireAccess(Permission.BudgetWrite);
        budgets.MapGet("/{id}", Get).WithName("budgets.get").RequireAccess(Permission.BudgetRead);
        budgets.MapPatch("/{id}", Update).WithName("budgets.update").RequireAccess(Permission.BudgetWrite);
        budgets.MapDelete("/{id}", Delete).WithName("budgets.delete").RequireAccess(Permission.BudgetWrite);
        budgets.MapGet("/{id}/events", Events).WithName("budgets.events").RequireAccess(Permission.BudgetRead);
    }

    private static IQueryable<BudgetRow> Visible(HeadroomDb db, Principal principal)
    {
        var query = db.Budgets.AsNoTracking().Where(b => b.OrgId == principal.OrgId);
        return principal.ProjectId is { } only ? query.Where(b => b.ProjectId == only) : query;
    }

    private static async Task<IResult> List(HttpContext http, Database database, TimeProvider time)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var rows = await page.ApplyTo(Visible(db, Access.Required(http)), b => b.Id).ToListAsync(http.RequestAborted);
        var period = BillingPeriod.MonthOf(time.GetUtcNow());
        var ids = rows.Select(r => r.Id).ToList();
        var spend = await db.BudgetSpend.AsNoTracking().Where(s => ids.Contains(s.BudgetId) && s.PeriodStart == period.Start).ToDictionaryAsync(s => s.BudgetId, http.RequestAborted);
        return Results.Json(page.Build(rows, r => BudgetForms.View(r, spend.GetValueOrDefault(r.Id), period), v => v.Id), Json.Options);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database, TimeProvider time)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).FirstOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        return row is null ? Errors.NotFound("budget", id) : Results.Json(await ViewAsync(db, row, time, http.RequestAborted), Json.Options);
    }

    private static async Task<BudgetView> ViewAsync(HeadroomDb db, BudgetRow row, TimeProvider time, CancellationToken cancellationToken)
    {
        var period = BillingPeriod.MonthOf(time.GetUtcNow());
        var spend = await db.BudgetSpend.AsNoTracking().FirstOrDefaultAsync(s => s.BudgetId == row.Id && s.PeriodStart == period.Start, cancellationToken);
        return BudgetForms.View(row, spend, period);
    }

    private static async Task<IResult> Create(HttpContext http, BudgetBody? body, Database database, HotRows rows, Ids ids, TimeProvider time)
    {
        var principal = Access.Required(http);
        if (body is null)
            return Errors.MissingBody;
        await using var db = database.Open();
        var projectId = body.ProjectId ?? principal.ProjectId;
        if (projectId is not null && (!principal.SeesProject(projectId)
                || !await db.Projects.AnyAsync(p => p.Id == projectId && p.OrgId == principal.OrgId, http.RequestAborted)))
            return Errors.BadRequest($"project_id '{projectId}' is not a project of this org.", "project_id");
        if (body.Limit is null)
            return Errors.BadRequest("limit is required (a decimal string such as \"500.00\").", "limit");
        var now = time.GetUtcNow();
        var row = new BudgetRow
        {
            Id = ids.New("bud"),
            OrgId = principal.OrgId,
            ProjectId = projectId,
            Name = body.Name ?? "",
            AlertPercents = "50,80,100",
            CreatedAt = now,
            UpdatedAt = now,
        };
        if (Apply(row, body) is { } invalid)
            return invalid;
        db.Budgets.Add(row);
        await db.SaveChangesAsync(http.RequestAborted);
        rows.BudgetsChanged(row.OrgId);
        AuditMiddleware.SetTarget(http, row.Id);
        return Results.Json(await ViewAsync(db, row, time, http.RequestAborted), Json.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Update(HttpContext http, string id, BudgetBody? body, Database database, HotRows rows, TimeProvider time)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().FirstOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("budget", id);
        if (body is null)
            return Errors.MissingBody;
        if (body.ProjectId is not null && body.ProjectId != row.ProjectId)
            return Errors.BadRequest("project_id cannot change; delete the budget and create another.", "project_id");
        if (Apply(row, body) is { } invalid)
            return invalid;
        row.UpdatedAt = time.GetUtcNow();
        await db.SaveChangesAsync(http.RequestAborted);
        rows.BudgetsChanged(row.OrgId);
        return Results.Json(await ViewAsync(db, row, time, http.RequestAborted), Json.Options);
    }

    /// <summary>Deletes the budget with its spend and leases; its events stay, as history. Outstanding leases settle as no-ops.</summary>
    private static async Task<IResult> Delete(HttpContext http, string id, Database database, HotRows rows)
    {
        await using var db = database.Open();
        var row = await Visible(db, Access.Required(http)).AsTracking().FirstOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("budget", id);
        await using var tx = await db.Database.BeginTransactionAsync(http.RequestAborted);
        await db.BudgetSpend.Where(s => s.BudgetId == id).ExecuteDeleteAsync(http.RequestAborted);
        await db.BudgetLeases.Where(l => l.BudgetId == id).ExecuteDeleteAsync(http.RequestAborted);
        db.Budgets.Remove(row);
        await db.SaveChangesAsync(http.RequestAborted);
        await tx.CommitAsync(http.RequestAborted);
        rows.BudgetsChanged(row.OrgId);
        return Results.Json(new { id, @object = "budget", deleted = true }, Json.Options);
    }

    private static async Task<IResult> Events(HttpContext http, string id, Database database)
    {
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var budget = await Visible(db, Access.Required(http)).FirstOrDefaultAsync(b => b.Id == id, http.RequestAborted);
        if (budget is null)
            return Errors.NotFound("budget", id);
        var rows = await page.ApplyTo(db.BudgetEvents.AsNoTracking().Where(e => e.BudgetId == id), e => e.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, e => BudgetForms.EventView(e, budget, withDelivery: true), v => v.Id), Json.Options);
    }

    /// <summary>Validates the fields present in <paramref name="body"/> and sets them on <paramref name="row"/>; the 400 for the first bad one.</summary>
    private static IResult? Apply(BudgetRow row, BudgetBody body)
    {
        if (Validate.Text(body.Name, "name", 200) is { } badName)
            return badName;
        if (body.Period is not (null or BudgetForms.Month))
            return Errors.BadRequest("period must be month (the calendar month in UTC).", "period");
        if (body.Limit is not null)
        {
            if (!Money.TryParse(body.Limit, out var limit) || limit < 0m || limit > BudgetUnits.Max || BillingMath.DecimalPlaces(limit) > BillingMath.LineDecimals)
                return Errors.BadRequest($"limit must be a decimal string from 0 to {BudgetUnits.Max} with at most {BillingMath.LineDecimals} places.", "limit");
            row.LimitUnits = BudgetUnits.From(limit);
        }
        if (body.AlertPercents is { } percents)
        {
            var problems = new BudgetPolicy(0m, BillingPeriod.Month(2026, 1), false, percents).Validate();
            if (problems.Count > 0 || percents.Count > 20)
                return Errors.BadRequest(problems.Count > 0 ? $"{problems[0].Path}: {problems[0].Message}" : "at most 20 alert_percents.", problems.Count > 0 ? problems[0].Path : "alert_percents");
            row.AlertPercents = string.Join(',', percents.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        }
        if (body.HardLimit is { } hard)
            row.HardLimit = hard;
        if (body.WebhookUrl is not null)
        {
            if (body.WebhookUrl.Length == 0)
            {
                // An empty URL removes the webhook and its secret.
                row.WebhookUrl = null;
                row.WebhookSecret = null;
            }
            else if (body.WebhookUrl.Length > MaxUrl || !Uri.TryCreate(body.WebhookUrl, UriKind.Absolute, out var url)
                || url.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(url.UserInfo))
            {
                return Errors.BadRequest($"webhook_url must be an absolute http or https URL of at most {MaxUrl} characters, without credentials.", "webhook_url");
            }
            else
            {
                row.WebhookUrl = url.AbsoluteUri;
            }
        }
        if (body.WebhookSecret is not null)
        {
            if (body.WebhookSecret.Length is < 16 or > 256 || body.WebhookSecret.Any(c => c is < ' ' or > '~'))
                return Errors.BadRequest("webhook_secret must be 16 to 256 printable ASCII characters.", "webhook_secret");
            row.WebhookSecret = body.WebhookSecret;
        }
        if (row.WebhookUrl is not null && row.WebhookSecret is null)
            return Errors.BadRequest("webhook_secret is required with a webhook_url: deliveries are signed with it.", "webhook_secret");
        return null;
    }
}
