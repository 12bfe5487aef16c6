using System.Globalization;
using Headroom.Core.Scheduling.Tiered;

namespace Headroom.Core.Simulation.Trace;

/// <summary>How the trace's demand splits over tiers, in whole percent summing to 100.</summary>
public sealed record TierShares(int Internal, int Reserved, int OnDemand, int Spot)
{
    public static TierShares Default { get; } = new(40, 10, 25, 25);

    /// <summary>Parses <c>internal=40,reserved=10,on-demand=25,spot=25</c>; tiers not named get 0.</summary>
    public static bool TryParse(string text, out TierShares shares, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        shares = new TierShares(0, 0, 0, 0);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pct) || pct < 0)
            {
                error = $"'{part}': expected tier=percent";
                return false;
            }
            switch (kv[0])
            {
                case "internal": shares = shares with { Internal = pct }; break;
                case "reserved": shares = shares with { Reserved = pct }; break;
                case "on-demand": shares = shares with { OnDemand = pct }; break;
                case "spot": shares = shares with { Spot = pct }; break;
                default:
                    error = $"'{kv[0]}': tiers are internal, reserved, on-demand, spot";
                    return false;
            }
        }
        error = shares.Internal + shares.Reserved + shares.OnDemand + shares.Spot == 100 ? null : "shares must sum to 100";
        return error is null;
    }

    /// <summary>The tier for a uniform draw in 0..99.</summary>
    public Tier Pick(int draw) =>
        draw < Internal ? Tier.Internal
        : draw < Internal + Reserved ? Tier.Reserved
        : draw < Internal + Reserved + OnDemand ? Tier.OnDemand
        : Tier.Spot;
}
