namespace Headroom.Core.Access;

/// <summary>One thing a caller may do. Endpoints name exactly one permission each.</summary>
public enum Permission
{
    OrgRead,
    OrgUpdate,
    OrgsManage,
    ProjectRead,
    ProjectWrite,
    MemberRead,
    MemberWrite,
    KeyRead,
    KeyWrite,
    CapacityRead,
    FleetRead,
    FleetManage,
    AuditRead,
    JobRead,
    JobWrite,
    PriceRead,
    PriceWrite,
    UsageRead,
    ReservationRead,
    ReservationWrite,
    EconomicsRead,
    InvoiceRead,
    BudgetRead,
    BudgetWrite,
    ModelInvoke,
    RequestLogRead,
}

/// <summary>
/// The permission matrix, in one place. docs/permissions.md prints the same table and a test walks
/// every cell through the HTTP API.
/// </summary>
public static class PermissionMatrix
{
    private static readonly Role[] s_all = [Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing, Role.FleetAdmin];

    private static readonly Dictionary<Permission, Role[]> s_grants = new()
    {
        [Permission.OrgRead] = s_all,
        [Permission.OrgUpdate] = [Role.Owner, Role.FleetAdmin],
        [Permission.OrgsManage] = [Role.FleetAdmin],
        [Permission.ProjectRead] = s_all,
        [Permission.ProjectWrite] = [Role.Owner, Role.Admin],
        [Permission.MemberRead] = [Role.Owner, Role.Admin, Role.Member, Role.Viewer],
        [Permission.MemberWrite] = [Role.Owner, Role.Admin],
        [Permission.KeyRead] = [Role.Owner, Role.Admin],
        [Permission.KeyWrite] = [Role.Owner, Role.Admin],
        [Permission.CapacityRead] = s_all,
        [Permission.FleetRead] = [Role.FleetAdmin],
        [Permission.FleetManage] = [Role.FleetAdmin],
        [Permission.AuditRead] = [Role.Owner, Role.Admin, Role.FleetAdmin],
        [Permission.JobRead] = [Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing],
        [Permission.JobWrite] = [Role.Owner, Role.Admin, Role.Member],
        [Permission.PriceRead] = s_all,
        [Permission.PriceWrite] = [Role.FleetAdmin],
        [Permission.UsageRead] = [Role.Owner, Role.Admin, Role.Billing, Role.FleetAdmin],
        [Permission.ReservationRead] = [Role.Owner, Role.Admin, Role.Member, Role.Viewer, Role.Billing],
        [Permission.ReservationWrite] = [Role.Owner, Role.Admin],
        [Permission.EconomicsRead] = [Role.FleetAdmin],
        [Permission.InvoiceRead] = [Role.Owner, Role.Admin, Role.Billing, Role.FleetAdmin],
        [Permission.BudgetRead] = [Role.Owner, Role.Admin, Role.Member, Role.Billing, Role.FleetAdmin],
        [Permission.BudgetWrite] = [Role.Owner, Role.Admin, Role.Billing, Role.FleetAdmin],
        // Calling a hosted model spends money, like submitting a job.
        [Permission.ModelInvoke] = [Role.Owner, Role.Admin, Role.Member],
        // What a project's callers asked and were answered: its admins only, never the operator.
        [Permission.RequestLogRead] = [Role.Owner, Role.Admin],
    };

    public static IReadOnlyList<Role> RolesFor(Permission permission) => s_grants[permission];

    public static bool Allows(IReadOnlySet<Role> roles, Permission permission)
    {
        foreach (var role in s_grants[permission])
        {
            if (roles.Contains(role))
                return true;
        }
        return false;
    }
}
