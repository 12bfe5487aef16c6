using System.Text.Json;
using System.Text.Json.Serialization;

namespace Headroom.Server.Jobs.Local;

/// <summary>
/// What the control plane persists for one local attempt, as compact JSON, e.g.
/// <c>{"dir":"/var/lib/headroom/jobs/job_1/attempt-1","wpid":4711,"wst":912345,"pid":4712,"pst":912346}</c>.
/// </summary>
/// <param name="Dir">The attempt's directory: log, exit status, markers (see docs/runtimes.md).</param>
/// <param name="WrapperPid">The wrapper shell that waits for the workload and records its exit status.</param>
/// <param name="WrapperStart">The wrapper's start time (field 22 of /proc/&lt;pid&gt;/stat); a pid alone may be reused.</param>
/// <param name="Pid">The workload's first process; it leads its own session and process group, so it is also the group id signals go to.</param>
/// <param name="PidStart">The workload's start time, as for the wrapper.</param>
/// <remarks>A pid of 0 means not known when the handle was made; the runtime then reads the wrapper's records in <see cref="Dir"/>.</remarks>
internal sealed record LocalHandle(
    [property: JsonPropertyName("dir")] string Dir,
    [property: JsonPropertyName("wpid")] int WrapperPid,
    [property: JsonPropertyName("wst")] long WrapperStart,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("pst")] long PidStart)
{
    public string Serialize() => JsonSerializer.Serialize(this);

    /// <summary>Reads a handle this runtime made; throws <see cref="ArgumentException"/> for anything else (a caller bug, not an outcome).</summary>
    public static LocalHandle Parse(string handle) => RuntimeHandles.Parse<LocalHandle>(handle, "local", h =>
        RuntimeHandles.IsAbsolute(h.Dir));
}
