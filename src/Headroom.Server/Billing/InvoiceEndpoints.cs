using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Headroom.Core.Access;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Billing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Billing;

/// <summary>An issued invoice in a list: the figures, without lines.</summary>
public sealed record InvoiceSummaryView(string Id, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, string Currency, string Total, DateTimeOffset IssuedAt)
{
    public string Object => "invoice";
    public string Status => "issued";
}

/// <summary>
/// The org's invoices: issued ones (stored, immutable) as JSON, CSV or printable HTML, and the current month's draft.
/// Invoices are org-wide, so a key scoped to one project is refused (403) rather than shown a part of the bill.
/// </summary>
internal static class InvoiceEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var invoices = api.MapGroup("/invoices").WithTags("Invoices");
        invoices.MapGet("", List).WithName("invoices.list").RequireAccess(Permission.InvoiceRead);
        invoices.MapGet("/upcoming", Upcoming).WithName("invoices.upcoming").RequireAccess(Permission.InvoiceRead);
        invoices.MapGet("/{id}", Get).WithName("invoices.get").RequireAccess(Permission.InvoiceRead);
    }

    private static IResult? OrgWide(Principal principal) => principal.ProjectId is null
        ? null
        : Errors.Forbidden("Invoices cover the whole org; use a key that is not scoped to a project.");

    private static async Task<IResult> List(HttpContext http, Database database)
    {
        var principal = Access.Required(http);
        if (OrgWide(principal) is { } refused)
            return refused;
        if (!PageRequest.TryRead(http.Request, out var page, out var error))
            return error!;
        await using var db = database.Open();
        var rows = await page.ApplyTo(db.Invoices.AsNoTracking().Where(i => i.OrgId == principal.OrgId), i => i.Id).ToListAsync(http.RequestAborted);
        return Results.Json(page.Build(rows, r => new InvoiceSummaryView(r.Id, r.PeriodStart, r.PeriodEnd, r.Currency, r.Total, r.IssuedAt), v => v.Id), Json.Options);
    }

    private static async Task<IResult> Upcoming(HttpContext http, Invoicer invoicer)
    {
        var principal = Access.Required(http);
        if (OrgWide(principal) is { } refused)
            return refused;
        if (Format(http) is not { } format)
            return BadFormat;
        return Render(http, await invoicer.DraftAsync(principal.OrgId, http.RequestAborted), format);
    }

    private static async Task<IResult> Get(HttpContext http, string id, Database database)
    {
        var principal = Access.Required(http);
        if (OrgWide(principal) is { } refused)
            return refused;
        if (Format(http) is not { } format)
            return BadFormat;
        await using var db = database.Open();
        var row = await db.Invoices.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.OrgId == principal.OrgId, http.RequestAborted);
        if (row is null)
            return Errors.NotFound("invoice", id);
        return Render(http, JsonSerializer.Deserialize<InvoiceView>(row.Document, Json.Options)!, format);
    }

    private static IResult BadFormat { get; } = Errors.BadRequest("format must be json, csv or html.", "format");

    private static string? Format(HttpContext http) => http.Request.Query["format"].ToString() switch
    {
        "" or "json" => "json",
        "csv" => "csv",
        "html" => "html",
        _ => null,
    };

    /// <summary>
    /// The invoice in the asked format. CSV comes as a download named after the invoice; the HTML page may load nothing
    /// (a Content-Security-Policy that allows only its own inline style), on top of every value being escaped.
    /// </summary>
    private static IResult Render(HttpContext http, InvoiceView invoice, string format)
    {
        var name = invoice.Id ?? $"draft-{invoice.PeriodStart:yyyy-MM}";
        switch (format)
        {
            case "csv":
                http.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}.csv\"";
                return Results.Text(InvoiceRendering.Csv(invoice), "text/csv; charset=utf-8");
            case "html":
                http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'";
                return Results.Text(InvoiceRendering.Html(invoice), "text/html; charset=utf-8");
            default:
                return Results.Json(invoice, Json.Options);
        }
    }
}

/// <summary>An invoice as CSV (RFC 4180) and as one self-contained printable HTML page; every value is escaped.</summary>
internal static class InvoiceRendering
{
    private static readonly string[] Columns =
        ["project_id", "meter", "tier", "gpu_model", "region", "model", "batch", "unit_price", "unit", "quantity", "amount"];

