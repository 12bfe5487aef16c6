using Microsoft.AspNetCore.Http;

namespace Headroom.Server.Api;

/// <summary>
/// Gives every request an id, returned in <c>X-Request-Id</c> and recorded in audit records and logs.
/// A caller's own id is kept when it is short and printable, so traces join up across systems.
/// </summary>
internal sealed class RequestIds(RequestDelegate next)
{
    public const string Header = "X-Request-Id";

    public Task InvokeAsync(HttpContext context)
    {
        var incoming = context.Request.Headers[Header].ToString();
        var id = incoming.Length is > 0 and <= 128 && incoming.All(c => c is > ' ' and < (char)127)
            ? incoming
            : "req_" + Ids.RandomText(24);
        context.TraceIdentifier = id;
        context.Response.Headers[Header] = id;
        return next(context);
    }
}
