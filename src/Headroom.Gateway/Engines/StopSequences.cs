namespace Headroom.Gateway.Engines;

/// <summary>
/// Finds stop sequences in streamed text without showing the caller any part of one: text that could still be the
/// start of a stop sequence is held back until the next piece decides it.
/// </summary>
internal sealed class StopSequences(IReadOnlyList<string> stops)
{
    private string _pending = "";

    /// <summary>Adds a piece; returns the text now safe to emit and whether a stop sequence ended the output.</summary>
    public (string Emit, bool Stopped) Push(string piece)
    {
        if (stops.Count == 0)
            return (piece, false);
        _pending += piece;
        var cut = -1;
        foreach (var stop in stops)
        {
            var at = _pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
                cut = at;
        }
        if (cut >= 0)
        {
            var emit = _pending[..cut];
            _pending = "";
            return (emit, true);
        }
        var hold = 0;
        foreach (var stop in stops)
        {
            for (var length = Math.Min(stop.Length - 1, _pending.Length); length > hold; length--)
            {
                if (_pending.AsSpan(_pending.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    hold = length;
                    break;
                }
            }
        }
        var safe = _pending[..^hold];
        _pending = _pending[^hold..];
        return (safe, false);
    }

    /// <summary>The held-back text, at the end of output that no stop sequence ended.</summary>
    public string Flush()
    {
        var rest = _pending;
        _pending = "";
        return rest;
    }
}
