namespace Headroom.Core.Scheduling.Placement;

/// <summary>
/// A placement policy: the score step of filter → score. Every policy sees the same filter
/// (<see cref="PlacementFleet.Fits"/>) and returns the node it prefers among those that pass.
/// Policies are chosen by name (<see cref="PlacementPolicies"/>) and may keep caches keyed on
/// <see cref="PlacementFleet.NodeVersion"/>, so one instance serves one fleet.
/// </summary>
public interface IPlacementPolicy
{
    string Name { get; }

    /// <summary>Picks a node (and GPU) for the request, or <see cref="PlacementChoice.None"/>. Does not change the fleet.</summary>
    PlacementChoice Choose(PlacementFleet fleet, in PlacementRequest request);
}
