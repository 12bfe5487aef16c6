using Headroom.Core.Access;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.Audit;

/// <summary>An audit record before it is sealed into its org's chain.</summary>
internal sealed record AuditEvent(
    string OrgId,
    ActorType ActorType,
    string Actor,
    string Action,
    string Target,
    string Source,
    int StatusCode,
    string RequestId,
    string Detail)
{
    public bool Succeeded => StatusCode is >= 200 and < 400;

    public static AuditEvent ForRequest(HttpContext context, string orgId, ActorType actorType, string actor, string action,
        string target, int statusCode, string detail) =>
        new(orgId, actorType, actor, action, Truncate(target, 200), context.Connection.RemoteIpAddress?.ToString() ?? "",
            statusCode, context.TraceIdentifier, Truncate(detail, 500));

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..max];
}
