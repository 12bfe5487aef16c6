using Headroom.Core.Scheduling.Tiered;
using Headroom.Runtimes.Slurm;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>Builders for test specs: a plain valid one, changed with `with` per case.</summary>
internal static class Specs
{
    public static SlurmJobSpec Spot(string jobId = "job_01") => new()
    {
        JobId = jobId,
        Org = "org_acme",
        Project = "prj_vision",
        Tier = Tier.Spot,
        Command = "python3",
        Args = ["train.py", "--epochs", "3"],
        GpuModel = "h100",
        GpusPerNode = 1,
        NodeCount = 1,
        MaxDuration = TimeSpan.FromHours(2.5),
        NoticeGrace = TimeSpan.FromSeconds(120),
        CheckpointDirectory = $"/var/lib/headroom/checkpoints/{jobId}",
        LogPath = $"/var/log/headroom/jobs/{jobId}.log",
    };
}
