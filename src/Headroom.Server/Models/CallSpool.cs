using System.Globalization;

namespace Headroom.Server.Models;

/// <summary>
/// An append-only file of model calls' records, next to an SQLite store: one segment file open for appends at a time
/// (<c>calls-{n}.jsonl</c>), closed by <see cref="Roll"/> so that it can be read whole, moved into the store and deleted.
/// A write returns once the bytes are in the operating system's hands, so a record outlives the process (a kill -9)
/// as soon as <see cref="Append"/> returns; a power cut can take what was not yet moved into the store, as it can take
/// an SQLite commit made with <c>synchronous=NORMAL</c>. Thread-safe.
/// </summary>
internal sealed class CallSpool : IDisposable
{
    private const string Prefix = "calls-";
    private const string Suffix = ".jsonl";

    private readonly string _directory;
    private readonly Lock _gate = new();
    private FileStream? _current;
    private long _next;

    public CallSpool(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        // Numbers go on from the highest segment a previous run left behind, so segments sort in the order written.
        _next = Segments(long.MaxValue).Select(s => s.Number + 1).DefaultIfEmpty(1).Max();
    }

    /// <summary>Writes <paramref name="records"/> (whole lines) to the open segment, opening one if none is.</summary>
    public void Append(ReadOnlySpan<byte> records)
    {
        lock (_gate)
        {
            if (_current is null)
            {
                var path = Path.Combine(_directory, Prefix + _next.ToString("D16", CultureInfo.InvariantCulture) + Suffix);
                // Unbuffered: each write is one write(2), done when it returns.
                _current = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
                _next++;
            }
            _current.Write(records);
        }
    }

    /// <summary>
    /// Closes the open segment; every segment numbered below the returned number is closed and will not be written
    /// again (a later <see cref="Append"/> opens a new one).
    /// </summary>
    public long Roll()
    {
        lock (_gate)
        {
            _current?.Dispose();
            _current = null;
            return _next;
        }
    }

    /// <summary>The segments numbered below <paramref name="below"/>, oldest first.</summary>
    public IReadOnlyList<(long Number, string Path)> Segments(long below) =>
        [.. Directory.EnumerateFiles(_directory, Prefix + "*" + Suffix)
            .Select(path => (Ok: long.TryParse(Path.GetFileName(path)[Prefix.Length..^Suffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var n), Number: n, Path: path))
            .Where(s => s.Ok && s.Number < below)
            .OrderBy(s => s.Number)
            .Select(s => (s.Number, s.Path))];

    public void Dispose() => Roll();
}
