namespace Headroom.Store.Coordination;

/// <summary>
/// A named lease for work that must run on one replica at a time. <see cref="Epoch"/> grows on every
/// change of holder, so work can be fenced by the epoch it started under.
/// </summary>
public sealed class LeaseRow
{
    public required string Name { get; set; }
    public required string Holder { get; set; }
    public long Epoch { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}
