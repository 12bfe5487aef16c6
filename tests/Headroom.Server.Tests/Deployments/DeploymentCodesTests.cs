using Headroom.Server.Deployments;

namespace Headroom.Server.Tests.Deployments;

public sealed class DeploymentCodesTests
{
    [Fact]
    public void Stored_deployment_codes_are_frozen()
    {
        Assert.Equal(["active", "deleting", "deleted"], [DeploymentCodes.Active, DeploymentCodes.Deleting, DeploymentCodes.Deleted]);
        Assert.Equal(["serverless", "dedicated"], [DeploymentCodes.Serverless, DeploymentCodes.Dedicated]);
        Assert.Equal(["openai-upstream", "in-process"], [DeploymentCodes.OpenAiUpstream, DeploymentCodes.InProcess]);
    }

    [Fact]
    public void A_command_template_is_rendered_for_each_replica()
    {
        var spec = new DeploymentSpec("meta-llama/Llama-3.1-8B-Instruct", "llama", ["vllm", "serve", "{model}", "--port={port}", "--served-model-name", "{upstream_model}", "-tp", "{gpus}", "#{name}"],
            null, new Dictionary<string, string>(), 2, 1000, null, null, "on-demand", 8);

        Assert.Equal(["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--port=20001", "--served-model-name", "llama", "-tp", "2", "#llama-8b"],
            spec.Render("llama-8b", 20001));
    }
}
