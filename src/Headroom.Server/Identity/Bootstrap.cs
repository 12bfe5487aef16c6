using Headroom.Core.Access;
using Headroom.Store;
using Headroom.Store.Identity;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Identity;

/// <summary>
/// First start: the operator's org <c>internal</c> and its first key (owner + fleet-admin). Safe
/// when several replicas start together: the org's fixed id makes the second insert fail, and only
/// the replica whose insert won writes the key.
/// </summary>
public static class Bootstrap
{
    public const string InternalOrgId = "org_internal";
    public const string InternalOrgName = "internal";

    /// <summary>Returns the new admin key when this call created the org, else null.</summary>
    public static async Task<string?> EnsureInternalOrgAsync(Database database, Api.Ids ids, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        if (await db.Orgs.AnyAsync(o => o.Id == InternalOrgId, cancellationToken))
            return null;

        var now = time.GetUtcNow();
        var (key, lookup, hash) = ApiKeySecrets.Create();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        db.Orgs.Add(new OrgRow { Id = InternalOrgId, Name = InternalOrgName, DisplayName = "Operator (internal)", CreatedAt = now });
        db.ApiKeys.Add(new ApiKeyRow
        {
            Id = ids.New("key"),
            OrgId = InternalOrgId,
            Name = "admin (created at first start)",
            LookupId = lookup,
            SecretHash = hash,
            Roles = Roles.FormatList([Role.Owner, Role.FleetAdmin]),
            CreatedBy = "system",
            CreatedAt = now,
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            return null;
        }
        return key;
    }
}
