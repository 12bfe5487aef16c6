using System.Globalization;
using System.Text;

namespace Headroom.Core.Audit;

/// <summary>Audit records as ArcSight CEF lines, ready for a syslog transport to prefix.</summary>
/// <remarks>
/// Extension keys, in this order: rt (epoch ms), suser, src (or shost when the source is not an IP address), act,
/// outcome, externalId (record id), msg (detail), cs1 org id, cs2 request id, cs3 hash, cs4 target, cs5 actor type,
/// cn1 seq, cn2 HTTP status. request and requestClientApplication are left out: the record keeps neither a URL nor
/// a user agent. Keys whose value is empty are omitted.
/// </remarks>
public static class AuditCef
{
    /// <summary>One CEF line, without the trailing newline.</summary>
    public static string Format(AuditRecord record, string productVersion)
    {
        ArgumentNullException.ThrowIfNull(record);
        var outcome = record.Outcome.ToCode();
        var line = new StringBuilder(512);
        line.Append("CEF:0|")
            .Append(Header(AuditExport.Product)).Append('|')
            .Append(Header(AuditExport.Product)).Append('|')
            .Append(Header(productVersion)).Append('|')
            .Append(Header(record.Action)).Append('|')
            .Append(Header($"{record.Action} {outcome} {record.StatusCode}")).Append('|')
            .Append(Severity(record)).Append('|');

        var first = true;
        void Add(string key, string? value)
        {
            if (string.IsNullOrEmpty(value))
            {
                return;
            }
            line.Append(first ? "" : " ").Append(key).Append('=').Append(Extension(value));
            first = false;
        }

        Add("rt", record.Time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        Add("suser", record.Actor);
        Add(AuditExport.IsIpAddress(record.SourceAddress) ? "src" : "shost", record.SourceAddress);
        Add("act", record.Action);
        Add("outcome", outcome);
        Add("externalId", record.Id);
        Add("msg", record.Detail);
        Add("cs1Label", "orgId");
        Add("cs1", record.OrgId);
        Add("cs2Label", "requestId");
        Add("cs2", record.RequestId);
        Add("cs3Label", "hash");
        Add("cs3", record.Hash);
        if (record.Target.Length > 0)
        {
            Add("cs4Label", "target");
            Add("cs4", record.Target);
        }
        Add("cs5Label", "actorType");
        Add("cs5", record.ActorType.ToCode());
        Add("cn1Label", "seq");
        Add("cn1", record.Seq.ToString(CultureInfo.InvariantCulture));
        Add("cn2Label", "statusCode");
        Add("cn2", record.StatusCode.ToString(CultureInfo.InvariantCulture));
        return line.ToString();
    }

    /// <summary>CEF severity 0-10 from the OCSF one: Informational 1, Low 3, Medium 6.</summary>
    private static int Severity(AuditRecord record) => AuditExport.Severity(record).Id switch
    {
        1 => 1,
        2 => 3,
        _ => 6,
    };

    /// <summary>Header fields escape backslash and pipe; the spec allows no line breaks there, so they become spaces.</summary>
    internal static string Header(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("|", "\\|", StringComparison.Ordinal)
            .Replace('\r', ' ')
            .Replace('\n', ' ');

    /// <summary>Extension values escape backslash and equals, and encode line breaks as \r and \n.</summary>
    internal static string Extension(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("=", "\\=", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal);
}
