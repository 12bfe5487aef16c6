using System.Text.Json;
using Headroom.Server.Api;
using Headroom.Store.Jobs;

namespace Headroom.Server.Jobs;

public sealed record PlacementView(string Node, IReadOnlyList<int> Gpus, int GpuMilli);

public sealed record ReasonView(string Code, string Message);

public sealed record JobView(
    string Id,
    string OrgId,
    string ProjectId,
    string Name,
    string State,
    string StateReason,
    string Tier,
    JobSpec Spec,
    int Attempt,
    IReadOnlyList<PlacementView> Placement,
    IReadOnlyList<ReasonView> PendingReasons,
    int? QueuePosition,
    DateTimeOffset? NoticeDeadline,
    bool CancelRequested,
    int? ExitCode,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? EndedAt)
{
    public string Object => "job";

    internal static JobView Of(JobRow r) => new(
        r.Id, r.OrgId, r.ProjectId, r.Name, r.State, r.StateReason, r.Tier, JobSpec.Read(r), r.Attempt,
        r.Placement is null ? [] : JsonSerializer.Deserialize<List<PlacementView>>(r.Placement, Json.Options)!,
        JsonSerializer.Deserialize<List<ReasonView>>(r.PendingReasons, Json.Options)!,
        r.QueuePosition, r.NoticeDeadline, r.CancelRequested, r.ExitCode, r.CreatedAt, r.StartedAt, r.EndedAt);
}

public sealed record JobEventView(long Id, string JobId, int Attempt, DateTimeOffset Time, string FromState, string ToState, string Reason)
{
    public string Object => "job.event";

    internal static JobEventView Of(JobEventRow r) => new(r.Id, r.JobId, r.Attempt, r.Time, r.FromState, r.ToState, r.Reason);
}
