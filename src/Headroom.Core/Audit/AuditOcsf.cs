using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Headroom.Core.Audit;

/// <summary>Audit records as OCSF API Activity events (class 6003), one JSON object per line.</summary>
public static class AuditOcsf
{
    public const string SchemaVersion = "1.3.0";

    private const int ClassUid = 6003;

    // SIEM files are never embedded in HTML, so non-ASCII text stays readable instead of \u-escaped.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One JSON line, without the trailing newline.</summary>
    public static string Format(AuditRecord record, string productVersion)
    {
        ArgumentNullException.ThrowIfNull(record);
        var (activityId, activityName) = AuditExport.Activity(record.Action);
        var (severityId, severityName) = AuditExport.Severity(record);
        var (userTypeId, userType) = UserType(record.ActorType);
        var success = record.Outcome == AuditOutcome.Success;

        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("activity_id", activityId);
            json.WriteString("activity_name", activityName);
            json.WriteNumber("category_uid", 6);
            json.WriteString("category_name", "Application Activity");
            json.WriteNumber("class_uid", ClassUid);
            json.WriteString("class_name", "API Activity");
            json.WriteNumber("type_uid", (ClassUid * 100) + activityId);
            json.WriteString("type_name", $"API Activity: {activityName}");
            json.WriteNumber("time", record.Time.ToUnixTimeMilliseconds());
            json.WriteNumber("severity_id", severityId);
            json.WriteString("severity", severityName);
            json.WriteNumber("status_id", success ? 1 : 2);
            json.WriteString("status", success ? "Success" : "Failure");
            json.WriteString("status_code", record.StatusCode.ToString(CultureInfo.InvariantCulture));
            if (record.Detail is not null)
            {
                json.WriteString("message", record.Detail);
            }

            json.WriteStartObject("actor");
            json.WriteStartObject("user");
            json.WriteString("uid", record.Actor);
            json.WriteNumber("type_id", userTypeId);
            json.WriteString("type", userType);
            json.WriteEndObject();
            json.WriteEndObject();

            json.WriteStartObject("api");
            json.WriteString("operation", record.Action);
            json.WriteStartObject("request");
            json.WriteString("uid", record.RequestId);
            json.WriteEndObject();
            json.WriteEndObject();

            json.WriteStartObject("src_endpoint");
            json.WriteString(AuditExport.IsIpAddress(record.SourceAddress) ? "ip" : "name", record.SourceAddress);
            json.WriteEndObject();

            if (record.Target.Length > 0)
            {
                json.WriteStartArray("resources");
                json.WriteStartObject();
                json.WriteString("uid", record.Target);
                json.WriteEndObject();
                json.WriteEndArray();
            }

            json.WriteStartObject("http_response");
            json.WriteNumber("code", record.StatusCode);
            json.WriteEndObject();

            json.WriteStartObject("metadata");
            json.WriteString("version", SchemaVersion);
            json.WriteString("uid", record.Id);
            json.WriteStartObject("product");
            json.WriteString("name", AuditExport.Product);
            json.WriteString("vendor_name", AuditExport.Product);
            json.WriteString("version", productVersion);
            json.WriteEndObject();
            json.WriteEndObject();

            // What OCSF has no place for but an auditor needs to re-check the chain.
            json.WriteStartObject("unmapped");
            json.WriteString("org_id", record.OrgId);
            json.WriteNumber("seq", record.Seq);
            json.WriteString("prev_hash", record.PrevHash);
            json.WriteString("hash", record.Hash);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>OCSF user type_id; where OCSF has no word for ours, type_id is Other and type carries our code.</summary>
    private static (int Id, string Name) UserType(AuditActorType type) => type switch
    {
        AuditActorType.Oidc => (1, "User"),
        AuditActorType.System => (3, "System"),
        _ => (99, type.ToCode()),
    };
}
