using Headroom.Core.Scheduling.Tiered;
using Headroom.Runtimes.Slurm;
using Headroom.Server.Hosting;
using Headroom.Server.Jobs;
using Headroom.Store;
using Headroom.Tests;
using Microsoft.Extensions.DependencyInjection;

namespace Headroom.Server.Tests;

public sealed class SettingsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (HeadroomSettings? Settings, IReadOnlyList<string> Errors) Read(
        Dictionary<string, string?>? flags = null, Dictionary<string, string?>? env = null, string? config = null) =>
        SettingsReader.Read(config, flags ?? [], env ?? []);

    [Fact]
    public void Defaults_are_a_sqlite_file_in_the_data_directory_on_loopback_8080()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path });

        Assert.Empty(errors);
        Assert.Equal(("127.0.0.1", 8080), (settings!.Listen, settings.Port));
        Assert.Equal(StoreProvider.Sqlite, settings.Database.Provider);
        Assert.Contains(Path.Combine(_dir.Path, "headroom.db"), settings.Database.ConnectionString, StringComparison.Ordinal);
        Assert.Null(settings.FleetFile);
    }

    [Fact]
    public void Every_problem_is_listed_at_once()
    {
        var config = Path.Combine(_dir.Path, "headroom.json");
        File.WriteAllText(config, """
            {
              "port": "eighty",
              "colour": "blue",
              "oidc": { "issuers": [ { "authority": "http://idp.example", "audience": "" } ] }
            }
            """);

        var (settings, errors) = Read(
            new() { ["listen"] = "not-an-ip", ["fleet"] = "/nope/fleet.yaml" },
            new() { ["HEADROOM_DATABASE"] = "postgres://", ["HEADROOM_LEASE_TTL_SECONDS"] = "1" },
            config);

        Assert.Null(settings);
        Assert.Collection(errors.Order(StringComparer.Ordinal),
            e => Assert.StartsWith("database:", e, StringComparison.Ordinal),
            e => Assert.StartsWith("fleet: file '/nope/fleet.yaml' does not exist", e, StringComparison.Ordinal),
            e => Assert.StartsWith("lease_ttl_seconds:", e, StringComparison.Ordinal),
            e => Assert.StartsWith("listen:", e, StringComparison.Ordinal),
            e => Assert.StartsWith("oidc.issuers[0].audience: is required", e, StringComparison.Ordinal),
            e => Assert.StartsWith("oidc.issuers[0].authority: 'http://idp.example' is not https", e, StringComparison.Ordinal),
            e => Assert.StartsWith("port: 'eighty'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("unknown setting 'colour'", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Pools_set_the_internal_guarantee_and_the_on_demand_cap_and_bad_entries_are_listed()
    {
        var good = Path.Combine(_dir.Path, "pools.json");
        File.WriteAllText(good, """
            { "pools": [ { "region": "us-east", "gpu_model": "h100-80gb", "internal_guarantee_gpus": 4, "on_demand_cap_gpus": 8 },
                         { "region": "eu-west", "gpu_model": "a100-80gb", "on_demand_cap_gpus": 2 } ] }
            """);
        var bad = Path.Combine(_dir.Path, "bad-pools.json");
        File.WriteAllText(bad, """
            { "pools": [ { "region": "us-east", "gpu_model": "h100-80gb", "internal_guarantee_gpus": -1, "colour": "red" },
                         { "gpu_model": "a100-80gb" } ] }
            """);

        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, config: good);
        var (_, problems) = Read(new() { ["data"] = _dir.Path }, config: bad);

        Assert.Empty(errors);
        var usEast = new Headroom.Core.Scheduling.Tiered.Pool("us-east", "h100-80gb");
        Assert.Equal(4, Assert.Single(settings!.InternalGuarantees, g => g.Key == usEast).Value);
        Assert.Equal([8000L, 2000L], settings.Scheduler.OnDemandCaps.OrderByDescending(c => c.Value).Select(c => c.Value));
        Assert.Collection(problems.Order(StringComparer.Ordinal),
            e => Assert.StartsWith("pools[0].internal_guarantee_gpus: '-1'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("pools[0]: unknown setting 'colour'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("pools[1]: region and gpu_model are required", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Flags_override_the_environment_which_overrides_the_config_file()
    {
        var config = Path.Combine(_dir.Path, "headroom.json");
        File.WriteAllText(config, """{ "port": 7000, "listen": "0.0.0.0", "data": "/from-config" }""");

        var (settings, errors) = Read(new() { ["port"] = "9000" }, new() { ["HEADROOM_PORT"] = "8000", ["HEADROOM_LISTEN"] = "*" }, config);

        Assert.Empty(errors);
        Assert.Equal((9000, "*", "/from-config"), (settings!.Port, settings.Listen, settings.DataDir));
    }

    [Fact]
    public void An_invalid_fleet_file_is_reported_with_every_problem_in_it()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        File.WriteAllText(fleet, """
            regions:
              - name: us-east
                clusters:
                  - name: c1
                    runtime: nomad
                    nodes:
                      - name: n1
                        gpu_model: h900-1tb
                        gpu_count: -1
            """);

        var (settings, errors) = Read(new() { ["fleet"] = fleet, ["data"] = _dir.Path });

        Assert.Null(settings);
        Assert.True(errors.Count >= 3, string.Join("\n", errors));
        Assert.All(errors, e => Assert.StartsWith("fleet: ", e, StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("h900-1tb", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("nomad", StringComparison.Ordinal));
    }

    [Fact]
    public void Oidc_issuers_come_from_nested_environment_variables()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new()
        {
            ["HEADROOM_OIDC__ISSUERS__0__NAME"] = "okta",
            ["HEADROOM_OIDC__ISSUERS__0__AUTHORITY"] = "https://corp.okta.example/oauth2/default/",
            ["HEADROOM_OIDC__ISSUERS__0__AUDIENCE"] = "api://headroom",
            ["HEADROOM_OIDC__ISSUERS__0__ORG_CLAIM"] = "org_name",
        });

        Assert.Empty(errors);
        var issuer = Assert.Single(settings!.OidcIssuers);
        Assert.Equal(("okta", "https://corp.okta.example/oauth2/default", "api://headroom", "org_name", "role"),
            (issuer.Name, issuer.Authority, issuer.Audience, issuer.OrgClaim, issuer.RoleClaim));
    }

    [Fact]
    public void An_issuers_console_client_is_read_and_a_secret_or_redirect_without_a_client_id_is_refused()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new()
        {
            ["HEADROOM_OIDC__ISSUERS__0__NAME"] = "okta",
            ["HEADROOM_OIDC__ISSUERS__0__AUTHORITY"] = "https://corp.okta.example",
            ["HEADROOM_OIDC__ISSUERS__0__AUDIENCE"] = "api://headroom",
            ["HEADROOM_OIDC__ISSUERS__0__CLIENT_ID"] = "headroom-console",
            ["HEADROOM_OIDC__ISSUERS__0__CLIENT_SECRET"] = "s3cret",
            ["HEADROOM_OIDC__ISSUERS__0__REDIRECT_URI"] = "https://console.example/signin/oidc/callback",
        });
        Assert.Empty(errors);
        var issuer = Assert.Single(settings!.OidcIssuers);
        Assert.Equal(("headroom-console", "s3cret", "https://console.example/signin/oidc/callback"), (issuer.ClientId, issuer.ClientSecret, issuer.RedirectUri!.ToString()));

        (settings, errors) = Read(new() { ["data"] = _dir.Path }, new()
        {
            ["HEADROOM_OIDC__ISSUERS__0__NAME"] = "corp sso",
            ["HEADROOM_OIDC__ISSUERS__0__AUTHORITY"] = "https://corp.example",
            ["HEADROOM_OIDC__ISSUERS__0__AUDIENCE"] = "headroom",
            ["HEADROOM_OIDC__ISSUERS__0__CLIENT_SECRET"] = "s3cret",
            ["HEADROOM_OIDC__ISSUERS__0__REDIRECT_URI"] = "https://console.example/elsewhere",
        });
        Assert.Null(settings);
        Assert.Collection(errors.Order(StringComparer.Ordinal),
            e => Assert.StartsWith("oidc.issuers[0].client_id: is required with client_secret or redirect_uri", e, StringComparison.Ordinal),
            e => Assert.StartsWith("oidc.issuers[0].name: 'corp sso' may hold only", e, StringComparison.Ordinal),
            e => Assert.StartsWith("oidc.issuers[0].redirect_uri: 'https://console.example/elsewhere' is not an absolute", e, StringComparison.Ordinal));
    }

    [Fact]
    public void A_slurm_section_makes_this_replica_drive_the_slurm_runtime()
    {
        var conf = Path.Combine(_dir.Path, "slurm.conf");
        File.WriteAllText(conf, "ClusterName=test\n");
        var bin = Directory.CreateDirectory(Path.Combine(_dir.Path, "bin")).FullName;
        File.WriteAllText(Path.Combine(bin, "sbatch"), "");
        var config = Path.Combine(_dir.Path, "headroom.json");
        File.WriteAllText(config, $$"""
            { "slurm": { "slurm_conf": "{{conf}}", "bin_directory": "{{bin}}", "gres_types": { "h100-80gb": "h100" },
                         "partitions": { "spot": "preemptible" }, "accounting": "database" } }
            """);

        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new() { ["HEADROOM_SLURM__COMMAND_TIMEOUT_SECONDS"] = "5" }, config);
        using var app = HeadroomHost.Build(settings!);
        var runtimes = app.Services.GetRequiredService<JobRuntimes>();

        Assert.Empty(errors);
        var slurm = settings!.Slurm!;
        Assert.Equal((conf, bin, Path.Combine(_dir.Path, "jobs")), (slurm.SlurmConf, slurm.BinDirectory, slurm.SharedDirectory));
        Assert.Equal(("h100", "a100-80gb"), (slurm.GresType("h100-80gb"), slurm.GresType("a100-80gb")));
        Assert.Equal(("preemptible", "internal"), (slurm.Layout.Partitions[Tier.Spot], slurm.Layout.Partitions[Tier.Internal]));
        Assert.Equal((SlurmAccounting.Database, TimeSpan.FromSeconds(5)), (slurm.Accounting, slurm.CommandTimeout));
        Assert.Equal(["local", "slurm"], runtimes.Names.Order());
    }

    [Fact]
    public void Without_a_slurm_section_only_the_local_runtime_is_driven()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path });
        using var app = HeadroomHost.Build(settings!);

        Assert.Empty(errors);
        Assert.Null(settings!.Slurm);
        Assert.Equal(["local"], app.Services.GetRequiredService<JobRuntimes>().Names);
    }

    [Fact]
    public void Every_problem_of_the_slurm_section_is_listed()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new()
        {
            ["HEADROOM_SLURM__SLURM_CONF"] = "slurm.conf",
            ["HEADROOM_SLURM__BIN_DIRECTORY"] = _dir.Path,
            ["HEADROOM_SLURM__SHARED_DIRECTORY"] = _dir.Path,
            ["HEADROOM_SLURM__ACCOUNTING"] = "sometimes",
            ["HEADROOM_SLURM__PARTITIONS__PREMIUM"] = "gold",
            ["HEADROOM_SLURM__PARTITIONS__SPOT"] = "preemptible",
            ["HEADROOM_SLURM__GRES_TYPES__H100-80GB"] = "h100 sxm",
            ["HEADROOM_SLURM__COMMAND_TIMEOUT_SECONDS"] = "0",
            ["HEADROOM_SLURM__COLOUR"] = "blue",
        });

        Assert.Null(settings);
        Assert.Collection(errors.Order(StringComparer.Ordinal),
            e => Assert.StartsWith("slurm.accounting: 'sometimes'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm.command_timeout_seconds: '0' is not a whole number from 1 to 600", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm.partitions.PREMIUM:", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm: bin_directory", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm: gres_types.h100-80gb: 'h100 sxm'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm: slurm_conf must be an absolute path", e, StringComparison.Ordinal),
            e => Assert.StartsWith("slurm: unknown setting 'COLOUR'", e, StringComparison.Ordinal));
    }

    [Fact]
    public void A_kubernetes_section_makes_this_replica_drive_the_kubernetes_runtime()
    {
        var kubeconfig = Path.Combine(_dir.Path, "kubeconfig");
        File.WriteAllText(kubeconfig, """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
            users: [{name: u, user: {token: "t"}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """);
        var config = Path.Combine(_dir.Path, "headroom.json");
        File.WriteAllText(config, $$"""
            { "kubernetes": { "kubeconfig": "{{kubeconfig}}", "namespace": "gpu-jobs", "default_image": "ubuntu:24.04" } }
            """);

        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new() { ["HEADROOM_KUBERNETES__REQUEST_TIMEOUT_SECONDS"] = "5" }, config);
        using var app = HeadroomHost.Build(settings!);
        var runtimes = app.Services.GetRequiredService<JobRuntimes>();

        Assert.Empty(errors);
        var kubernetes = settings!.Kubernetes!;
        Assert.Equal((kubeconfig, "gpu-jobs", "ubuntu:24.04"), (kubernetes.Kubeconfig, kubernetes.Namespace, kubernetes.DefaultImage));
        Assert.Equal(("nvidia.com/gpu", "headroom", Path.Combine(_dir.Path, "jobs")), (kubernetes.GpuResource, kubernetes.SchedulerName, kubernetes.SharedDirectory));
        Assert.Equal(TimeSpan.FromSeconds(5), kubernetes.RequestTimeout);
        Assert.Equal(["kubernetes", "local"], runtimes.Names.Order());
    }

    [Fact]
    public void Every_problem_of_the_kubernetes_section_is_listed()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new()
        {
            ["HEADROOM_KUBERNETES__KUBECONFIG"] = Path.Combine(_dir.Path, "missing"),
            ["HEADROOM_KUBERNETES__NAMESPACE"] = "GPU_Jobs",
            ["HEADROOM_KUBERNETES__GPU_RESOURCE"] = "gpu",
            ["HEADROOM_KUBERNETES__SHARED_DIRECTORY"] = "",
            ["HEADROOM_KUBERNETES__REQUEST_TIMEOUT_SECONDS"] = "0",
            ["HEADROOM_KUBERNETES__COLOUR"] = "blue",
        });

        Assert.Null(settings);
        Assert.Collection(errors.Order(StringComparer.Ordinal),
            e => Assert.StartsWith("kubernetes.request_timeout_seconds: '0' is not a whole number from 1 to 600", e, StringComparison.Ordinal),
            e => Assert.StartsWith("kubernetes: gpu_resource 'gpu'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("kubernetes: kubeconfig '", e, StringComparison.Ordinal),
            e => Assert.StartsWith("kubernetes: namespace 'GPU_Jobs'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("kubernetes: unknown setting 'COLOUR'", e, StringComparison.Ordinal));
    }

    [Fact]
    public void A_kubernetes_section_without_a_kubeconfig_is_refused_outside_a_cluster()
    {
        var (settings, errors) = Read(new() { ["data"] = _dir.Path }, new() { ["HEADROOM_KUBERNETES__NAMESPACE"] = "gpu-jobs" });

        Assert.Null(settings);
        Assert.Equal("kubernetes: kubeconfig is required outside a cluster (there is no in-cluster service account here)", Assert.Single(errors));
    }

    [Fact]
    public void Models_and_their_limits_come_from_the_config_file_the_environment_and_model_flags()
    {
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        File.WriteAllBytes(gguf, [0]);
        var config = Path.Combine(_dir.Path, "headroom.json");
        File.WriteAllText(config, $$"""
            { "models": { "from-config": "{{gguf}}" }, "model_limits": { "key": { "requests_per_minute": 60 } } }
            """);

        var (settings, errors) = Read(new() { ["data"] = _dir.Path, ["models:from-flag"] = gguf }, new()
        {
            ["HEADROOM_MODELS__from-env"] = gguf,
            ["HEADROOM_MODEL_LIMITS__PROJECT__TOKENS_PER_MINUTE"] = "100000",
            ["HEADROOM_MODEL_LIMITS__PROJECT__CONCURRENT_REQUESTS"] = "4",
        }, config);

        Assert.Empty(errors);
        var models = settings!.Models;
        Assert.True(models.ServeMiniLm);
        Assert.Equal(["from-config", "from-env", "from-flag"], models.Gguf.Keys.Order(StringComparer.Ordinal));
        Assert.All(models.Gguf.Values, path => Assert.Equal(gguf, path));
        Assert.Equal(new Headroom.Server.Models.ModelLimits(60, 0, 0), models.PerKey);
        Assert.Equal(new Headroom.Server.Models.ModelLimits(0, 100_000, 4), models.PerProject);
    }

    [Fact]
    public void Model_settings_problems_are_listed_with_the_rest()
    {
        var (settings, errors) = Read(new()
        {
            ["data"] = _dir.Path,
            ["serve_minilm"] = "maybe",
            ["models:ghost"] = "/nope/ghost.gguf",
            ["models:empty"] = "",
            ["model_limits:key:requests_per_minute"] = "-5",
            ["model_limits:org:requests_per_minute"] = "5",
            ["model_limits:project:burst"] = "5",
        });

        Assert.Null(settings);
        Assert.Equal(
        [
            "model_limits.key.requests_per_minute: '-5' is not a whole number from 0 to 1000000000",
            "model_limits.project: unknown setting 'burst' (known: concurrent_requests, requests_per_minute, tokens_per_minute)",
            "model_limits: unknown setting 'org' (known: key, project)",
            "models.empty: the path of a GGUF file is required (--model NAME=PATH.gguf)",
            "models.ghost: file '/nope/ghost.gguf' does not exist",
            "serve_minilm: 'maybe' is not true or false",
        ], errors.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_replicas_region_defaults_to_the_fleets_first_and_must_be_one_of_its_regions()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        File.WriteAllText(fleet, FleetTests.TwoRegionFleet);

        Assert.Equal("local", Read(new() { ["data"] = _dir.Path }).Settings!.Models.Region);
        Assert.Equal("us-east", Read(new() { ["data"] = _dir.Path, ["fleet"] = fleet }).Settings!.Models.Region);
        var pinned = Read(new() { ["data"] = _dir.Path, ["fleet"] = fleet, ["region"] = "eu-west", ["token_journal_retention_days"] = "30" }).Settings!;
        Assert.Equal(("eu-west", TimeSpan.FromDays(30)), (pinned.Models.Region, pinned.TokenJournalRetention));
        var (settings, errors) = Read(new() { ["data"] = _dir.Path, ["fleet"] = fleet, ["region"] = "mars", ["token_journal_retention_days"] = "0" });
        Assert.Null(settings);
        Assert.Equal(
        [
            "region: 'mars' is not a region of the fleet (us-east, eu-west)",
            "token_journal_retention_days: '0' is not a whole number from 1 to 3650",
        ], errors.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_built_in_embeddings_name_is_taken_unless_they_are_turned_off()
    {
        var gguf = Path.Combine(_dir.Path, "mine.gguf");
        File.WriteAllBytes(gguf, [0]);

        var (_, taken) = Read(new() { ["data"] = _dir.Path, ["models:all-minilm-l6-v2"] = gguf });
        var (settings, errors) = Read(new() { ["data"] = _dir.Path, ["models:all-minilm-l6-v2"] = gguf, ["serve_minilm"] = "false" });

        Assert.StartsWith("models.all-minilm-l6-v2: the name is taken", Assert.Single(taken), StringComparison.Ordinal);
        Assert.Empty(errors);
        Assert.False(settings!.Models.ServeMiniLm);
    }
}
