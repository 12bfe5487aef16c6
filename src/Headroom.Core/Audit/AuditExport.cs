using System.Net;
using System.Net.Sockets;

namespace Headroom.Core.Audit;

/// <summary>How a record reads to a SIEM, shared by the OCSF and CEF formats so both tell the same story.</summary>
internal static class AuditExport
{
    public const string Product = "Headroom";

    /// <summary>OCSF API Activity activity_id from the action's last segment: projects.create is a create.</summary>
    public static (int Id, string Name) Activity(string action) => action[(action.LastIndexOf('.') + 1)..] switch
    {
        "create" => (1, "Create"),
        "read" => (2, "Read"),
        "update" => (3, "Update"),
        "delete" => (4, "Delete"),
        _ => (99, "Other"),
    };

    /// <summary>OCSF severity_id: refused credentials or permissions matter more to a security team than other failures.</summary>
    public static (int Id, string Name) Severity(AuditRecord record) => record switch
    {
        { Outcome: AuditOutcome.Success } => (1, "Informational"),
        { StatusCode: 401 or 403 } => (3, "Medium"),
        _ => (2, "Low"),
    };

    /// <summary>Only a literal address goes into an IP field; IPAddress.TryParse alone would read "1" as 0.0.0.1.</summary>
    public static bool IsIpAddress(string source) =>
        IPAddress.TryParse(source, out var address)
        && (address.AddressFamily == AddressFamily.InterNetworkV6 || source.Count(c => c == '.') == 3);
}
