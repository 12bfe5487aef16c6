using Headroom.Core.Access;
using Headroom.Gateway.Engines;
using Headroom.Gateway.OpenAi;
using Headroom.Gateway.Routing;
using Headroom.Server.Api;
using Headroom.Server.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Models;

/// <summary>
/// The OpenAI surface of a replica: the models it serves (built from <see cref="ModelSettings"/> at start) and the
/// gateway's routes under <c>/v1</c>, each behind the same API keys and tokens as the rest of the API.
/// </summary>
internal static class ModelServing
{
    /// <summary>Endpoint names (their audit action names, were they audited) by method and route.</summary>
    private static readonly Dictionary<(string Method, string Pattern), string> s_names = new()
    {
        [("GET", "/v1/models")] = "models.list",
        [("GET", "/v1/models/{**model}")] = "models.get",
        [("POST", "/v1/chat/completions")] = "models.chat_completions",
        [("POST", "/v1/completions")] = "models.completions",
        [("POST", "/v1/embeddings")] = "models.embeddings",
    };

    /// <summary>
    /// Loads every configured model: <c>all-minilm-l6-v2</c> unless turned off, and each GGUF in the llama engine.
    /// A GGUF that does not load stops start-up with its name and path. They run here, so they are served in this
    /// replica's region (<see cref="ModelSettings.Region"/>).
    /// </summary>
    public static ModelRegistry LoadModels(ModelSettings settings, ILoggerFactory loggers)
    {
        var registry = new ModelRegistry();
        try
        {
            if (settings.ServeMiniLm)
                registry.Add(InferenceEngines.MiniLmModelName, InferenceEngines.MiniLm(), region: settings.Region);
            foreach (var (name, path) in settings.Gguf.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                IInferenceEngine engine;
                try
                {
                    engine = InferenceEngines.Llama(new LlamaEngineOptions(path) { NativeLogger = loggers.CreateLogger("Headroom.Models.Llama") });
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    throw new InvalidOperationException($"model '{name}': cannot load the GGUF file '{path}': {e.Message}", e);
                }
                registry.Add(name, engine, region: settings.Region);
            }
            return registry;
        }
        catch
        {
            registry.Dispose();
            throw;
        }
    }

    public static IServiceCollection AddModelServing(this IServiceCollection services, ModelSettings settings)
    {
        services.AddSingleton(sp => LoadModels(settings, sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<ModelRateLimits>();
        services.AddSingleton<CallJournal>();
        services.AddHostedService(sp => sp.GetRequiredService<CallJournal>());
        services.AddSingleton<ModelHooks>();
        return services;
    }

    /// <summary>
    /// Maps the gateway under <paramref name="v1"/>. Before the gateway reads a byte of the body, each route refuses a
    /// caller without credentials (401) or without <see cref="Permission.ModelInvoke"/> (403), in OpenAI's error shape.
    /// The routes are neither audited per call (too much volume; the call's metadata is logged and its tokens metered)
    /// nor replayed by <c>Idempotency-Key</c> (streams cannot be; the request id keeps metering exactly-once).
    /// </summary>
    public static void Map(IEndpointRouteBuilder v1)
    {
        var services = v1.ServiceProvider;
        var options = new GatewayOptions
        {
            Hooks = services.GetRequiredService<ModelHooks>(),
            TimeProvider = services.GetRequiredService<TimeProvider>(),
        };
        var routes = v1.MapOpenAi(services.GetRequiredService<ModelRegistry>(), options).WithTags("Models");
        ((IEndpointConventionBuilder)routes).Add(endpoint =>
        {
            var route = (RouteEndpointBuilder)endpoint;
            var method = route.Metadata.OfType<HttpMethodMetadata>().Single().HttpMethods.Single();
            endpoint.Metadata.Add(new EndpointNameMetadata(s_names[(method, route.RoutePattern.RawText!)]));
            endpoint.Metadata.Add(new RequiredPermission(Permission.ModelInvoke));
            endpoint.Metadata.Add(new NotAudited("a model call is logged and metered, not audited: too many to chain"));
            endpoint.Metadata.Add(new NoIdempotencyReplay("a streamed answer cannot be replayed; the request id meters a call once"));
            // OpenAI's own specification describes these routes; the tolerant gateway types would describe them wrongly.
            endpoint.Metadata.Add(new ExcludeFromDescriptionAttribute());
            var inner = endpoint.RequestDelegate!;
            endpoint.RequestDelegate = http => Gate(http) is { } refusal ? refusal.ExecuteAsync(http) : inner(http);
        });
    }

    private static IResult? Gate(HttpContext http)
    {
        if (Access.Of(http) is not { } principal)
            return Errors.Unauthorized("Missing API key. Send 'Authorization: Bearer hr_...'.");
        if (!principal.Can(Permission.ModelInvoke))
        {
            var needs = string.Join(", ", PermissionMatrix.RolesFor(Permission.ModelInvoke).Select(r => r.Code()));
            return Errors.Forbidden($"Calling models needs one of the roles {needs}; the credentials hold {Roles.FormatList(principal.Roles)}.");
        }
        return null;
    }
}
