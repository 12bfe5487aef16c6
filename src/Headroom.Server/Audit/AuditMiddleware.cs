using Headroom.Core.Access;
using Headroom.Server.Identity;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headroom.Server.Audit;

/// <summary>
/// Leaves an audit record for every mutating request (except on endpoints marked <see cref="Api.NotAudited"/>: the
/// model calls). The response of such a request is held back
/// until its record is committed, so nothing a caller was told succeeded goes unaudited.
/// </summary>
internal sealed class AuditMiddleware(RequestDelegate next)
{
    public const string AlreadyAuditedItem = "hr.audited";
    private const string TargetItem = "hr.audit.target";
    private const string DetailItem = "hr.audit.detail";

    public async Task InvokeAsync(HttpContext context, AuditWriter audit)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method) ||
            !context.Request.Path.StartsWithSegments("/v1") || context.GetEndpoint()?.Metadata.GetMetadata<Api.NotAudited>() is not null)
        {
            await next(context);
            return;
        }

        var original = context.Response.Body;
        await using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            context.Response.Body = original;
            await WriteAsync(context, audit, ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError);
            throw;
        }

        context.Response.Body = original;
        await WriteAsync(context, audit, context.Response.StatusCode);
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    /// <summary>Names the object a request acted on, when it is not the route's <c>{id}</c> (e.g. the id just created).</summary>
    public static void SetTarget(HttpContext context, string target) => context.Items[TargetItem] = target;

    /// <summary>Adds what changed to the request's audit record (at most 500 characters are kept).</summary>
    public static void SetDetail(HttpContext context, string detail) => context.Items[DetailItem] = detail;

    private static Task WriteAsync(HttpContext context, AuditWriter audit, int status)
    {
        if (context.Items.ContainsKey(AlreadyAuditedItem))
            return Task.CompletedTask;
        var principal = Access.Of(context);
        var endpoint = context.GetEndpoint();
        var action = endpoint?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
            ?? $"http.{context.Request.Method.ToLowerInvariant()}";
        var target = context.Items[TargetItem] as string
            ?? context.GetRouteValue("id")?.ToString()
            ?? (endpoint is null ? context.Request.Path.ToString() : "");
        var entry = AuditEvent.ForRequest(
            context,
            principal?.OrgId ?? Bootstrap.InternalOrgId,
            principal?.ActorType ?? ActorType.Anonymous,
            principal?.ActorId ?? "anonymous",
            action,
            target,
            status,
            context.Items[DetailItem] as string ?? "");
        return audit.AppendAsync(entry, CancellationToken.None);
    }
}
