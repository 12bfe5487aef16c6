using System.Globalization;
using System.Text.Json;
using Headroom.Core.Audit;

namespace Headroom.Core.Tests.Audit;

public sealed class AuditExportTests
{
    private const string Version = "0.1.0";
    private static readonly string PrevHash = new('0', 64);
    private static readonly string Hash = new('a', 64);

    private static readonly AuditRecord Plain = new(
        Id: "aud_0001",
        OrgId: "org_acme",
        Seq: 42,
        Time: new DateTimeOffset(2026, 11, 26, 12, 0, 1, TimeSpan.Zero).AddTicks(2_345_670),
        Actor: "key_01",
        ActorType: AuditActorType.ApiKey,
        Action: "projects.create",
        Target: "prj_1",
        SourceAddress: "203.0.113.7",
        Outcome: AuditOutcome.Success,
        StatusCode: 201,
        RequestId: "req_1",
        Detail: null,
        PrevHash: PrevHash,
        Hash: Hash);

    private static readonly AuditRecord Nasty = Plain with
    {
        Id = "aud_0002",
        Seq = 7,
        Actor = "alice|ops\\x=y",
        ActorType = AuditActorType.Oidc,
        Action = "jobs.cancel|x\\y",
        Target = "job=1|a b",
        SourceAddress = "2001:db8::1",
        Outcome = AuditOutcome.Failure,
        StatusCode = 403,
        RequestId = "req \"2\"",
        Detail = "line1\r\nline2 = é漢🙂 \\ |",
    };

    [Fact]
    public void Ocsf_golden_plain()
    {
        // One line in the file; broken here at commas for reading.
        var expected = $$$"""
            {"activity_id":1,"activity_name":"Create","category_uid":6,"category_name":"Application Activity",
            "class_uid":6003,"class_name":"API Activity","type_uid":600301,"type_name":"API Activity: Create",
            "time":1795694401234,"severity_id":1,"severity":"Informational","status_id":1,"status":"Success","status_code":"201",
            "actor":{"user":{"uid":"key_01","type_id":99,"type":"api_key"}},
            "api":{"operation":"projects.create","request":{"uid":"req_1"}},
            "src_endpoint":{"ip":"203.0.113.7"},"resources":[{"uid":"prj_1"}],"http_response":{"code":201},
            "metadata":{"version":"1.3.0","uid":"aud_0001","product":{"name":"Headroom","vendor_name":"Headroom","version":"0.1.0"}},
            "unmapped":{"org_id":"org_acme","seq":42,"prev_hash":"{{{PrevHash}}}","hash":"{{{Hash}}}"}}
            """.ReplaceLineEndings("");

        Assert.Equal(expected, AuditOcsf.Format(Plain, Version));
    }

