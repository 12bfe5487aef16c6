using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Headroom.Cli.Tests;

/// <summary>The few calls the process-level tests make as the operator of a running <c>headroom up</c>.</summary>
internal static class AdminApi
{
    /// <summary>A client for the process's address with the admin key <c>headroom up</c> saved in <paramref name="data"/>.</summary>
    public static async Task<HttpClient> ClientAsync(HeadroomProcess process, string data)
    {
        var client = new HttpClient { BaseAddress = await process.AddressAsync() };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim());
        return client;
    }

    /// <summary>POSTs a JSON body and asserts success.</summary>
    public static async Task<JsonNode> PostAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }

    /// <summary>Polls the job until it is in <paramref name="state"/>; fails naming where it is after <paramref name="seconds"/>.</summary>
    public static async Task<JsonNode> WaitForStateAsync(HttpClient client, string id, string state, int seconds = 40)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var job = JsonNode.Parse(await client.GetStringAsync($"/v1/jobs/{id}"))!;
            if (job["state"]!.GetValue<string>() == state)
                return job;
            Assert.True(DateTime.UtcNow < deadline, $"job {id} is {job["state"]} ({job["state_reason"]}), waiting for {state}");
            await Task.Delay(200);
        }
    }
}
