using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Headroom.Cli.Tests;
using Headroom.Gateway.Tests.Infrastructure;
using Headroom.Server.Tests.Infrastructure;
using Headroom.Tests;
using Microsoft.Playwright;

namespace Headroom.Console.Tests;

/// <summary>
/// One real <c>headroom up</c> (a temp SQLite store, one local node with 4 declared GPUs, project <c>research</c>, the tiny chat model <c>tiny</c>) and
/// an OIDC issuer (<c>corp</c>) the console may sign in with, and one headless Chromium, shared by the tests of a class. The browser is Debian's chromium, found at
/// <c>TEST_CHROMIUM</c> (default <c>/usr/bin/chromium</c>); Playwright downloads no browser. (Not a <c>HEADROOM_*</c> name:
/// the server reads those as settings and refuses unknown ones.)
/// </summary>
public sealed class ConsoleServer : IAsyncLifetime
{
    public const string ProjectName = "research";
    public const string ChatModel = "tiny";
    public const string IssuerName = "corp";

    private readonly TempDirectory _dir = new();
    private HeadroomProcess? _process;
    private IPlaywright? _playwright;

    public Uri Address { get; private set; } = default!;
    public string AdminKey { get; private set; } = "";
    public string ProjectId { get; private set; } = "";
    public IBrowser Browser { get; private set; } = default!;
    public LocalOidcIssuer Issuer { get; private set; } = default!;
    public HttpClient Api { get; private set; } = default!;

    public static string ScreenshotDir { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async Task InitializeAsync()
    {
        var fleet = Path.Combine(_dir.Path, "fleet.yaml");
        await File.WriteAllTextAsync(fleet, TestFleets.LocalBox(4));
        var data = Path.Combine(_dir.Path, "data");
        // A tiny GGUF with random weights (it loads and answers in milliseconds) for the playground's streamed chat.
        var gguf = Path.Combine(_dir.Path, "tiny.gguf");
        TinyGguf.Write(gguf);
        Issuer = await LocalOidcIssuer.StartAsync();
        var config = Path.Combine(_dir.Path, "headroom.json");
        await File.WriteAllTextAsync(config, $$"""
            {"oidc":{"issuers":[{"name":"{{IssuerName}}","authority":"{{Issuer.Authority}}","audience":"headroom","require_https_metadata":false,
              "client_id":"{{LocalOidcIssuer.ClientId}}","client_secret":"{{LocalOidcIssuer.ClientSecret}}"} ] } }
            """);
        _process = HeadroomProcess.Start(["up", "--config", config, "--data", data, "--port", "0", "--fleet", fleet, "--model", $"{ChatModel}={gguf}"]);
        Address = await _process.AddressAsync();
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim();
        Api = new HttpClient { BaseAddress = Address };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        ProjectId = (await PostAsync("/v1/projects", $$"""{"name":"{{ProjectName}}","description":"Model training"}"""))["id"]!.GetValue<string>();
        // A price sheet from a second from now (a version never takes effect before it is published), so the jobs the
        // tests run are priced.
        var effective = DateTime.UtcNow.AddSeconds(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        await PostAsync("/v1/prices", $$"""
            {"effective_from":"{{effective}}","currency":"USD",
             "gpu_rates":[{"gpu_model":"h100-80gb","tier":"on-demand","region":"local","per_gpu_hour":"2.50"},
                          {"gpu_model":"h100-80gb","tier":"spot","region":"local","per_gpu_hour":"1.10"},
                          {"gpu_model":"h100-80gb","tier":"reserved","region":"local","per_gpu_hour":"1.80"}],
             "token_rates":[{"model":"llama-3-8b","input_per_million":"0.10","output_per_million":"0.20"}]}
            """);

        var chromium = Environment.GetEnvironmentVariable("TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";
        if (!File.Exists(chromium))
            throw new InvalidOperationException($"No Chromium at {chromium}: install Debian's chromium (apt-get install -y chromium) or set TEST_CHROMIUM.");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true });
        Directory.CreateDirectory(ScreenshotDir);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        _playwright?.Dispose();
        Api?.Dispose();
        if (_process is not null)
            await _process.DisposeAsync();
        if (Issuer is not null)
            await Issuer.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>A fresh browser context (no cookies) on a page of the console.</summary>
    public async Task<IPage> NewPageAsync(ColorScheme scheme = ColorScheme.Light)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Address.ToString().TrimEnd('/'),
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
            ColorScheme = scheme,
        });
        context.SetDefaultTimeout(30_000);
        return await context.NewPageAsync();
    }

    /// <summary>Signs in through the form with <paramref name="key"/> (the operator's by default) and lands on the overview.</summary>
    public async Task<IPage> SignedInPageAsync(ColorScheme scheme = ColorScheme.Light)
    {
        var page = await NewPageAsync(scheme);
        await page.GotoAsync("/");
        await page.GetByLabel("API key").FillAsync(AdminKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        return page;
    }

    public async Task<JsonNode> PostAsync(string path, string body)
    {
        using var response = await Api.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }

    public async Task<JsonNode> GetAsync(string path) => JsonNode.Parse(await Api.GetStringAsync(path))!;

    /// <summary>Saves a full-page screenshot under the test output's screenshots folder, and into docs/console when asked.</summary>
    public static async Task ScreenshotAsync(IPage page, string name, bool forDocs = true)
    {
        var path = Path.Combine(ScreenshotDir, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        // The docs' pictures are refreshed on purpose (UPDATE_CONSOLE_SCREENSHOTS=1), never by an ordinary run.
        if (forDocs && Environment.GetEnvironmentVariable("UPDATE_CONSOLE_SCREENSHOTS") == "1")
        {
            var docs = Path.Combine(RepositoryRoot(), "docs", "console");
            Directory.CreateDirectory(docs);
            File.Copy(path, Path.Combine(docs, name + ".png"), overwrite: true);
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Headroom.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Not inside the repository.");
    }
}
