namespace Headroom.Server.Models;

/// <summary>What this replica serves on the OpenAI surface, and the operator's limits on calling it (docs/models.md).</summary>
public sealed record ModelSettings
{
    /// <summary>Serve <c>all-minilm-l6-v2</c> embeddings in process (setting <c>serve_minilm</c>).</summary>
    public bool ServeMiniLm { get; init; } = true;

    /// <summary>GGUF files served by the in-process llama engine, by model name (setting <c>models</c>, flag <c>--model NAME=PATH</c>).</summary>
    public IReadOnlyDictionary<string, string> Gguf { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The fleet region this replica runs in, where its in-process models are served (setting <c>region</c>; default
    /// the fleet file's first region, or <c>local</c> when this machine is the fleet). Projects pinned to regions reach
    /// these models only when it is one of theirs.
    /// </summary>
    public string Region { get; init; } = Core.Fleet.LocalFleet.RegionName;

    /// <summary>The names of the models loaded in process (listed as read-only system deployments).</summary>
    public IEnumerable<string> InProcessNames() => ServeMiniLm ? Gguf.Keys.Prepend(Gateway.Engines.InferenceEngines.MiniLmModelName) : Gguf.Keys;

    /// <summary>Limits every API key (or OIDC caller) is held to.</summary>
    public ModelLimits PerKey { get; init; } = ModelLimits.None;

    /// <summary>Limits every project is held to; a project may set tighter ones of its own through the API.</summary>
    public ModelLimits PerProject { get; init; } = ModelLimits.None;
}

/// <summary>
/// Requests per minute, tokens per minute (prompt plus output, counted in fixed one-minute windows) and requests in
/// flight at once. 0 means no limit.
/// </summary>
public sealed record ModelLimits(int RequestsPerMinute, int TokensPerMinute, int ConcurrentRequests)
{
    public static readonly ModelLimits None = new(0, 0, 0);

    public bool IsNone => RequestsPerMinute == 0 && TokensPerMinute == 0 && ConcurrentRequests == 0;

    /// <summary>The tighter of two limits, where 0 (no limit) is the loosest.</summary>
    public ModelLimits Tighten(int? requestsPerMinute, int? tokensPerMinute, int? concurrentRequests) => new(
        Min(RequestsPerMinute, requestsPerMinute), Min(TokensPerMinute, tokensPerMinute), Min(ConcurrentRequests, concurrentRequests));

    private static int Min(int setting, int? own) => own is not > 0 ? setting : setting == 0 ? own.Value : Math.Min(setting, own.Value);
}
