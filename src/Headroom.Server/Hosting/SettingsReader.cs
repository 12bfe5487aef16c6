using System.Globalization;
using System.Net;
using System.Collections.Immutable;
using Headroom.Core.Fleet;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using Headroom.Server.Jobs.Kubernetes;
using Headroom.Server.Jobs.Slurm;
using Headroom.Server.Models;
using Headroom.Store;
using Microsoft.Extensions.Configuration;

namespace Headroom.Server.Hosting;

/// <summary>
/// Builds <see cref="HeadroomSettings"/> from, lowest to highest precedence: defaults, the
/// <c>--config</c> JSON file, <c>HEADROOM_*</c> environment variables (<c>__</c> separates
/// sections), and command-line flags. Every problem is collected; start-up refuses to go on with any.
/// </summary>
public static class SettingsReader
{
    private static readonly HashSet<string> s_topLevelKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "data", "listen", "port", "database", "fleet", "max_request_body_bytes", "max_file_bytes", "lease_ttl_seconds",
        "idempotency_retention_hours", "replica_id", "oidc",
        "notice_grace_seconds", "spot_minimum_run_time_seconds", "fair_share_window_seconds", "pools", "slurm", "kubernetes",
        "node_down_after_seconds", "max_gpu_temperature_c", "webhooks_to_private_networks",
        "serve_minilm", "models", "model_limits", "region", "token_journal_retention_days",
    };

    private static readonly HashSet<string> s_poolKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "region", "gpu_model", "internal_guarantee_gpus", "on_demand_cap_gpus",
    };

    private static readonly HashSet<string> s_slurmKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "slurm_conf", "bin_directory", "shared_directory", "gres_types", "partitions", "accounting", "command_timeout_seconds",
    };

    private static readonly HashSet<string> s_kubernetesKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "kubeconfig", "namespace", "default_image", "gpu_resource", "scheduler_name", "shared_directory", "request_timeout_seconds",
    };

    private static readonly HashSet<string> s_limitKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "requests_per_minute", "tokens_per_minute", "concurrent_requests",
    };

    private static readonly HashSet<string> s_issuerKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "name", "authority", "audience", "org_claim", "role_claim", "require_https_metadata", "client_id", "client_secret", "redirect_uri",
    };

    /// <param name="configFile">The <c>--config</c> file, or null.</param>
    /// <param name="flags">Command-line values by setting key (<c>data</c>, <c>port</c>, ...); null values are absent.</param>
    /// <param name="environment">Environment variables; tests pass their own.</param>
    public static (HeadroomSettings? Settings, IReadOnlyList<string> Errors) Read(
        string? configFile, IReadOnlyDictionary<string, string?> flags, IDictionary<string, string?> environment)
    {
        var errors = new List<string>();
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (File.Exists(configFile))
                builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
            else
                errors.Add($"--config: file '{configFile}' does not exist");
        }
        var env = environment
            .Where(e => e.Key.StartsWith("HEADROOM_", StringComparison.Ordinal) && e.Value is not null)
            .ToDictionary(e => e.Key["HEADROOM_".Length..].Replace("__", ":", StringComparison.Ordinal), e => e.Value);
        builder.AddInMemoryCollection(env);
        builder.AddInMemoryCollection(flags.Where(f => f.Value is not null));

        IConfiguration config;
        try
        {
            config = builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException)
        {
            errors.Add($"--config: {ex.Message}");
            return (null, errors);
        }

        foreach (var section in config.GetChildren())
        {
            if (!s_topLevelKeys.Contains(section.Key))
                errors.Add($"unknown setting '{section.Key}' (known: {string.Join(", ", s_topLevelKeys.Order())})");
        }

        var dataDir = config["data"] is { Length: > 0 } d ? d : "./.headroom";
        var listen = config["listen"] is { Length: > 0 } l ? l : "127.0.0.1";
        if (listen is not ("localhost" or "*") && !IPAddress.TryParse(listen, out _))
            errors.Add($"listen: '{listen}' is not an IP address, 'localhost' or '*'");

        var port = ReadInt(config, "port", 8080, 0, 65535, errors);
        var maxBody = ReadInt(config, "max_request_body_bytes", 1 << 20, 1024, 1 << 30, errors);
        var maxFile = ReadInt(config, "max_file_bytes", 100 << 20, 1024, 1 << 30, errors);
        var leaseTtl = ReadInt(config, "lease_ttl_seconds", 15, 2, 3600, errors);
        var idempotencyHours = ReadInt(config, "idempotency_retention_hours", 24, 1, 24 * 30, errors);
        var grace = ReadInt(config, "notice_grace_seconds", 120, 0, 24 * 3600, errors);
        var spotMinimum = ReadInt(config, "spot_minimum_run_time_seconds", 600, 0, 7 * 24 * 3600, errors);
        var fairShareWindow = ReadInt(config, "fair_share_window_seconds", 3600, 60, 30 * 24 * 3600, errors);
        var nodeDownAfter = ReadInt(config, "node_down_after_seconds", 30, 1, 24 * 3600, errors);
        var maxGpuTemperature = ReadInt(config, "max_gpu_temperature_c", GpuHealth.DefaultMaxTemperatureC, 30, 150, errors);
        var privateWebhooks = false;
        if (config["webhooks_to_private_networks"] is { Length: > 0 } pw && !bool.TryParse(pw, out privateWebhooks))
            errors.Add($"webhooks_to_private_networks: '{pw}' is not true or false");

        StoreConnection? database = null;
        if (config["database"] is { Length: > 0 } dbText)
        {
            database = StoreConnection.TryParse(dbText, out var dbError);
            if (database is null)
                errors.Add($"database: {dbError}");
        }
        else
        {
            database = StoreConnection.SqliteFile(Path.Combine(Path.GetFullPath(dataDir), "headroom.db"));
        }

        var fleet = config["fleet"] is { Length: > 0 } f ? f : null;
        if (fleet is not null && !File.Exists(fleet))
        {
            errors.Add($"fleet: file '{fleet}' does not exist");
        }
        var fleetRegions = new List<string> { LocalFleet.RegionName };
        if (fleet is not null && File.Exists(fleet))
        {
            var parsed = FleetFile.Parse(File.ReadAllText(fleet), fleet);
            errors.AddRange(parsed.Problems.Select(p => $"fleet: {p}"));
            fleetRegions = parsed.Value?.Regions.Select(r => r.Name).ToList() ?? [];
        }
        var region = config["region"] is { Length: > 0 } r ? r : fleetRegions.FirstOrDefault() ?? LocalFleet.RegionName;
        if (fleetRegions.Count > 0 && !fleetRegions.Contains(region, StringComparer.Ordinal))
            errors.Add($"region: '{region}' is not a region of the fleet ({string.Join(", ", fleetRegions)})");
        var journalDays = ReadInt(config, "token_journal_retention_days", 7, 1, 3650, errors);

        var issuers = new List<OidcIssuerSettings>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var oidc = config.GetSection("oidc");
        foreach (var key in oidc.GetChildren().Where(c => !c.Key.Equals("issuers", StringComparison.OrdinalIgnoreCase)))
            errors.Add($"oidc: unknown setting '{key.Key}' (known: issuers)");
        foreach (var issuer in oidc.GetSection("issuers").GetChildren())
        {
            var path = $"oidc.issuers[{issuer.Key}]";
            foreach (var key in issuer.GetChildren().Where(c => !s_issuerKeys.Contains(c.Key)))
                errors.Add($"{path}: unknown setting '{key.Key}' (known: {string.Join(", ", s_issuerKeys.Order())})");
            var authority = issuer["authority"] ?? "";
            var requireHttps = issuer["require_https_metadata"] is not { } rh || !bool.TryParse(rh, out var b) || b;
            if (!Uri.TryCreate(authority, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
                errors.Add($"{path}.authority: '{authority}' is not an absolute http(s) URL");
            else if (uri.Scheme == "http" && requireHttps)
                errors.Add($"{path}.authority: '{authority}' is not https; set require_https_metadata to false only for a trusted local issuer");
            var audience = issuer["audience"] ?? "";
            if (audience.Length == 0)
                errors.Add($"{path}.audience: is required");
            var name = issuer["name"] is { Length: > 0 } n ? n : uri?.Host ?? $"issuer{issuer.Key}";
            if (!names.Add(name))
                errors.Add($"{path}.name: '{name}' is used by another issuer");
            else if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                errors.Add($"{path}.name: '{name}' may hold only letters, digits, '-', '_' and '.' (it is part of the console's sign-in URL)");
            var clientId = issuer["client_id"] is { Length: > 0 } ci ? ci : null;
            var clientSecret = issuer["client_secret"] is { Length: > 0 } cs ? cs : null;
            Uri? redirect = null;
            if (clientId is null && (clientSecret is not null || issuer["redirect_uri"] is { Length: > 0 }))
                errors.Add($"{path}.client_id: is required with client_secret or redirect_uri (the console's sign-in uses all three)");
            if (issuer["redirect_uri"] is { Length: > 0 } ru)
            {
                if (!Uri.TryCreate(ru, UriKind.Absolute, out redirect) || redirect.Scheme is not ("https" or "http") || redirect.AbsolutePath != "/signin/oidc/callback" || redirect.Query.Length > 0)
                    errors.Add($"{path}.redirect_uri: '{ru}' is not an absolute http(s) URL ending in /signin/oidc/callback");
                else if (redirect.Scheme == "http" && requireHttps && !redirect.IsLoopback)
                    errors.Add($"{path}.redirect_uri: '{ru}' is not https; set require_https_metadata to false only for a trusted local issuer");
            }
            issuers.Add(new OidcIssuerSettings
            {
                Name = name,
                Authority = authority.TrimEnd('/'),
                Audience = audience,
                OrgClaim = issuer["org_claim"] is { Length: > 0 } oc ? oc : "org",
                RoleClaim = issuer["role_claim"] is { Length: > 0 } rc ? rc : "role",
                RequireHttpsMetadata = requireHttps,
                ClientId = clientId,
                ClientSecret = clientSecret,
                RedirectUri = redirect,
            });
        }

        // pools: [{region, gpu_model, internal_guarantee_gpus?, on_demand_cap_gpus?}], the operator's limits on selling each pool.
        var guarantees = ImmutableDictionary.CreateBuilder<Pool, int>();
        var caps = ImmutableDictionary.CreateBuilder<Pool, long>();
        foreach (var entry in config.GetSection("pools").GetChildren())
        {
            var path = $"pools[{entry.Key}]";
            foreach (var key in entry.GetChildren().Where(c => !s_poolKeys.Contains(c.Key)))
                errors.Add($"{path}: unknown setting '{key.Key}' (known: {string.Join(", ", s_poolKeys.Order())})");
            if (entry["region"] is not { Length: > 0 } poolRegion || entry["gpu_model"] is not { Length: > 0 } poolModel)
            {
                errors.Add($"{path}: region and gpu_model are required");
                continue;
            }
            var pool = new Pool(poolRegion, poolModel);
            if (guarantees.ContainsKey(pool) || caps.ContainsKey(pool))
                errors.Add($"{path}: {poolRegion}/{poolModel} is listed twice");
            if (entry["internal_guarantee_gpus"] is { Length: > 0 })
                guarantees[pool] = ReadInt(entry, "internal_guarantee_gpus", 0, 0, 1_000_000, errors, path + ".");
            if (entry["on_demand_cap_gpus"] is { Length: > 0 })
                caps[pool] = ReadInt(entry, "on_demand_cap_gpus", 0, 0, 1_000_000, errors, path + ".") * 1000L;
        }
        var slurm = ReadSlurm(config.GetSection("slurm"), Path.Combine(Path.GetFullPath(dataDir), "jobs"), errors);
        var kubernetes = ReadKubernetes(config.GetSection("kubernetes"), Path.Combine(Path.GetFullPath(dataDir), "jobs"), errors);
        var models = ReadModels(config, errors) with { Region = region };

        if (errors.Count > 0 || database is null)
            return (null, errors);

        var settings = new HeadroomSettings
        {
            DataDir = Path.GetFullPath(dataDir),
            Listen = listen,
            Port = port,
            Database = database,
            FleetFile = fleet is null ? null : Path.GetFullPath(fleet),
            MaxRequestBodyBytes = maxBody,
            MaxFileBytes = maxFile,
            LeaseTtl = TimeSpan.FromSeconds(leaseTtl),
            IdempotencyRetention = TimeSpan.FromHours(idempotencyHours),
            TokenJournalRetention = TimeSpan.FromDays(journalDays),
            OidcIssuers = issuers,
            FairShareWindow = TimeSpan.FromSeconds(fairShareWindow),
            NodeDownAfter = TimeSpan.FromSeconds(nodeDownAfter),
            MaxGpuTemperatureC = maxGpuTemperature,
            InternalGuarantees = guarantees.ToImmutable(),
            Slurm = slurm,
            Kubernetes = kubernetes,
            WebhooksToPrivateNetworks = privateWebhooks,
            Models = models,
            Scheduler = new SchedulerConfig
            {
                OnDemandCaps = caps.ToImmutable(),
                Grace = Enum.GetValues<Tier>().ToImmutableDictionary(t => t, _ => TimeSpan.FromSeconds(grace)),
                SpotMinimumRunTime = TimeSpan.FromSeconds(spotMinimum),
            },
        };
        if (config["replica_id"] is { Length: > 0 } replica)
            settings = settings with { ReplicaId = replica };
        return (settings, errors);
    }

    /// <summary>
    /// The <c>slurm</c> section, or null when there is none (the runtime is then not driven here). Its problems are
    /// added to <paramref name="errors"/>, the options' own checks included (slurm.conf exists, sbatch is there).
    /// </summary>
    private static SlurmRuntimeOptions? ReadSlurm(IConfigurationSection section, string jobsDir, List<string> errors)
    {
        if (!section.Exists())
            return null;
        var before = errors.Count;
        foreach (var key in section.GetChildren().Where(c => !s_slurmKeys.Contains(c.Key)))
            errors.Add($"slurm: unknown setting '{key.Key}' (known: {string.Join(", ", s_slurmKeys.Order())})");
        // Keys are GPU model ids and tier codes, both lower-case; environment variables arrive upper-case.
        var gres = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in section.GetSection("gres_types").GetChildren())
            gres[entry.Key.ToLowerInvariant()] = entry.Value ?? "";
        var partitions = SlurmLayout.Default.Partitions.ToDictionary();
        foreach (var entry in section.GetSection("partitions").GetChildren())
        {
            if (WorkloadCodes.TryParseTier(entry.Key.ToLowerInvariant(), out var tier) && entry.Value is { Length: > 0 } name)
                partitions[tier] = name;
            else
                errors.Add($"slurm.partitions.{entry.Key}: expected a tier (internal, reserved, on-demand, spot) and a partition name");
        }
        var accounting = SlurmAccounting.CompletionLog;
        switch (section["accounting"])
        {
            case null or "" or "completion_log": break;
            case "database": accounting = SlurmAccounting.Database; break;
            case "none": accounting = SlurmAccounting.None; break;
            case var other: errors.Add($"slurm.accounting: '{other}' is not one of completion_log, database, none"); break;
        }
        var timeoutErrors = new List<string>();
        var timeout = ReadInt(section, "command_timeout_seconds", 30, 1, 600, timeoutErrors);
        errors.AddRange(timeoutErrors.Select(e => "slurm." + e));
        var options = new SlurmRuntimeOptions
        {
            SlurmConf = section["slurm_conf"] ?? "",
            BinDirectory = section["bin_directory"] is { Length: > 0 } bin ? bin : "/usr/bin",
            SharedDirectory = section["shared_directory"] is { Length: > 0 } shared ? Path.GetFullPath(shared) : jobsDir,
            GresTypes = gres,
            Layout = new SlurmLayout { Partitions = partitions },
            Accounting = accounting,
            CommandTimeout = TimeSpan.FromSeconds(timeout),
        };
        errors.AddRange(options.Validate());
        return errors.Count == before ? options : null;
    }

    /// <summary>
    /// The <c>kubernetes</c> section, or null when there is none (the runtime is then not driven here). Its problems are
    /// added to <paramref name="errors"/>, the options' own checks included (the kubeconfig exists).
    /// </summary>
    private static KubernetesRuntimeOptions? ReadKubernetes(IConfigurationSection section, string jobsDir, List<string> errors)
    {
        if (!section.Exists())
            return null;
        var before = errors.Count;
        foreach (var key in section.GetChildren().Where(c => !s_kubernetesKeys.Contains(c.Key)))
            errors.Add($"kubernetes: unknown setting '{key.Key}' (known: {string.Join(", ", s_kubernetesKeys.Order())})");
        var timeoutErrors = new List<string>();
        var timeout = ReadInt(section, "request_timeout_seconds", 30, 1, 600, timeoutErrors);
        errors.AddRange(timeoutErrors.Select(e => "kubernetes." + e));
        var defaults = new KubernetesRuntimeOptions { SharedDirectory = jobsDir };
        var options = defaults with
        {
            Kubeconfig = section["kubeconfig"] is { Length: > 0 } kubeconfig ? Path.GetFullPath(kubeconfig) : null,
            Namespace = section["namespace"] is { Length: > 0 } ns ? ns : defaults.Namespace,
            DefaultImage = section["default_image"] is { Length: > 0 } image ? image : defaults.DefaultImage,
            GpuResource = section["gpu_resource"] is { Length: > 0 } gpu ? gpu : defaults.GpuResource,
            SchedulerName = section["scheduler_name"] is { Length: > 0 } scheduler ? scheduler : defaults.SchedulerName,
            SharedDirectory = section["shared_directory"] is { Length: > 0 } shared ? Path.GetFullPath(shared) : jobsDir,
            RequestTimeout = TimeSpan.FromSeconds(timeout),
        };
        errors.AddRange(options.Validate());
        return errors.Count == before ? options : null;
    }

    /// <summary>
    /// <c>serve_minilm</c> (default true), <c>models</c> (model name → GGUF path; the <c>--model NAME=PATH</c> flag adds
    /// <c>models:NAME</c>) and <c>model_limits.key</c> / <c>model_limits.project</c>.
    /// </summary>
    private static ModelSettings ReadModels(IConfiguration config, List<string> errors)
    {
        var serveMiniLm = true;
        if (config["serve_minilm"] is { Length: > 0 } text && !bool.TryParse(text, out serveMiniLm))
        {
            errors.Add($"serve_minilm: '{text}' is not true or false");
            serveMiniLm = true;
        }
        var gguf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in config.GetSection("models").GetChildren())
        {
            var name = model.Key;
            var path = model.Value ?? "";
            if (name.Length > 128 || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                errors.Add($"models.{name}: a model name is 1–128 characters without spaces");
            else if (serveMiniLm && name == Gateway.Engines.InferenceEngines.MiniLmModelName)
                errors.Add($"models.{name}: the name is taken by the built-in embeddings model (set serve_minilm to false to reuse it)");
            else if (path.Length == 0)
                errors.Add($"models.{name}: the path of a GGUF file is required (--model NAME=PATH.gguf)");
            else if (!File.Exists(path))
                errors.Add($"models.{name}: file '{path}' does not exist");
            else
                gguf[name] = Path.GetFullPath(path);
        }
        var limits = config.GetSection("model_limits");
        foreach (var key in limits.GetChildren().Where(c => !c.Key.Equals("key", StringComparison.OrdinalIgnoreCase) && !c.Key.Equals("project", StringComparison.OrdinalIgnoreCase)))
            errors.Add($"model_limits: unknown setting '{key.Key}' (known: key, project)");
        return new ModelSettings
        {
            ServeMiniLm = serveMiniLm,
            Gguf = gguf,
            PerKey = ReadLimits(limits.GetSection("key"), "model_limits.key", errors),
            PerProject = ReadLimits(limits.GetSection("project"), "model_limits.project", errors),
        };
    }

    private static ModelLimits ReadLimits(IConfigurationSection section, string path, List<string> errors)
    {
        foreach (var key in section.GetChildren().Where(c => !s_limitKeys.Contains(c.Key)))
            errors.Add($"{path}: unknown setting '{key.Key}' (known: {string.Join(", ", s_limitKeys.Order())})");
        return new ModelLimits(
            ReadInt(section, "requests_per_minute", 0, 0, 1_000_000_000, errors, path + "."),
            ReadInt(section, "tokens_per_minute", 0, 0, 1_000_000_000, errors, path + "."),
            ReadInt(section, "concurrent_requests", 0, 0, 1_000_000, errors, path + "."));
    }

    private static int ReadInt(IConfiguration config, string key, int fallback, int min, int max, List<string> errors, string prefix = "")
    {
        if (config[key] is not { Length: > 0 } text)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"{prefix}{key}: '{text}' is not a whole number from {min} to {max}");
            return fallback;
        }
        return value;
    }
}
