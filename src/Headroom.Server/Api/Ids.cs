using System.Security.Cryptography;

namespace Headroom.Server.Api;

/// <summary>
/// Object ids: a prefix naming the kind (<c>org_</c>, <c>prj_</c>, <c>key_</c>, ...) and 26 Crockford
/// base32 characters, 48 bits of milliseconds then 80 random bits, so ids sort by creation time and
/// serve as pagination cursors.
/// </summary>
public sealed class Ids(TimeProvider time)
{
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    public string New(string prefix)
    {
        Span<byte> bytes = stackalloc byte[16];
        var ms = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < 6; i++)
            bytes[i] = (byte)(ms >> (8 * (5 - i)));
        RandomNumberGenerator.Fill(bytes[6..]);
        return prefix + "_" + Encode(bytes);
    }

    /// <summary>Random base32 text of the given length, for secrets, lookup ids and request ids.</summary>
    /// <remarks>
    /// One draw from the generator for the whole text (5 bits of each byte: 256 is a multiple of 32, so no character is
    /// likelier than another): each draw is a call into OpenSSL, and one per character was a tenth of a model call's CPU.
    /// </remarks>
    public static string RandomText(int length) => string.Create(length, 0, static (chars, _) =>
    {
        Span<byte> bytes = chars.Length <= 256 ? stackalloc byte[chars.Length] : new byte[chars.Length];
        RandomNumberGenerator.Fill(bytes);
        for (var i = 0; i < chars.Length; i++)
            chars[i] = Alphabet[bytes[i] & 31];
    });

    private static string Encode(ReadOnlySpan<byte> bytes)
    {
        // 128 bits as 26 characters of 5 bits, most significant first (the top 2 bits are zero).
        var hi = (UInt128)0;
        foreach (var b in bytes)
            hi = (hi << 8) | b;
        Span<char> chars = stackalloc char[26];
        for (var i = 25; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(hi & 31)];
            hi >>= 5;
        }
        return new string(chars);
    }
}
