using Headroom.Core.Workloads;
using Headroom.Runtimes.Slurm;
using static Headroom.Runtimes.Tests.Slurm.SlurmCluster;

namespace Headroom.Runtimes.Tests.Slurm;

/// <summary>slurmrestd v0.0.38 with JWT on the dev cluster: it sees what the CLI sees, and cancels.</summary>
public sealed class SlurmRestClientTests : IDisposable
{
    private readonly string _directory = NewWorkDirectory();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(20) };

    private SlurmRestClient Rest(SlurmClient cli) => new(_http, new SlurmRestOptions
    {
        BaseUrl = RestUrl,
        UserName = "root",
        Token = async ct => (await cli.CreateTokenAsync("root", TimeSpan.FromMinutes(10), ct)).Token ?? throw new InvalidOperationException("no token"),
    });

    [Fact]
    public async Task A_job_observed_over_REST_matches_the_CLI_and_REST_cancels_it()
    {
        var cli = Client();
        var rest = Rest(cli);
        Assert.Null(await rest.PingAsync());
        var spec = Spec(_directory, NewJobId("job_rest"), "on-demand", "gpu-node3", "sleep 120") with { GpusPerNode = 2 };
        var id = await SubmitAsync(cli, spec);
        var viaCli = await WaitForStateAsync(cli, id, JobState.Running);

        var viaRest = Assert.IsType<ObserveResult.Found>(await rest.ObserveAsync(id)).Job;
        Assert.Equal(viaCli.Status, viaRest.Status);
        Assert.Equal(viaCli.Nodes, viaRest.Nodes);
        Assert.Equal(spec.JobId, viaRest.HeadroomJobId);
        Assert.Equal(1, viaRest.Attempt);
        Assert.Equal("on-demand", viaRest.Partition);
        Assert.Equal(spec.LogPath, viaRest.LogPath);
        Assert.Equal(viaCli.StartTime, viaRest.StartTime);

        Assert.IsType<SignalResult.Sent>(await rest.CancelAsync(id));
        var cancelled = await WaitAsync(cli, id, j => j.Status?.IsTerminal == true, TimeSpan.FromSeconds(30));
        Assert.Equal(JobState.Cancelled, cancelled.Status!.State);
        Assert.Equal(JobState.Cancelled, Assert.IsType<ObserveResult.Found>(await rest.ObserveAsync(id)).Job.Status!.State);
    }

    [Fact]
    public async Task An_unknown_job_is_not_found_but_a_bad_or_missing_token_never_makes_a_job_look_gone()
    {
        var rest = Rest(Client());
        Assert.IsType<ObserveResult.NotFound>(await rest.ObserveAsync(987_654_321));
        Assert.IsType<SignalResult.NotFound>(await rest.CancelAsync(987_654_321));

        var cli = Client();
        var id = await SubmitAsync(cli, Spec(_directory, NewJobId("job_token"), "on-demand", "gpu-node3", "sleep 30"));
        await WaitForStateAsync(cli, id, JobState.Running);

        // slurmctld rejects a forged token, and slurmrestd reports that as an unspecified error.
        var forged = new SlurmRestClient(_http, new SlurmRestOptions { BaseUrl = RestUrl, UserName = "root", Token = _ => ValueTask.FromResult("not-a-jwt") });
        var rejected = Assert.IsType<ObserveResult.Unavailable>(await forged.ObserveAsync(id));
        Assert.Contains("rejected token", rejected.Message, StringComparison.Ordinal);
        Assert.IsType<SignalResult.Unavailable>(await forged.CancelAsync(id));

        var anonymous = new SlurmRestClient(_http, new SlurmRestOptions { BaseUrl = RestUrl, UserName = "nobody", Token = _ => ValueTask.FromResult("") });
        Assert.IsType<ObserveResult.Unavailable>(await anonymous.ObserveAsync(id));

        Assert.Equal(JobState.Running, (await ObserveAsync(cli, id)).Status!.State);
        Assert.IsType<SignalResult.Sent>(await cli.CancelAsync(id));
    }

    public void Dispose()
    {
        _http.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
