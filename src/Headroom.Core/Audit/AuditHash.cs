using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Headroom.Core.Audit;

/// <summary>
/// The canonical form that is hashed (format v1, see README.md). Every field is length-prefixed or fixed-width, so no
/// two different records share a byte string; prev_hash is the last field, so hash = SHA-256(fields || prev_hash).
/// </summary>
internal static class AuditHash
{
    private const string RecordTag = "headroom.audit.record.v1";
    private const string GenesisTag = "headroom.audit.genesis.v1";
    private const long UnixEpochMicroseconds = 62_135_596_800_000_000;

    /// <summary>The prev_hash of an org's first record: distinct per org, so one org's chain cannot be passed off as another's.</summary>
    public static string Genesis(string orgId)
    {
        var writer = new CanonicalWriter();
        writer.Text(GenesisTag);
        writer.Text(orgId);
        return writer.Hash() ?? throw new ArgumentException("The org id is not valid UTF-16.", nameof(orgId));
    }

    /// <summary>
    /// The hash the record's content calls for, or null when the record cannot be canonically encoded (a lone
    /// surrogate or an unknown enum value): Seal never produces such a record, so it was edited.
    /// </summary>
    public static string? Compute(AuditRecord record)
    {
        var writer = new CanonicalWriter();
        writer.Text(RecordTag);
        writer.Text(record.Id);
        writer.Text(record.OrgId);
        writer.Int64(record.Seq);
        writer.Int64(Microseconds(record.Time));
        writer.Text(record.Actor);
        writer.Text(AuditCodes.TryCode(record.ActorType));
        writer.Text(record.Action);
        writer.Text(record.Target);
        writer.Text(record.SourceAddress);
        writer.Text(AuditCodes.TryCode(record.Outcome));
        writer.Int32(record.StatusCode);
        writer.Text(record.RequestId);
        writer.OptionalText(record.Detail);
        writer.Text(record.PrevHash);
        return writer.Hash();
    }

    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset time)
    {
        var ticks = time.UtcTicks;
        return new DateTimeOffset(ticks - (ticks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);
    }

    private static long Microseconds(DateTimeOffset time) => (time.UtcTicks / TimeSpan.TicksPerMicrosecond) - UnixEpochMicroseconds;

    private sealed class CanonicalWriter
    {
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

        /// <summary>A 4-byte big-endian UTF-8 length, then the bytes; null marks the record unencodable.</summary>
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
            _buffer.GetSpan(1)[0] = value is null ? (byte)0 : (byte)1;
            _buffer.Advance(1);
            if (value is not null)
            {
                Text(value);
            }
        }

        public string? Hash() => _valid ? Convert.ToHexStringLower(SHA256.HashData(_buffer.WrittenSpan)) : null;
    }
}
