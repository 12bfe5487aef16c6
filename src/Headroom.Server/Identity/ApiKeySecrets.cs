using System.Security.Cryptography;
using System.Text;
using Headroom.Server.Api;

namespace Headroom.Server.Identity;

/// <summary>
/// API key format: <c>hr_</c> + a 12-character lookup id + <c>_</c> + a 40-character secret
/// (200 random bits). The lookup id finds the row; the SHA-256 of the whole key is compared in
/// constant time. The key itself is shown once and never stored.
/// </summary>
public static class ApiKeySecrets
{
    public const string Prefix = "hr_";
    private const int LookupLength = 12;
    private const int SecretLength = 40;

    public static (string Key, string LookupId, byte[] Hash) Create()
    {
        var lookup = Ids.RandomText(LookupLength);
        var key = $"{Prefix}{lookup}_{Ids.RandomText(SecretLength)}";
        return (key, lookup, Hash(key));
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>Extracts the lookup id, or null when the text cannot be a Headroom key.</summary>
    public static string? LookupIdOf(string key)
    {
        if (key.Length != Prefix.Length + LookupLength + 1 + SecretLength || !key.StartsWith(Prefix, StringComparison.Ordinal) ||
            key[Prefix.Length + LookupLength] != '_')
        {
            return null;
        }
        return key.Substring(Prefix.Length, LookupLength);
    }

    public static bool Matches(string key, byte[] storedHash) => CryptographicOperations.FixedTimeEquals(Hash(key), storedHash);
}
