using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Headroom.Store;

internal sealed class UnixMicrosecondsConverter() : ValueConverter<DateTimeOffset, long>(
    v => (v.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond,
    v => new DateTimeOffset(DateTimeOffset.UnixEpoch.Ticks + (v * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero));
