namespace Headroom.Gateway.Routing;

/// <summary>What routing knows of one replica at the moment of a pick.</summary>
/// <param name="Outstanding">Requests sent to it and not yet finished.</param>
/// <param name="LastPicked">Sequence number of the last time it was picked (0 never); breaks ties so equal replicas take turns.</param>
/// <param name="InAllowedRegion">Whether the replica's region is one the caller's project allows (true when it is not pinned).</param>
internal readonly record struct ReplicaView(int Outstanding, bool Healthy, long LastPicked, bool InAllowedRegion = true);

internal static class ReplicaSelection
{
    /// <summary>
    /// Least outstanding requests among healthy replicas in an allowed region and not excluded (the ones a request
    /// already failed on); a pinned project is never served from another region, however idle. Ties go to
    /// the replica picked longest ago, then to the lower index. Returns -1 when none is eligible.
    /// </summary>
    public static int Pick(ReadOnlySpan<ReplicaView> replicas, ReadOnlySpan<int> excluded)
    {
        var best = -1;
        for (var i = 0; i < replicas.Length; i++)
        {
            var candidate = replicas[i];
            if (!candidate.Healthy || !candidate.InAllowedRegion || excluded.Contains(i))
                continue;
            if (best < 0)
            {
                best = i;
                continue;
            }
            var current = replicas[best];
            if (candidate.Outstanding < current.Outstanding
                || (candidate.Outstanding == current.Outstanding && candidate.LastPicked < current.LastPicked))
                best = i;
        }
        return best;
    }
}

/// <summary>
/// A replica's health: probes decide, and failed requests take a replica out early. <see cref="FailureThreshold"/>
/// consecutive retryable failures mark it unhealthy; only a passing probe brings it back.
/// </summary>
internal readonly record struct ReplicaHealth(bool Healthy, int ConsecutiveFailures)
{
    public const int FailureThreshold = 3;

    public static ReplicaHealth Initial => new(true, 0);

    public ReplicaHealth AfterRequest(bool failed) => failed
        ? new(Healthy && ConsecutiveFailures + 1 < FailureThreshold, ConsecutiveFailures + 1)
        : this with { ConsecutiveFailures = 0 };

    public ReplicaHealth AfterProbe(bool passed) => passed ? Initial : new(false, ConsecutiveFailures);
}
