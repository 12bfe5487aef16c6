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

    /// <summary>Random base32 text of the given length, for secrets and lookup ids.</summary>
    public static string RandomText(int length)
    {
        Span<char> chars = stackalloc char[length];
        for (var i = 0; i < length; i++)
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        return new string(chars);
    }

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
