using Headroom.Gateway.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Headroom.Gateway.OpenAi;

public static class OpenAiEndpoints
{
    /// <summary>
    /// Maps the OpenAI surface onto <paramref name="group"/> (the server maps it under <c>/v1</c>): <c>GET /models</c>,
    /// <c>GET /models/{model}</c>, <c>POST /chat/completions</c>, <c>POST /completions</c>, <c>POST /embeddings</c>.
    /// Returns the group so the caller can add conventions (authorization, rate limiting metadata).
    /// </summary>
    public static RouteGroupBuilder MapOpenAi(this IEndpointRouteBuilder group, ModelRegistry models, GatewayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(models);
        var logger = group.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("Headroom.Gateway") ?? NullLogger.Instance;
        var handler = new OpenAiHandler(models, options ?? new GatewayOptions(), logger);
        var routes = group.MapGroup("");
        routes.MapGet("/models", (RequestDelegate)handler.ListModelsAsync);
        routes.MapGet("/models/{**model}", (RequestDelegate)handler.GetModelAsync);
        routes.MapPost("/chat/completions", (RequestDelegate)handler.ChatCompletionsAsync);
        routes.MapPost("/completions", (RequestDelegate)handler.CompletionsAsync);
        routes.MapPost("/embeddings", (RequestDelegate)handler.EmbeddingsAsync);
        return routes;
    }
}