    /// <summary>
    /// One row per line with the columns above, then one row each for subtotal, credits_applied, rounding and total
    /// (the name in the first column, the figure in <c>amount</c>), so a spreadsheet's sum of the line amounts equals
    /// the subtotal.
    /// </summary>
    public static string Csv(InvoiceView invoice)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', Columns).Append("\r\n");
        foreach (var l in invoice.Lines)
        {
            Row(sb, [l.ProjectId, l.Meter, l.Tier, l.GpuModel, l.Region, l.Model, l.Batch ? "true" : "false", l.UnitPrice, l.Unit,
                l.Quantity.ToString(CultureInfo.InvariantCulture), l.Amount]);
        }
        foreach (var (name, amount) in Totals(invoice))
            Row(sb, [name, "", "", "", "", "", "", "", "", "", amount]);
        return sb.ToString();
    }

    private static (string Name, string Amount)[] Totals(InvoiceView i) =>
        [("subtotal", i.Subtotal), ("credits_applied", i.CreditsApplied), ("rounding", i.Rounding), ("total", i.Total)];

    private static void Row(StringBuilder sb, string?[] fields)
    {
        for (var i = 0; i < fields.Length; i++)
        {
            if (i > 0)
                sb.Append(',');
            sb.Append(Field(fields[i] ?? ""));
        }
        sb.Append("\r\n");
    }

    /// <summary>Quotes what needs it; text a spreadsheet would run as a formula is prefixed with an apostrophe.</summary>
    private static string Field(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !Money.TryParse(value, out _))
            value = "'" + value;
        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    public static string Html(InvoiceView invoice)
    {
        static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");
        var title = invoice.Id is null ? "Draft invoice" : $"Invoice {invoice.Id}";
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
          .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
          .Append("<title>").Append(E(title)).Append("</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%}")
          .Append("th,td{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}")
          .Append("tfoot td{border:none}@media print{body{margin:0}}</style></head><body>\n");
        sb.Append("<h1>").Append(E(title)).Append("</h1>\n<p>Org ").Append(E(invoice.OrgId)).Append(" · period ")
          .Append(E(invoice.PeriodStart.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))).Append(" to ")
          .Append(E(invoice.PeriodEnd.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))).Append(" (UTC) · ")
          .Append(E(invoice.Status)).Append(invoice.IssuedAt is { } at ? " " + E(at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)) : "")
          .Append(" · currency ").Append(E(invoice.Currency)).Append("</p>\n<table><thead><tr>");
        foreach (var c in new[] { "project", "meter", "tier", "GPU model", "region", "model", "batch" })
            sb.Append("<th>").Append(E(c)).Append("</th>");
        sb.Append("<th class=\"n\">unit price</th><th>per</th><th class=\"n\">quantity</th><th class=\"n\">amount</th></tr></thead><tbody>\n");
        foreach (var l in invoice.Lines)
        {
            sb.Append("<tr>");
            foreach (var v in new[] { l.ProjectId, l.Meter, l.Tier, l.GpuModel, l.Region, l.Model, l.Batch ? "yes" : "" })
                sb.Append("<td>").Append(E(v)).Append("</td>");
            sb.Append("<td class=\"n\">").Append(E(l.UnitPrice)).Append("</td><td>").Append(E(l.Unit)).Append("</td><td class=\"n\">")
              .Append(E(l.Quantity.ToString(CultureInfo.InvariantCulture))).Append("</td><td class=\"n\">").Append(E(l.Amount)).Append("</td></tr>\n");
        }
        sb.Append("</tbody><tfoot>\n");
        foreach (var (name, amount) in Totals(invoice))
            sb.Append("<tr><td colspan=\"10\" class=\"n\">").Append(E(name.Replace('_', ' '))).Append("</td><td class=\"n\">").Append(E(amount)).Append("</td></tr>\n");
        sb.Append("</tfoot></table>\n");
        if (invoice.Problems.Count > 0)
        {
            sb.Append("<h2>Usage not charged</h2><ul>\n");
            foreach (var p in invoice.Problems)
                sb.Append("<li>").Append(E(p.EventId)).Append(": ").Append(E(p.Message)).Append("</li>\n");
            sb.Append("</ul>\n");
        }
        sb.Append("<p>Built from ").Append(invoice.Events.Count.ToString(CultureInfo.InvariantCulture))
          .Append(" usage events (ledger seq ≤ ").Append(invoice.Events.LastSeq.ToString(CultureInfo.InvariantCulture))
          .Append(", events hash ").Append(E(invoice.Events.Hash)).Append(").</p>\n</body></html>\n");
        return sb.ToString();
    }
}