    [Fact]
    public void Ocsf_golden_nasty()
    {
        var expected = $$$"""
            {"activity_id":99,"activity_name":"Other","category_uid":6,"category_name":"Application Activity",
            "class_uid":6003,"class_name":"API Activity","type_uid":600399,"type_name":"API Activity: Other",
            "time":1795694401234,"severity_id":3,"severity":"Medium","status_id":2,"status":"Failure","status_code":"403",
            "message":"line1\r\nline2 = é漢\uD83D\uDE42 \\ |",
            "actor":{"user":{"uid":"alice|ops\\x=y","type_id":1,"type":"User"}},
            "api":{"operation":"jobs.cancel|x\\y","request":{"uid":"req \"2\""}},
            "src_endpoint":{"ip":"2001:db8::1"},"resources":[{"uid":"job=1|a b"}],"http_response":{"code":403},
            "metadata":{"version":"1.3.0","uid":"aud_0002","product":{"name":"Headroom","vendor_name":"Headroom","version":"0.1.0"}},
            "unmapped":{"org_id":"org_acme","seq":7,"prev_hash":"{{{PrevHash}}}","hash":"{{{Hash}}}"}}
            """.ReplaceLineEndings("");

        var line = AuditOcsf.Format(Nasty, Version);

        Assert.Equal(expected, line);
        Assert.DoesNotContain('\n', line);
        using var parsed = JsonDocument.Parse(line);
        Assert.Equal(Nasty.Detail, parsed.RootElement.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("projects.create", 1)]
    [InlineData("keys.read", 2)]
    [InlineData("prices.update", 3)]
    [InlineData("deployments.delete", 4)]
    [InlineData("auth.failed", 99)]
    [InlineData("create", 1)]
    [InlineData("projects.created", 99)]
    public void Ocsf_activity_comes_from_the_action_verb(string action, int activityId)
    {
        using var parsed = JsonDocument.Parse(AuditOcsf.Format(Plain with { Action = action }, Version));
        var root = parsed.RootElement;

        Assert.Equal(activityId, root.GetProperty("activity_id").GetInt32());
        Assert.Equal((6003 * 100) + activityId, root.GetProperty("type_uid").GetInt32());
        Assert.Equal(action, root.GetProperty("api").GetProperty("operation").GetString());
    }

    [Theory]
    [InlineData(AuditOutcome.Success, 200, 1, 1)]
    [InlineData(AuditOutcome.Failure, 401, 2, 3)]
    [InlineData(AuditOutcome.Failure, 403, 2, 3)]
    [InlineData(AuditOutcome.Failure, 422, 2, 2)]
    [InlineData(AuditOutcome.Failure, 500, 2, 2)]
    public void Ocsf_status_and_severity_follow_the_outcome(AuditOutcome outcome, int statusCode, int statusId, int severityId)
    {
        using var parsed = JsonDocument.Parse(AuditOcsf.Format(Plain with { Outcome = outcome, StatusCode = statusCode }, Version));
        var root = parsed.RootElement;

        Assert.Equal(statusId, root.GetProperty("status_id").GetInt32());
        Assert.Equal(severityId, root.GetProperty("severity_id").GetInt32());
        Assert.Equal(statusCode.ToString(CultureInfo.InvariantCulture), root.GetProperty("status_code").GetString());
    }

    [Theory]
    [InlineData("203.0.113.7", "ip")]
    [InlineData("::1", "ip")]
    [InlineData("1", "name")]
    [InlineData("unix:/run/headroom.sock", "name")]
    [InlineData("", "name")]
    public void Ocsf_source_is_an_ip_only_when_it_is_one(string source, string key)
    {
        using var parsed = JsonDocument.Parse(AuditOcsf.Format(Plain with { SourceAddress = source }, Version));

        Assert.Equal(source, parsed.RootElement.GetProperty("src_endpoint").GetProperty(key).GetString());
    }

    [Fact]
    public void Ocsf_leaves_out_resources_without_a_target()
    {
        using var parsed = JsonDocument.Parse(AuditOcsf.Format(Plain with { Target = "" }, Version));

        Assert.False(parsed.RootElement.TryGetProperty("resources", out _));
    }

    [Fact]
    public void Cef_golden_plain()
    {
        var expected =
            "CEF:0|Headroom|Headroom|0.1.0|projects.create|projects.create success 201|1|"
            + "rt=1795694401234 suser=key_01 src=203.0.113.7 act=projects.create outcome=success externalId=aud_0001 "
            + $"cs1Label=orgId cs1=org_acme cs2Label=requestId cs2=req_1 cs3Label=hash cs3={Hash} cs4Label=target cs4=prj_1 "
            + "cs5Label=actorType cs5=api_key cn1Label=seq cn1=42 cn2Label=statusCode cn2=201";

        Assert.Equal(expected, AuditCef.Format(Plain, Version));
    }

    [Fact]
    public void Cef_golden_nasty()
    {
        var expected =
            """CEF:0|Headroom|Headroom|0.1.0|jobs.cancel\|x\\y|jobs.cancel\|x\\y failure 403|6|"""
            + """rt=1795694401234 suser=alice|ops\\x\=y src=2001:db8::1 act=jobs.cancel|x\\y outcome=failure externalId=aud_0002 """
            + """msg=line1\r\nline2 \= é漢🙂 \\ | cs1Label=orgId cs1=org_acme cs2Label=requestId cs2=req "2" """
            + $"cs3Label=hash cs3={Hash} "
            + """cs4Label=target cs4=job\=1|a b cs5Label=actorType cs5=oidc cn1Label=seq cn1=7 cn2Label=statusCode cn2=403""";

        var line = AuditCef.Format(Nasty, Version);

        Assert.Equal(expected, line);
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\r', line);
    }

    [Fact]
    public void Cef_names_a_non_ip_source_as_a_host_and_escapes_the_version()
    {
        var line = AuditCef.Format(Plain with { SourceAddress = "gateway-1", Target = "" }, "1.0|rc\\1");

        Assert.StartsWith("""CEF:0|Headroom|Headroom|1.0\|rc\\1|""", line, StringComparison.Ordinal);
        Assert.Contains(" shost=gateway-1 ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("src=", line, StringComparison.Ordinal);
        Assert.DoesNotContain("cs4", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a|b", "a\\|b")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("a=b", "a=b")]
    [InlineData("a\r\nb", "a  b")]
    [InlineData("\\|", "\\\\\\|")]
    public void Cef_header_escaping(string value, string escaped)
    {
        Assert.Equal(escaped, AuditCef.Header(value));
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("a|b", "a|b")]
    [InlineData("a=b", "a\\=b")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("a\r\nb", "a\\r\\nb")]
    [InlineData("\\=", "\\\\\\=")]
    [InlineData("漢🙂", "漢🙂")]
    public void Cef_extension_escaping(string value, string escaped)
    {
        Assert.Equal(escaped, AuditCef.Extension(value));
    }
}
