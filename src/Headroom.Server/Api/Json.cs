using System.Text.Json;
using System.Text.Json.Serialization;

namespace Headroom.Server.Api;

/// <summary>
/// The API's JSON conventions: snake_case names, RFC 3339 UTC times, unknown request fields refused
/// (a caller cannot slip in fields it may not set), nulls kept so the shape is stable.
/// </summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.Converters.Add(new UtcDateTimeOffsetConverter());
        options.MaxDepth = 32;
        return options;
    }

    /// <summary>Writes times as RFC 3339 in UTC with a Z, whatever offset they carry.</summary>
    private sealed class UtcDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTimeOffset().ToUniversalTime();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture));
    }
}
