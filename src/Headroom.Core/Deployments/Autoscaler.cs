namespace Headroom.Core.Deployments;

/// <summary>What the autoscaler sees of one deployment at one pass.</summary>
/// <param name="Min">The deployment's floor (replicas it always asks for).</param>
/// <param name="Max">Its ceiling.</param>
/// <param name="Desired">The replica count it asks for now.</param>
/// <param name="InFlight">Requests being served by its replicas right now.</param>
/// <param name="Unserved">Calls refused since the last pass because no replica could take them (the gateway does not queue: these are its queue).</param>
/// <param name="TargetConcurrency">Requests in flight one replica should carry.</param>
/// <param name="LastChangeAt">When <paramref name="Desired"/> last changed.</param>
public readonly record struct ScaleSnapshot(
    int Min, int Max, int Desired, int InFlight, int Unserved, int TargetConcurrency, DateTimeOffset LastChangeAt);

/// <summary>The replica count to ask for, and why, as data (<see cref="Reason"/> is a stable code).</summary>
public sealed record ScaleDecision(int Desired, string Reason, string Message)
{
    public const string BelowMin = "below-min";
    public const string AboveMax = "above-max";
    public const string Load = "load";
    public const string Idle = "idle";
    public const string Cooldown = "cooldown";
    public const string Steady = "steady";
}

/// <summary>
/// Scales a deployment between its min and max on concurrency and queue depth. Pure: a snapshot and <c>now</c> in, a
/// decision out.
/// <list type="number">
/// <item>Outside [min, max] (the bounds were just changed): move to the nearest bound.</item>
/// <item>Needed = ceil((in flight + unserved) / target concurrency), held within [min, max].</item>
/// <item>More needed than asked for: scale up to it at once (a burst should not wait).</item>
/// <item>Fewer needed: scale down one replica at a time, and only after <c>scaleDownDelay</c> without a change, so a
/// lull between bursts does not stop replicas that the next burst needs (replicas take long to start).</item>
/// </list>
/// </summary>
public static class Autoscaler
{
    public static ScaleDecision Decide(ScaleSnapshot s, DateTimeOffset now, TimeSpan scaleDownDelay)
    {
        if (s.Min < 0 || s.Max < s.Min || s.TargetConcurrency < 1)
            throw new ArgumentException($"Bounds must satisfy 0 <= min <= max and target >= 1 (min {s.Min}, max {s.Max}, target {s.TargetConcurrency}).", nameof(s));
        if (s.Desired < s.Min)
            return new(s.Min, ScaleDecision.BelowMin, $"{s.Desired} replica(s) is below the minimum {s.Min}");
        if (s.Desired > s.Max)
            return new(s.Max, ScaleDecision.AboveMax, $"{s.Desired} replica(s) is above the maximum {s.Max}");

        var demand = (long)Math.Max(0, s.InFlight) + Math.Max(0, s.Unserved);
        var needed = (int)Math.Clamp((demand + s.TargetConcurrency - 1) / s.TargetConcurrency, s.Min, s.Max);
        var load = $"{s.InFlight} request(s) in flight and {s.Unserved} refused for lack of a replica need {needed} replica(s) at {s.TargetConcurrency} each";
        if (needed > s.Desired)
            return new(needed, ScaleDecision.Load, load);
        if (needed < s.Desired)
        {
            var quietFor = now - s.LastChangeAt;
            return quietFor >= scaleDownDelay
                ? new(s.Desired - 1, ScaleDecision.Idle, load + "; scaling down one replica")
                : new(s.Desired, ScaleDecision.Cooldown, load + $"; scaling down after {scaleDownDelay.TotalSeconds:0} s without a change");
        }
        return new(s.Desired, ScaleDecision.Steady, load);
    }
}
