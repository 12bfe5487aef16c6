using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Headroom.Core.Chains;

/// <summary>
/// The canonical form that chain hashes are computed over: fixed-width big-endian integers, length-prefixed UTF-8
/// text, a presence byte before optional text. Unambiguous, so two different contents never serialize alike.
/// </summary>
internal sealed class CanonicalWriter
{
    private const long UnixEpochMicroseconds = 62_135_596_800_000_000;

    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private bool _valid = true;

    public void Int64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void Int32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    public void Flag(bool value)
    {
        _buffer.GetSpan(1)[0] = value ? (byte)1 : (byte)0;
        _buffer.Advance(1);
    }

    /// <summary>A 4-byte big-endian UTF-8 length, then the bytes; null marks the content unencodable.</summary>
    public void Text(string? value)
    {
        if (value is null)
        {
            _valid = false;
            return;
        }
        var span = _buffer.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        if (Utf8.FromUtf16(value, span[4..], out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            _valid = false;
            return;
        }
        BinaryPrimitives.WriteInt32BigEndian(span, written);
        _buffer.Advance(4 + written);
    }

    /// <summary>One presence byte, so that "absent" and "empty" hash differently.</summary>
    public void OptionalText(string? value)
    {
        Flag(value is not null);
        if (value is not null)
        {
            Text(value);
        }
    }

    /// <summary>A time as microseconds since the Unix epoch, the precision SQLite and PostgreSQL keep.</summary>
    public void Time(DateTimeOffset time) => Int64((time.UtcTicks / TimeSpan.TicksPerMicrosecond) - UnixEpochMicroseconds);

    public string? Hash() => _valid ? Convert.ToHexStringLower(SHA256.HashData(_buffer.WrittenSpan)) : null;

    /// <summary>The prev_hash of an org's first link: distinct per chain kind and org, so one chain cannot pass for another.</summary>
    public static string Genesis(string tag, string orgId)
    {
        var writer = new CanonicalWriter();
        writer.Text(tag);
        writer.Text(orgId);
        return writer.Hash() ?? throw new ArgumentException("The org id is not valid UTF-16.", nameof(orgId));
    }

    /// <summary>UTC, truncated to microseconds, so a value read back from the store hashes as it was sealed.</summary>
    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset time)
    {
        var ticks = time.UtcTicks;
        return new DateTimeOffset(ticks - (ticks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);
    }
}
