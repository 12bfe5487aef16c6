using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Headroom.Core.Metering;

/// <summary>
/// The canonical form of a ledger entry that is hashed (format v1, see Pricing/README.md). Every field is
/// length-prefixed, fixed-width or preceded by a presence byte, so no two different entries share a byte string;
/// prev_hash is the last field, so hash = SHA-256(fields || prev_hash). Field order is frozen.
/// </summary>
internal static class LedgerHash
{
    private const string EntryTag = "headroom.usage.entry.v1";
    private const string GenesisTag = "headroom.usage.genesis.v1";
    private const long UnixEpochMicroseconds = 62_135_596_800_000_000;

    /// <summary>The prev_hash of an org's first entry: distinct per org, so one org's chain cannot be passed off as another's.</summary>
    public static string Genesis(string orgId)
    {
        var writer = new CanonicalWriter();
        writer.Text(GenesisTag);
        writer.Text(orgId);
        return writer.Hash() ?? throw new ArgumentException("The org id is not valid UTF-16.", nameof(orgId));
    }

    /// <summary>
    /// The hash the entry's content calls for, or null when it cannot be canonically encoded (a missing field, a lone
    /// surrogate or an unknown enum value): Seal never produces such an entry, so it was edited.
    /// </summary>
    public static string? Compute(LedgerEntry entry)
    {
        var e = entry.Event;
        if (e?.Dimensions is null)
        {
            return null;
        }
        var d = e.Dimensions;
        var writer = new CanonicalWriter();
        writer.Text(EntryTag);
        writer.Int64(entry.Seq);
        writer.Text(e.Id);
        writer.Text(e.OrgId);
        writer.Text(e.ProjectId);
        writer.Text(MeteringCodes.TryCode(e.Meter));
        writer.Int64(e.Quantity);
        writer.OptionalText(d.Tier is { } tier ? MeteringCodes.TierCode(tier) ?? "\uD800" : null);
        writer.OptionalText(d.GpuModel);
        writer.OptionalText(d.Region);
        writer.OptionalText(d.Model);
        writer.OptionalText(d.ApiKeyId);
        writer.Flag(d.Batch);
        writer.Int64(Microseconds(e.Start));
        writer.Int64(Microseconds(e.End));
        writer.Flag(e.NotChargedFrom is not null);
        if (e.NotChargedFrom is { } notice)
        {
            writer.Int64(Microseconds(notice));
        }
        writer.Int64(Microseconds(entry.RecordedAt));
        writer.Text(entry.PrevHash);
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

        public void Flag(bool value)
        {
            _buffer.GetSpan(1)[0] = value ? (byte)1 : (byte)0;
            _buffer.Advance(1);
        }

        /// <summary>A 4-byte big-endian UTF-8 length, then the bytes; null marks the entry unencodable.</summary>
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

        public string? Hash() => _valid ? Convert.ToHexStringLower(SHA256.HashData(_buffer.WrittenSpan)) : null;
    }
}
