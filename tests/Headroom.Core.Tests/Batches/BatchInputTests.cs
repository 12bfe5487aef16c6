using System.Text;
using System.Text.Json;
using CsCheck;
using Headroom.Core.Batches;

namespace Headroom.Core.Tests.Batches;

/// <summary>The batch input parser: valid files give their requests in order; anything else gives errors naming lines, never an exception.</summary>
public sealed class BatchInputTests
{
    private const string Embeddings = "/v1/embeddings";

    private static string Line(string customId, string url = Embeddings, string method = "POST", string body = """{"model":"m","input":"x"}""") =>
        JsonSerializer.Serialize(new { custom_id = customId, method, url, body = JsonDocument.Parse(body).RootElement });

    private static BatchInputParse Parse(string text, string endpoint = Embeddings) => BatchInput.Parse(Encoding.UTF8.GetBytes(text), endpoint);

    [Fact]
    public void A_valid_file_gives_every_request_in_order_with_its_line()
    {
        var result = Parse(Line("a") + "\r\n\n" + Line("b", body: """{"model":"m","input":["y","z"]}""") + "\n");

        Assert.True(result.Valid);
        Assert.Equal([("a", 1), ("b", 3)], result.Requests.Select(r => (r.CustomId, r.Line)));
        Assert.Equal("""{"model":"m","input":["y","z"]}""", result.Requests[1].Body);
        Assert.Equal("m", result.Requests[0].Model);
    }

    public static TheoryData<string, int?, string, string?> Malformed => new()
    {
        { "{not json", 1, "invalid_json_line", null },
        { "[1,2]", 1, "invalid_request", null },
        { """{"method":"POST","url":"/v1/embeddings","body":{"model":"m"}}""", 1, "invalid_custom_id", "custom_id" },
        { """{"custom_id":7,"method":"POST","url":"/v1/embeddings","body":{"model":"m"}}""", 1, "invalid_custom_id", "custom_id" },
        { """{"custom_id":"a","method":"GET","url":"/v1/embeddings","body":{"model":"m"}}""", 1, "invalid_method", "method" },
        { """{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}""", 1, "invalid_url", "url" },
        { """{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":"text"}""", 1, "invalid_body", "body" },
        { """{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"input":"x"}}""", 1, "missing_model", "body.model" },
        { "", null, "empty_file", null },
        { "\n  \n\r\n", null, "empty_file", null },
        { "\"\\ud800\"", 1, "invalid_request", null },
        { new string('[', 10_000), 1, "invalid_json_line", null },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_file_is_refused_naming_the_line_code_and_field(string text, int? line, string code, string? param)
    {
        var result = Parse(text);

        Assert.False(result.Valid);
        Assert.Empty(result.Requests);
        var error = Assert.Single(result.Errors);
        Assert.Equal((line, code, param), (error.Line, error.Code, error.Param));
    }

    [Fact]
    public void A_repeated_custom_id_names_the_later_line()
    {
        var error = Assert.Single(Parse($"{Line("a")}\n{Line("b")}\n{Line("a")}").Errors);

        Assert.Equal((3, "duplicate_custom_id"), (error.Line, error.Code));
    }

    [Fact]
    public void Errors_stop_at_the_cap_however_many_lines_are_wrong()
    {
        var result = Parse(string.Concat(Enumerable.Repeat("x\n", 10_000)));

        Assert.Equal(BatchInput.MaxErrors, result.Errors.Count);
        Assert.Equal(Enumerable.Range(1, BatchInput.MaxErrors), result.Errors.Select(e => e.Line!.Value));
    }

    [Fact]
    public void Invalid_utf8_is_an_error_of_its_line()
    {
        var bytes = Encoding.UTF8.GetBytes(Line("a") + "\n").Concat(new byte[] { 0x7b, 0xff, 0xfe, 0x7d, 0x0a }).ToArray();

        var error = Assert.Single(BatchInput.Parse(bytes, Embeddings).Errors);
        Assert.Equal((2, "invalid_json_line"), (error.Line, error.Code));
    }

    /// <summary>Any bytes at all: no exception, and every error names a line of the input (or the whole file when it has no request).</summary>
    [Fact]
    public void Any_bytes_parse_without_throwing_and_every_error_names_a_real_line()
    {
        Gen.Byte.Array[0, 400].Sample(bytes =>
        {
            var lines = bytes.Count(b => b == (byte)'\n') + 1;
            var result = BatchInput.Parse(bytes, Embeddings);
            Assert.True(result.Valid ? result.Requests.Count > 0 : result.Requests.Count == 0);
            Assert.All(result.Errors, e => Assert.True(e.Line is null ? result.Errors.Count == 1 && e.Code == "empty_file" : e.Line >= 1 && e.Line <= lines));
            Assert.True(result.Errors.Count <= BatchInput.MaxErrors);
        }, iter: 5_000);
    }

    /// <summary>Valid lines mixed with mutated ones: the good lines parse as themselves, each bad line is an error of its own number.</summary>
    [Fact]
    public void Mixed_files_report_exactly_the_bad_lines()
    {
        var good = Gen.String[Gen.Char.AlphaNumeric, 1, 20].Select(id => (Ok: true, Text: Line(id)));
        var bad = Gen.OneOf(
            Gen.String[Gen.Char, 1, 40].Where(s => !s.Contains('\n') && !string.IsNullOrWhiteSpace(s)).Select(s => s.StartsWith('{') ? "]" + s : s),
            Gen.Const(Line("x", url: "/v1/completions")),
            Gen.Const(Line("y", method: "PUT")),
            Gen.Const("""{"custom_id":"z","method":"POST","url":"/v1/embeddings","body":null}""")).Select(t => (Ok: false, Text: t));
        Gen.OneOf(good, bad).Array[1, 30].Sample(lines =>
        {
            // Ids made unique by their position, so only the chosen bad lines are wrong.
            var texts = lines.Select((l, i) => l.Ok ? Line($"{i}-{JsonDocument.Parse(l.Text).RootElement.GetProperty("custom_id").GetString()}") : l.Text).ToList();
            var result = Parse(string.Join('\n', texts));
            var badLines = lines.Select((l, i) => (l.Ok, Line: i + 1)).Where(l => !l.Ok).Select(l => l.Line).ToList();
            if (badLines.Count == 0)
                Assert.Equal(Enumerable.Range(1, lines.Length), result.Requests.Select(r => r.Line));
            else
                Assert.Equal(badLines, result.Errors.Select(e => e.Line!.Value));
        }, iter: 2_000);
    }
}
