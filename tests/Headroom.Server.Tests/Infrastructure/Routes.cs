using Headroom.Core.Access;
using Headroom.Server.Identity;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests.Infrastructure;

/// <summary>One endpoint of the /v1 API, as the server's own route table has it.</summary>
public sealed record Route(string Method, string Pattern, string Name, Permission Permission, bool Described = true)
{
    public override string ToString() => $"{Method} {Pattern}";

    public string Path(string id) => Pattern.Replace("{id}", Uri.EscapeDataString(id), StringComparison.Ordinal);

    public HttpRequestMessage Request(string id)
    {
        var request = new HttpRequestMessage(new HttpMethod(Method), Path(id));
        if (Method is "POST" or "PATCH" or "PUT")
            request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        return request;
    }

    /// <summary>Every /v1 route of a running server: a new endpoint is walked by the access tests without being listed by hand.</summary>
    public static IReadOnlyList<Route> All(TestServer server) =>
        [.. server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1/", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["*"])
                .Select(m => new Route(m, e.RoutePattern.RawText!.TrimEnd('/'), e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "",
                    e.Metadata.GetMetadata<RequiredPermission>()?.Permission ?? (Permission)(-1),
                    e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })))
            .OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)];
}
