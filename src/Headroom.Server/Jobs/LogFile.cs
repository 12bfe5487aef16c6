namespace Headroom.Server.Jobs;

/// <summary>Reads a workload's log file from an offset, as runtimes whose logs are files answer <see cref="IWorkloadRuntime.ReadLogsAsync"/>.</summary>
internal static class LogFile
{
    private const int MaxChunk = 4 << 20;

    /// <summary>Up to <paramref name="maxBytes"/> (at most 4 MiB) from <paramref name="offset"/>; empty when the file is missing or has nothing new.</summary>
    public static async Task<LogChunk> ReadAsync(string path, long offset, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        if (!File.Exists(path))
            return new LogChunk([], offset);
        // The writer (the workload, slurmd) keeps appending; share every access so neither blocks the other.
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(file);
        if (offset >= length)
            return new LogChunk([], offset);
        var buffer = new byte[(int)Math.Min(Math.Min(maxBytes, MaxChunk), length - offset)];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await RandomAccess.ReadAsync(file, buffer.AsMemory(read), offset + read, cancellationToken);
            if (n == 0)
                break;
            read += n;
        }
        return new LogChunk(read == buffer.Length ? buffer : buffer[..read], offset + read);
    }
}
