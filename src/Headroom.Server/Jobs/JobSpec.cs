using System.Text.Json;
using Headroom.Core.Scheduling.Tiered;
using Headroom.Core.Workloads;
using Headroom.Server.Api;
using Headroom.Store.Jobs;

namespace Headroom.Server.Jobs;

/// <summary>What a tenant submits to <c>POST /v1/jobs</c>. Quantities are integers; absent fields take the defaults documented in docs/jobs.md.</summary>
public sealed record SubmitJobRequest(
    string? Name,
    string? ProjectId,
    IReadOnlyList<string>? Command,
    IReadOnlyDictionary<string, string>? Env,
    int? GpusPerNode,
    int? GpuMilli,
    int? NodeCount,
    string? GpuModel,
    IReadOnlyList<string>? GpuModels,
    int? CpuMilli,
    int? MemoryMib,
    string? Region,
    string? Tier,
    long? MaxDurationSeconds,
    string? Checkpoint,
    string? ReservationId);

/// <summary>
/// The validated, normalized spec, stored with the job as JSON and never changed after submission. A replica of a
/// deployment carries its <paramref name="DeploymentId"/> and the <paramref name="Port"/> the control plane gave it.
/// </summary>
public sealed record JobSpec(
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Env,
    int GpusPerNode,
    int GpuMilli,
    int NodeCount,
    IReadOnlyList<string> GpuModels,
    int CpuMilli,
    int MemoryMib,
    string? Region,
    long? MaxDurationSeconds,
    string Checkpoint,
    string? ReservationId = null,
    string? DeploymentId = null,
    int? Port = null)
{
    public static JobSpec Read(JobRow row) => JsonSerializer.Deserialize<JobSpec>(row.Spec, Json.Options)!;

    public string Write() => JsonSerializer.Serialize(this, Json.Options);

    /// <summary>The job as the scheduler sees it.</summary>
    public Workload ToWorkload(JobRow row)
    {
        WorkloadCodes.TryParseTier(row.Tier, out var tier);
        WorkloadCodes.TryParseCheckpoint(Checkpoint, out var checkpoint);
        return new Workload
        {
            Id = row.Id,
            Org = row.OrgId,
            Project = row.ProjectId,
            Tier = tier,
            NodeCount = NodeCount,
            GpusPerNode = GpusPerNode,
            GpuMilli = GpuMilli,
            GpuModels = [.. GpuModels],
            CpuMilliPerNode = CpuMilli,
            MemoryMibPerNode = MemoryMib,
            Region = Region,
            MaxDuration = MaxDurationSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
            Checkpoint = checkpoint,
            ReservationId = ReservationId,
            SubmittedAt = row.CreatedAt,
        };
    }
}
