using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Headroom.Server.WebConsole;

/// <summary>
/// The console's static files, read once from the assembly's embedded resources (not from wwwroot, which ASP.NET
/// serves from a non-published build only in Development). Each answer carries a strong ETag so a browser revalidates
/// cheaply; the files change only with the binary.
/// </summary>
internal static class ConsoleAssets
{
    public const string PathPrefix = "/console/assets";
    private const string ResourcePrefix = "console/";

    private static readonly FrozenDictionary<string, Asset> Files = Load();

    private sealed record Asset(byte[] Content, string ContentType, string ETag);

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "text/plain; charset=utf-8",
            };
            files[name[ResourcePrefix.Length..]] = new Asset(content, type, $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"");
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The URL of an asset with its content hash, so a new binary's files are never taken from a stale cache.</summary>
    public static string Url(string file) =>
        Files.TryGetValue(file, out var asset) ? $"{PathPrefix}/{file}?v={asset.ETag.Trim('"')}" : throw new ArgumentException($"No console asset '{file}'.", nameof(file));

    public static IResult Serve(HttpContext http, string file)
    {
        if (!Files.TryGetValue(file, out var asset))
            return Results.NotFound();
        var headers = http.Response.GetTypedHeaders();
        headers.ETag = new EntityTagHeaderValue(asset.ETag);
        headers.CacheControl = new CacheControlHeaderValue { Public = true, MaxAge = TimeSpan.FromDays(1) };
        http.Response.Headers[HeaderNames.XContentTypeOptions] = "nosniff";
        if (http.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Content, asset.ContentType);
    }
}
