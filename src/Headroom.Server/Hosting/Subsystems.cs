using Headroom.Server.Api;
using Headroom.Server.Audit;
using Headroom.Server.Batches;
using Headroom.Server.Billing;
using Headroom.Server.Coordination;
using Headroom.Server.Deployments;
using Headroom.Server.Fleet;
using Headroom.Server.Identity;
using Headroom.Server.Jobs;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Server.Jobs.Local;
using Headroom.Server.Jobs.Slurm;
using Headroom.Server.Models;
using Headroom.Server.Operator;
using Headroom.Server.Reservations;
using Headroom.Server.WebConsole;
using Headroom.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headroom.Server.Hosting;

/// <summary>One registration and one route map per subsystem, in the order <see cref="HeadroomHost"/> composes them.</summary>
internal static class Subsystems
{
    /// <summary>The API's conventions: snake_case JSON that refuses unknown fields, framework errors as exceptions caught once, OpenAPI.</summary>
    public static IServiceCollection AddHeadroomApi(this IServiceCollection services)
    {
        services.AddSingleton<Ids>();
        services.Configure<JsonOptions>(o => Json.Configure(o.SerializerOptions));
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi();
        return services;
    }

    public static IServiceCollection AddHeadroomStore(this IServiceCollection services, HeadroomSettings settings) =>
        services.AddSingleton(new Database(settings.Database)).AddSingleton<HotRows>();

    public static IServiceCollection AddHeadroomIdentity(this IServiceCollection services, HeadroomSettings settings)
    {
        services.AddHeadroomAuthentication(settings);
        return services;
    }

    public static IServiceCollection AddHeadroomAudit(this IServiceCollection services) => services.AddSingleton<AuditWriter>();

    /// <summary>The control-loop lease and the loops that need nothing but it.</summary>
    public static IServiceCollection AddHeadroomCoordination(this IServiceCollection services)
    {
        services.AddSingleton<Leadership>();
        services.AddSingleton<BackgroundLane>();
        services.AddHostedService(sp => sp.GetRequiredService<Leadership>());
        services.AddSingleton<Housekeeping>();
        services.AddHostedService(sp => sp.GetRequiredService<Housekeeping>());
        services.AddSingleton<NodeWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeWatch>());
        return services;
    }

    /// <summary>The runtimes this replica drives, and the scheduler cycle that places jobs on them.</summary>
    public static IServiceCollection AddHeadroomJobs(this IServiceCollection services, HeadroomSettings settings)
    {
        services.AddSingleton<IWorkloadRuntime>(sp => new LocalRuntime(
            new LocalRuntimeOptions { Root = settings.JobsDir }, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<LocalRuntime>>()));
        if (settings.Slurm is { } slurm)
            services.AddSingleton<IWorkloadRuntime>(sp => new SlurmRuntime(slurm, sp.GetRequiredService<ILoggerFactory>()));
        if (settings.Kubernetes is { } kubernetes)
            services.AddSingleton<IWorkloadRuntime>(sp => new KubernetesRuntime(kubernetes, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<JobRuntimes>();
        services.AddSingleton<JobScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<JobScheduler>());
        return services;
    }

    /// <summary>Prices, the usage ledger, invoices and budgets, and the leader loops that meter jobs and tokens, publish spot prices, issue invoices and watch budgets.</summary>
    public static IServiceCollection AddHeadroomBilling(this IServiceCollection services)
    {
        services.AddSingleton<UsageWriter>();
        services.AddSingleton<UsageReportCache>();
        services.AddSingleton<DraftInvoiceCache>();
        services.AddSingleton<EconomicsCache>();
        services.AddSingleton<JobMeter>();
        services.AddHostedService(sp => sp.GetRequiredService<JobMeter>());
        services.AddSingleton<SpotPricer>();
        services.AddHostedService(sp => sp.GetRequiredService<SpotPricer>());
        services.AddSingleton<Invoicer>();
        services.AddSingleton<InvoiceIssuer>();
        services.AddHostedService(sp => sp.GetRequiredService<InvoiceIssuer>());
        services.AddSingleton<BudgetGuard>();
        services.AddSingleton<BudgetWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetWatch>());
        services.AddHttpClient(BudgetWebhooks.ClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => WebhookAddresses.Handler(sp.GetRequiredService<HeadroomSettings>().WebhooksToPrivateNetworks));
        services.AddSingleton<BudgetWebhooks>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetWebhooks>());
        services.AddSingleton<TokenMeter>();
        services.AddHostedService(sp => sp.GetRequiredService<TokenMeter>());
        return services;
    }

    /// <summary>The web console: its session cookie's key ring, antiforgery, the server-rendered pages and their API client.</summary>
    public static IServiceCollection AddHeadroomConsole(this IServiceCollection services, HeadroomSettings settings) =>
        ConsoleEndpoints.Register(services, settings);

    /// <summary>Hosted models on the OpenAI surface: the engines loaded at start, auth, rate limits and the token journal.</summary>
    public static IServiceCollection AddHeadroomModels(this IServiceCollection services, HeadroomSettings settings) =>
        services.AddModelServing(settings.Models);

    /// <summary>Deployments: the routing sync on every replica, and the leader loop that starts, scales and drains their replicas.</summary>
    public static IServiceCollection AddHeadroomDeployments(this IServiceCollection services, HeadroomSettings settings)
    {
        services.AddSingleton(settings.Deployments);
        services.AddSingleton<ReplicaRouting>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaRouting>());
        services.AddSingleton<DeploymentController>();
        services.AddHostedService(sp => sp.GetRequiredService<DeploymentController>());
        return services;
    }

    public static void MapIdentity(this IEndpointRouteBuilder v1)
    {
        OrgEndpoints.Map(v1);
        ProjectEndpoints.Map(v1);
        MemberEndpoints.Map(v1);
        KeyEndpoints.Map(v1);
    }

    public static void MapFleet(this IEndpointRouteBuilder v1) => FleetEndpoints.Map(v1);

    public static void MapAudit(this IEndpointRouteBuilder v1) => AuditEndpoints.Map(v1);

    public static void MapJobs(this IEndpointRouteBuilder v1) => JobEndpoints.Map(v1);

    public static void MapModels(this IEndpointRouteBuilder v1)
    {
        ModelServing.Map(v1);
        RequestLogs.Map(v1);
    }

    /// <summary>OpenAI's files and batches; each batch runs as a spot job followed by <see cref="BatchLoop"/>.</summary>
    public static IServiceCollection AddHeadroomBatches(this IServiceCollection services)
    {
        services.AddSingleton<BatchLoop>();
        services.AddHostedService(sp => sp.GetRequiredService<BatchLoop>());
        return services;
    }

    public static void MapBatches(this IEndpointRouteBuilder v1)
    {
        FileEndpoints.Map(v1);
        BatchEndpoints.Map(v1);
    }

    public static void MapDeployments(this IEndpointRouteBuilder v1) => DeploymentEndpoints.Map(v1);

    public static void MapBilling(this IEndpointRouteBuilder v1)
    {
        PriceEndpoints.Map(v1);
        UsageEndpoints.Map(v1);
        InvoiceEndpoints.Map(v1);
        BudgetEndpoints.Map(v1);
    }

    /// <summary>Quotes, capacity blocks paid up front, and the capacity left to sell, now and ahead.</summary>
    public static void MapReservations(this IEndpointRouteBuilder v1)
    {
        QuoteEndpoints.Map(v1);
        ReservationEndpoints.Map(v1);
        CapacityEndpoints.Map(v1);
    }

    public static void MapOperator(this IEndpointRouteBuilder v1) => EconomicsEndpoints.Map(v1);

    public static void MapConsole(this WebApplication app) => ConsoleEndpoints.Map(app);
}
