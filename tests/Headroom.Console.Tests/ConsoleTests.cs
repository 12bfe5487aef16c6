using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Headroom.Console.Tests;

/// <summary>The console in a real browser against a real <c>headroom up</c>: every flow a user goes through, end to end.</summary>
public sealed class ConsoleTests(ConsoleServer server) : IClassFixture<ConsoleServer>
{
    [Fact]
    public async Task A_wrong_key_is_refused_with_the_APIs_message_and_request_id()
    {
        var page = await server.NewPageAsync();
        await page.GotoAsync("/jobs");
        Assert.Contains("/signin?return_to=%2Fjobs", page.Url, StringComparison.Ordinal);
        // The operator key's id with a wrong secret: a guessed key.
        var wrong = server.AdminKey[..^1] + (server.AdminKey[^1] == 'a' ? 'b' : 'a');
        await page.GetByLabel("API key").FillAsync(wrong);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        var alert = page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("That key was not accepted.");
        await Expect(alert).ToContainTextAsync("Invalid API key.");
        await Expect(alert).ToContainTextAsync(new Regex("HTTP 401 .*request id req_"));
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToHaveCountAsync(0);
        await ConsoleServer.ScreenshotAsync(page, "signin-refused");
    }

    [Fact]
    public async Task A_job_submitted_from_the_form_runs_to_succeeded_and_its_output_is_followed()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Jobs", Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Submit a job" }).First.ClickAsync();
        await page.GetByLabel("Project").SelectOptionAsync(new SelectOptionValue { Label = ConsoleServer.ProjectName });
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("hello-console");
        await page.GetByLabel("Command, one argument per line").FillAsync("/bin/sh\n-c\necho hello from the console; sleep 2; echo done at $HEADROOM_JOB_ID");
        await page.GetByLabel("Environment, one NAME=value per line").FillAsync("GREETING=hi");
        await ConsoleServer.ScreenshotAsync(page, "job-submit");
        await page.GetByRole(AriaRole.Button, new() { Name = "Submit job" }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/jobs/job_[0-9a-z]{26}$"));
        var id = page.Url[(page.Url.LastIndexOf('/') + 1)..];
        // The log view follows the output while the job runs and marks itself complete when the job ends.
        var log = page.GetByTestId("job-log");
        await Expect(log).ToHaveAttributeAsync("data-complete", "true", new() { Timeout = 60_000 });
        await Expect(log).ToContainTextAsync("hello from the console");

        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("succeeded");
        var history = page.Locator("section[aria-labelledby=history] tbody tr");
        await Expect(history.Last).ToContainTextAsync("succeeded");
        await Expect(history.Filter(new() { HasText = "running (attempt 1)" })).ToHaveCountAsync(1);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" })).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("job-log")).ToContainTextAsync("hello from the console");
        await ConsoleServer.ScreenshotAsync(page, "job-detail");

        var job = await server.GetAsync($"/v1/jobs/{id}");
        Assert.Equal("succeeded", job["state"]!.GetValue<string>());
        Assert.Equal("hello-console", job["name"]!.GetValue<string>());
        Assert.Equal("hi", job["spec"]!["env"]!["GREETING"]!.GetValue<string>());

        await page.GotoAsync("/jobs?state=succeeded");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "hello-console" })).ToBeVisibleAsync();
        await ConsoleServer.ScreenshotAsync(page, "jobs");
    }

    [Fact]
    public async Task A_spec_no_node_can_run_is_refused_with_the_field_named_and_the_form_kept()
    {
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/jobs/new");
        await page.GetByLabel("Command, one argument per line").FillAsync("/bin/true");
        await page.GetByLabel("GPUs per node").FillAsync("8");
        await page.GetByRole(AriaRole.Button, new() { Name = "Submit job" }).ClickAsync();

        var alert = page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("The job was not submitted.");
        await Expect(alert).ToContainTextAsync("field gpus_per_node");
        await Expect(alert).ToContainTextAsync(new Regex("request id req_"));
        await Expect(page.GetByLabel("Command, one argument per line")).ToHaveValueAsync("/bin/true");
        await Expect(page.GetByLabel("GPUs per node")).ToHaveValueAsync("8");
        await ConsoleServer.ScreenshotAsync(page, "job-submit-refused");
    }

    [Fact]
    public async Task A_queued_job_shows_its_queue_position_and_why_it_waits()
    {
        var blocker = (await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"all-gpus","gpus_per_node":4,"command":["/bin/sleep","120"]}"""))["id"]!.GetValue<string>();
        var waiting = (await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"waits","gpus_per_node":2,"command":["/bin/true"]}"""))["id"]!.GetValue<string>();
        try
        {
            var page = await server.SignedInPageAsync();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            // The scheduler records why a job waits at its next cycle.
            while (true)
            {
                await page.GotoAsync($"/jobs/{waiting}");
                if (await page.Locator("section[aria-labelledby=pending] li").CountAsync() > 0)
                    break;
                Assert.True(DateTime.UtcNow < deadline, "no pending reason appeared");
                await Task.Delay(500);
            }
            await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("queued");
            await Expect(page.GetByTestId("queue-position")).ToHaveTextAsync(new Regex("^[0-9]+$"));
            var reason = (await server.GetAsync($"/v1/jobs/{waiting}"))["pending_reasons"]![0]!["message"]!.GetValue<string>();
            await Expect(page.Locator("section[aria-labelledby=pending]")).ToContainTextAsync(reason);
            await ConsoleServer.ScreenshotAsync(page, "job-queued");
        }
        finally
        {
            await server.PostAsync($"/v1/jobs/{waiting}/cancel", "{}");
            await server.PostAsync($"/v1/jobs/{blocker}/cancel", "{}");
        }
    }

    [Fact]
    public async Task A_running_job_is_cancelled_from_its_page()
    {
        var job = await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"long","command":["/bin/sleep","120"]}""");
        var id = job["id"]!.GetValue<string>();
        var page = await server.SignedInPageAsync();
        await page.GotoAsync($"/jobs/{id}");
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "cancelled" })).ToBeVisibleAsync();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await server.GetAsync($"/v1/jobs/{id}"))["state"]!.GetValue<string>() != "cancelled")
        {
            Assert.True(DateTime.UtcNow < deadline, "the job was not cancelled");
            await Task.Delay(250);
        }
        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("cancelled");
    }

    [Fact]
    public async Task A_projects_retention_and_region_pinning_are_changed_from_its_settings_page_by_keyboard()
    {
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/projects");
        await page.GetByRole(AriaRole.Link, new() { Name = ConsoleServer.ProjectName }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync(ConsoleServer.ProjectName);
        await Expect(page.Locator("#training")).ToContainTextAsync("never");

        // By keyboard only: focus the select, pick 30 days, tab to the region and tick it with the space bar, submit with Enter.
        var retention = page.GetByLabel("Request log retention");
        await retention.FocusAsync();
        await retention.SelectOptionAsync("30d");
        var region = page.GetByLabel("local", new() { Exact = true });
        await region.FocusAsync();
        await page.Keyboard.PressAsync("Space");
        await Expect(region).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save data governance" }).FocusAsync();
        await page.Keyboard.PressAsync("Enter");

        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "data governance was saved" })).ToBeVisibleAsync();
        await Expect(page.GetByLabel("Request log retention")).ToHaveValueAsync("30d");
        await Expect(page.GetByLabel("local", new() { Exact = true })).ToBeCheckedAsync();
        var project = await server.GetAsync($"/v1/projects/{server.ProjectId}");
        Assert.Equal("30d", project["retention"]!.GetValue<string>());
        Assert.Equal(["local"], project["regions"]!.AsArray().Select(r => r!.GetValue<string>()));

        // A monthly budget for the project alone, from the same page.
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("research-monthly");
        await page.GetByLabel("Limit per month").FillAsync("250");
        await page.GetByLabel("Hard limit: refuse model calls and jobs past it").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add budget" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "budget was added" })).ToBeVisibleAsync();
        await Expect(page.Locator("tr", new() { HasText = "research-monthly" })).ToContainTextAsync("yes");
        await ConsoleServer.ScreenshotAsync(page, "project-settings");

        // Back to none and any region; the API's answer is the page's.
        await page.GetByLabel("Request log retention").SelectOptionAsync("none");
        await page.GetByLabel("local", new() { Exact = true }).UncheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save data governance" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "data governance was saved" })).ToBeVisibleAsync();
        project = await server.GetAsync($"/v1/projects/{server.ProjectId}");
        Assert.Equal(("none", 0), (project["retention"]!.GetValue<string>(), project["regions"]!.AsArray().Count));
        await page.GotoAsync("/projects");
        await Expect(page.Locator("tr", new() { HasText = ConsoleServer.ProjectName })).ToContainTextAsync("any");
    }

    [Fact]
    public async Task A_key_created_in_the_console_shows_its_secret_once_works_and_is_revoked()
    {
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/keys");
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("console-made");
        await page.GetByLabel("viewer").CheckAsync();
        await page.GetByLabel("member").UncheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();

        var secret = (await page.GetByTestId("new-key-secret").InnerTextAsync()).Trim();
        Assert.StartsWith("hr_", secret, StringComparison.Ordinal);
        await ConsoleServer.ScreenshotAsync(page, "keys-created");
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(secret, "/v1/projects"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusWithKeyAsync(secret, "/v1/keys"));

        // Shown once: the list page never carries it again.
        await page.GotoAsync("/keys");
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        var row = page.Locator("tr", new() { HasText = "console-made" });
        await Expect(row).ToContainTextAsync("viewer");
        await ConsoleServer.ScreenshotAsync(page, "keys");

        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke key console-made" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "revoked" })).ToBeVisibleAsync();
        await Expect(page.Locator("tr", new() { HasText = "console-made" })).ToContainTextAsync("revoked");
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(secret, "/v1/projects"));
    }

    [Fact]
    public async Task The_usage_chart_draws_the_metered_GPU_time_by_day_and_project()
    {
        var job = await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"metered","gpus_per_node":2,"command":["/bin/sh","-c","sleep 1"]}""");
        var id = job["id"]!.GetValue<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        // The job meter appends the attempt's GPU time at the scheduler's pace after the job ends.
        while (!(await server.Api.GetStringAsync("/v1/usage/events?limit=100")).Contains(id, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the job's GPU time was not metered");
            await Task.Delay(500);
        }

        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/usage");
        var canvas = page.Locator("canvas#usage-chart");
        await Expect(canvas).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => window.Chart && Chart.getChart(document.getElementById('usage-chart'))");
        var bars = await page.EvaluateAsync<int>(
            "() => Chart.getChart(document.getElementById('usage-chart')).data.datasets.reduce((n, d) => n + d.data.filter(v => v > 0).length, 0)");
        Assert.True(bars > 0, "the chart has no bars");
        var labels = await page.EvaluateAsync<string[]>("() => Chart.getChart(document.getElementById('usage-chart')).data.datasets.map(d => d.label)");
        Assert.Contains(ConsoleServer.ProjectName, labels);
        // Drawn, not only configured: the canvas holds painted pixels.
        var painted = await page.EvaluateAsync<int>(
            "() => { const c = document.getElementById('usage-chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }");
        Assert.True(painted > 1000, $"only {painted} pixels drawn");
        await Expect(page.Locator("table tbody tr", new() { HasText = ConsoleServer.ProjectName }).First).ToContainTextAsync("GPU-h");
        await ConsoleServer.ScreenshotAsync(page, "usage");
    }

    [Fact]
    public async Task The_invoices_page_shows_the_upcoming_invoice_and_serves_its_printable_page_and_CSV_with_the_session_key()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Invoices", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Invoices");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("upcoming-total")).ToContainTextAsync("USD");
        await Expect(page.GetByTestId("invoices-empty")).ToBeVisibleAsync();
        await ConsoleServer.ScreenshotAsync(page, "invoices");

        // The printable page and the CSV come through the console with the session's key; the browser has no key.
        var print = await page.Context.APIRequest.GetAsync("/invoices/upcoming/print");
        Assert.Equal(200, print.Status);
        Assert.StartsWith("text/html", print.Headers["content-type"], StringComparison.Ordinal);
        Assert.Contains("style-src 'unsafe-inline'", print.Headers["content-security-policy"], StringComparison.Ordinal);
        Assert.Contains("<h1>Draft invoice</h1>", await print.TextAsync(), StringComparison.Ordinal);
        var csv = await page.Context.APIRequest.GetAsync("/invoices/upcoming/csv");
        Assert.Equal(200, csv.Status);
        Assert.Contains("attachment; filename=\"draft-invoice.csv\"", csv.Headers["content-disposition"], StringComparison.Ordinal);
        Assert.StartsWith("project_id,meter,", await csv.TextAsync(), StringComparison.Ordinal);

        var unknown = await page.Context.APIRequest.GetAsync("/invoices/inv_missing/print");
        Assert.Equal(404, unknown.Status);
        Assert.Contains("request id", await unknown.TextAsync(), StringComparison.Ordinal);

        var anonymous = await server.NewPageAsync();
        Assert.Equal(401, (await anonymous.Context.APIRequest.GetAsync("/invoices/upcoming/csv")).Status);
    }

    [Fact]
    public async Task A_deployment_is_created_scaled_refused_with_its_field_and_deleted_from_the_deployments_page()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Deployments", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Deployments");

        // Bounds the API refuses: the form says which field, and nothing is created.
        await page.GetByLabel("Model name (what callers send)").FillAsync("console-engine");
        await page.GetByLabel(new Regex("^Replica command")).FillAsync("/bin/sh\n-c\nsleep 300");
        await page.GetByLabel("Min replicas").FillAsync("3");
        await page.GetByLabel("Max replicas").FillAsync("1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create deployment" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("replicas");
        Assert.DoesNotContain("console-engine", (await server.GetAsync("/v1/deployments")).ToJsonString(), StringComparison.Ordinal);

        await page.GetByLabel("Min replicas").FillAsync("1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create deployment" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "deployment was created" })).ToBeVisibleAsync();
        var row = page.Locator("tr[data-deployment='console-engine']");
        await Expect(row).ToContainTextAsync("active");
        await Expect(row).ToContainTextAsync(ConsoleServer.ProjectName);
        var id = (await server.GetAsync("/v1/deployments")).AsObject()["data"]!.AsArray()
            .Single(d => d!["model"]!.GetValue<string>() == "console-engine")!["id"]!.GetValue<string>();
        await ConsoleServer.ScreenshotAsync(page, "deployments");

        await row.GetByLabel("Max").FillAsync("2");
        await row.GetByRole(AriaRole.Button, new() { Name = "Scale" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "replica bounds were changed" })).ToBeVisibleAsync();
        Assert.Equal(2, (await server.GetAsync($"/v1/deployments/{id}"))["max_replicas"]!.GetValue<int>());

        await page.GetByRole(AriaRole.Button, new() { Name = "Delete deployment console-engine" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "being deleted" })).ToBeVisibleAsync();
        // Deleted once its replica has stopped, so the GPU it held is free for the tests after this one.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await server.GetAsync($"/v1/deployments/{id}"))["state"]!.GetValue<string>() != "deleted")
        {
            Assert.True(DateTime.UtcNow < deadline, "the deployment's replica never stopped");
            await Task.Delay(300);
        }
    }

    [Fact]
    public async Task A_block_is_quoted_reserved_listed_and_cancelled_from_the_reservations_page()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Reservations", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Reservations");
        await Expect(page.Locator("table", new() { HasText = "Sellable reserved" }).First.Locator("tbody tr").First).ToContainTextAsync("h100-80gb");
        await page.WaitForFunctionAsync("() => window.Chart && Chart.getChart(document.getElementById('capacity-chart'))");
        var points = await page.EvaluateAsync<int>("() => Chart.getChart(document.getElementById('capacity-chart')).data.datasets[0].data.length");
        Assert.Equal(14, points);

        // Two days ahead at 10:00 UTC, two hours of one GPU: 2 × 1.80.
        var start = DateTime.UtcNow.Date.AddDays(2).AddHours(10);
        await page.GetByLabel("GPUs", new() { Exact = true }).FillAsync("1");
        await page.GetByLabel("Start (UTC, on the hour)").FillAsync(start.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Hours").FillAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Get a quote" }).ClickAsync();
        await Expect(page.GetByTestId("quote-price")).ToHaveTextAsync(new Regex("^3\\.6(0*) USD$"));
        await Expect(page.GetByTestId("quote-available")).ToHaveTextAsync("yes");
        await ConsoleServer.ScreenshotAsync(page, "reservations-quote");

        await page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^Reserve for") }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "reserved and charged" })).ToBeVisibleAsync();
        var row = page.Locator("tr[data-reservation-id]").Filter(new() { HasText = "scheduled" }).First;
        await Expect(row).ToContainTextAsync(ConsoleServer.ProjectName);
        var id = await row.GetAttributeAsync("data-reservation-id");
        Assert.Equal("scheduled", (await server.GetAsync($"/v1/reservations/{id}"))["status"]!.GetValue<string>());
        await ConsoleServer.ScreenshotAsync(page, "reservations");

        await page.GetByRole(AriaRole.Button, new() { Name = $"Cancel reservation {id}" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "cancelled" })).ToBeVisibleAsync();
        await Expect(page.Locator($"tr[data-reservation-id='{id}']")).ToContainTextAsync("cancelled");
    }

    [Fact]
    public async Task A_quote_the_API_refuses_shows_its_message_and_request_id()
    {
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/reservations");
        await page.GetByLabel("Start (UTC, on the hour)").FillAsync(DateTime.UtcNow.Date.AddDays(-1).ToString("yyyy-MM-dd'T'10:00", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByRole(AriaRole.Button, new() { Name = "Get a quote" }).ClickAsync();
        var alert = page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("must not be in the past");
        await Expect(alert).ToContainTextAsync("field start");
        await Expect(alert).ToContainTextAsync("request id");
    }

    [Fact]
    public async Task The_playground_lists_the_models_streams_a_chat_answer_and_shows_the_APIs_refusal_for_an_embeddings_model()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Playground", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Model playground");
        await Expect(page.Locator("tr[data-model='all-minilm-l6-v2']")).ToBeVisibleAsync();
        await Expect(page.Locator($"tr[data-model='{ConsoleServer.ChatModel}']")).ToBeVisibleAsync();

        // The embeddings model does not chat: the API's refusal, with its request id, in the page.
        await page.GetByLabel("Model").SelectOptionAsync("all-minilm-l6-v2");
        await page.GetByLabel("Message").FillAsync("Hello");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        var alert = page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("HTTP 4");
        await Expect(alert).ToContainTextAsync("request id");
        await ConsoleServer.ScreenshotAsync(page, "playground-refused");

        // The tiny model streams an answer through the console (the browser never holds the key).
        await page.GetByLabel("Model").SelectOptionAsync(ConsoleServer.ChatModel);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        await Expect(page.GetByTestId("chat-answer")).ToHaveAttributeAsync("data-done", "true", new() { Timeout = 60_000 });
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        Assert.NotEmpty(await page.GetByTestId("chat-answer").TextContentAsync() ?? "");
        await ConsoleServer.ScreenshotAsync(page, "playground");

        // Like every form, the chat needs the page's antiforgery token.
        var forged = await page.Context.APIRequest.PostAsync("/playground/chat", new()
        {
            Form = page.Context.APIRequest.CreateFormData().Set("model", ConsoleServer.ChatModel).Set("message", "Hello"),
        });
        Assert.Equal(400, forged.Status);
    }

    [Fact]
    public async Task The_economics_page_charts_sold_internal_and_idle_GPU_hours_with_the_revenue_for_the_operator_only()
    {
        var page = await server.SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Economics", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Operator economics");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("economics-revenue")).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => window.Chart && Chart.getChart(document.getElementById('economics-chart'))");
        var labels = await page.EvaluateAsync<string[]>("() => Chart.getChart(document.getElementById('economics-chart')).data.datasets.map(d => d.label)");
        Assert.Equal(["Sold", "Internal", "Idle", "Revenue"], labels);
        var buckets = await page.EvaluateAsync<int>("() => Chart.getChart(document.getElementById('economics-chart')).data.labels.length");
        Assert.True(buckets >= 7, $"{buckets} buckets");
        await Expect(page.Locator("table tbody tr")).ToHaveCountAsync(buckets);
        // The local node's 4 GPUs for a whole past day: 96 GPU-hours of capacity.
        await Expect(page.Locator("table tbody tr").First).ToContainTextAsync("96.00");
        await ConsoleServer.ScreenshotAsync(page, "economics");

        // Only fleet-admin reads the economics: a viewer sees the API's 403, in the page.
        var viewer = await server.PostAsync("/v1/keys", """{"name":"economics-viewer","roles":["viewer"]}""");
        var other = await server.NewPageAsync();
        await other.GotoAsync("/signin");
        await other.GetByLabel("API key").FillAsync(viewer["key"]!.GetValue<string>());
        await other.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(other.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        await other.GotoAsync("/economics");
        await Expect(other.GetByRole(AriaRole.Alert)).ToContainTextAsync("HTTP 403");
    }

    [Fact]
    public async Task The_fleet_page_lists_the_local_node_and_cordons_and_uncordons_it()
    {
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/fleet");
        var row = page.Locator("tr[data-node='box-1']");
        await Expect(row).ToContainTextAsync("4 × h100-80gb");
        await Expect(row).ToContainTextAsync("ready");

        await page.GetByRole(AriaRole.Button, new() { Name = "Cordon box-1" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "cordoned" })).ToBeVisibleAsync();
        await Expect(page.Locator("tr[data-node='box-1']")).ToContainTextAsync("cordoned");
        Assert.Equal("cordoned", (await server.GetAsync("/v1/fleet/nodes/box-1"))["state"]!.GetValue<string>());
        await ConsoleServer.ScreenshotAsync(page, "fleet-cordoned");

        await page.GetByRole(AriaRole.Button, new() { Name = "Uncordon box-1" }).ClickAsync();
        await Expect(page.Locator("tr[data-node='box-1']")).ToContainTextAsync("ready");
        Assert.Equal("ready", (await server.GetAsync("/v1/fleet/nodes/box-1"))["state"]!.GetValue<string>());
        await ConsoleServer.ScreenshotAsync(page, "fleet");
    }

    [Fact]
    public async Task The_fleet_page_draws_which_GPUs_running_jobs_hold_by_tier()
    {
        var onDemand = (await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"two-gpus","gpus_per_node":2,"command":["/bin/sleep","120"]}"""))["id"]!.GetValue<string>();
        var spot = (await server.PostAsync("/v1/jobs", $$"""{"project_id":"{{server.ProjectId}}","name":"one-spot","gpus_per_node":1,"tier":"spot","command":["/bin/sleep","120"]}"""))["id"]!.GetValue<string>();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await server.GetAsync("/v1/fleet/nodes/box-1"))["allocated_milli_gpus"]!.GetValue<long>() < 3000)
            {
                Assert.True(DateTime.UtcNow < deadline, "the jobs did not start");
                await Task.Delay(300);
            }
            var page = await server.SignedInPageAsync();
            await page.GotoAsync("/fleet");
            var row = page.Locator("tr[data-allocation='box-1']");
            await Expect(row).ToContainTextAsync("3 of 4");
            await Expect(row).ToContainTextAsync($"on-demand {onDemand}");
            await Expect(row).ToContainTextAsync($"spot {spot}");
            await Expect(row).ToContainTextAsync(": free");
            await Expect(page.GetByRole(AriaRole.Img, new() { Name = "GPU allocation per node: 3 of 4 GPUs held" })).ToBeVisibleAsync();
            // chart.js drew it: one stacked bar per node, one cell per GPU, the held ones in their tier's colour.
            Assert.Equal(4, await page.EvaluateAsync<int>("() => Chart.getChart('allocation-heatmap').data.datasets.length"));
            Assert.Equal("#e07b39", await page.EvaluateAsync<string>("""
                () => Chart.getChart('allocation-heatmap').data.datasets.map(d => d.backgroundColor[0]).find(c => c === '#e07b39')
                """));
            await ConsoleServer.ScreenshotAsync(page, "fleet-allocation");
        }
        finally
        {
            await server.PostAsync($"/v1/jobs/{onDemand}/cancel", "{}");
            await server.PostAsync($"/v1/jobs/{spot}/cancel", "{}");
        }
    }

    [Fact]
    public async Task The_operator_edits_the_price_sheet_a_bad_rate_is_refused_by_its_row_and_the_fixed_version_is_published()
    {
        var before = (await server.GetAsync("/v1/prices"))["versions"]!.AsArray().Count;
        var page = await server.SignedInPageAsync();
        await page.GotoAsync("/prices");
        await page.GetByRole(AriaRole.Link, new() { Name = "Publish a new version" }).ClickAsync();
        // The form starts from the latest version: its three GPU rates, then blank rows.
        await Expect(page.GetByLabel("GPU model, row 1")).ToHaveValueAsync("h100-80gb");
        await Expect(page.GetByLabel("Per GPU-hour, row 1")).ToHaveValueAsync("2.50");
        await Expect(page.GetByLabel("GPU model, row 4")).ToHaveValueAsync("");
        await Expect(page.Locator("section[aria-labelledby=tiers] tbody tr").First).ToContainTextAsync("local");

        await page.GetByLabel("Per GPU-hour, row 1").FillAsync("2.75");
        await page.GetByLabel("GPU model, row 4").FillAsync("h100-80gb");
        await page.GetByLabel("Tier, row 4").SelectOptionAsync("internal");
        await page.GetByLabel("Region, row 4").FillAsync("local");
        await page.GetByLabel("Per GPU-hour, row 4").FillAsync("cheap");
        await page.GetByRole(AriaRole.Button, new() { Name = "Publish version" }).ClickAsync();
        var alert = page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("The price sheet was not published.");
        await Expect(alert).ToContainTextAsync("field GPU rate row 4, per_gpu_hour");
        await Expect(page.GetByLabel("Per GPU-hour, row 4")).ToHaveValueAsync("cheap");
        Assert.Equal(before, (await server.GetAsync("/v1/prices"))["versions"]!.AsArray().Count);

        await page.GetByLabel("Per GPU-hour, row 4").FillAsync("0.40");
        await ConsoleServer.ScreenshotAsync(page, "prices-publish");
        await page.GetByRole(AriaRole.Button, new() { Name = "Publish version" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/prices\\?notice=prices.published$"));
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("was published");

        var versions = (await server.GetAsync("/v1/prices"))["versions"]!.AsArray();
        Assert.Equal(before + 1, versions.Count);
        var rates = versions[^1]!["gpu_rates"]!.AsArray();
        Assert.Equal(4, rates.Count);
        Assert.Contains(rates, r => r!["tier"]!.GetValue<string>() == "internal" && r["per_gpu_hour"]!.GetValue<string>() == "0.40");
        Assert.Contains(rates, r => r!["tier"]!.GetValue<string>() == "on-demand" && r["per_gpu_hour"]!.GetValue<string>() == "2.75");
        await Expect(page.Locator("section[aria-labelledby=history] tbody tr")).ToHaveCountAsync(before + 1);
    }

    [Fact]
    public async Task Signing_out_ends_the_session_and_signing_in_returns_to_the_page_asked_for()
    {
        var page = await server.SignedInPageAsync();
        // Another site cannot sign the user out: the form needs the page's antiforgery token.
        var forged = await page.Context.APIRequest.PostAsync("/signout", new() { Form = page.Context.APIRequest.CreateFormData() });
        Assert.Equal(400, forged.Status);
        await page.ReloadAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/signin"));
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("You are signed out.");
        await ConsoleServer.ScreenshotAsync(page, "signin");

        await page.GotoAsync("/fleet");
        await Expect(page).ToHaveURLAsync(new Regex("/signin\\?return_to=%2Ffleet"));
        await page.GetByLabel("API key").FillAsync(server.AdminKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/fleet$"));
    }

    [Fact]
    public async Task Signing_in_with_the_OIDC_issuer_maps_the_identity_to_its_role_and_starts_a_session()
    {
        server.Issuer.SignedInAs = new Dictionary<string, object> { ["sub"] = "ada", ["org"] = "internal", ["role"] = "admin", ["email"] = "ada@operator.example" };
        var page = await server.NewPageAsync();
        await page.GotoAsync("/members");
        await Expect(page).ToHaveURLAsync(new Regex("/signin\\?return_to=%2Fmembers"));
        await page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {ConsoleServer.IssuerName}" }).ClickAsync();

        // Through the issuer's authorize endpoint and back through the callback, to the page asked for, signed in as an admin.
        await Expect(page).ToHaveURLAsync(new Regex("/members$"));
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        // The session holds the id token, which the API maps like any bearer token: the org's admin reads its members, but
        // the role claim gave no fleet-admin.
        await page.GotoAsync("/fleet");
        await Expect(page.GetByRole(AriaRole.Alert).First).ToContainTextAsync("HTTP 403");
        var session = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "headroom_console");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "headroom_oidc");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/signin"));
    }

    [Fact]
    public async Task An_OIDC_sign_in_that_maps_to_no_member_or_is_refused_or_forged_starts_no_session()
    {
        var page = await server.NewPageAsync();
        // A tenant identity whose email is no member of that org and with no role claim.
        server.Issuer.SignedInAs = new Dictionary<string, object> { ["sub"] = "eve", ["org"] = "internal", ["email"] = "eve@elsewhere.example" };
        await page.GotoAsync("/signin");
        await page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {ConsoleServer.IssuerName}" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/signin\\?reason=oidc-member"));
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("not a member here");
        await ConsoleServer.ScreenshotAsync(page, "signin-oidc-refused");

        server.Issuer.SignedInAs = null;
        await page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {ConsoleServer.IssuerName}" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("did not sign you in");

        // A callback this browser did not start (no flow cookie, or another state) is refused before any code is used.
        await page.GotoAsync("/signin/oidc/callback?code=stolen&state=guessed");
        await Expect(page).ToHaveURLAsync(new Regex("/signin\\?reason=oidc-state"));
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "headroom_console");
    }

    [Fact]
    public async Task A_key_revoked_while_signed_in_ends_the_session_at_the_next_page()
    {
        var created = await server.PostAsync("/v1/keys", """{"name":"short-lived","roles":["viewer"]}""");
        var page = await server.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.GetByLabel("API key").FillAsync(created["key"]!.GetValue<string>());
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("Operator (internal)");

        await server.PostAsync($"/v1/keys/{created["api_key"]!["id"]!.GetValue<string>()}/revoke", "{}");
        await page.GotoAsync("/jobs");
        await Expect(page).ToHaveURLAsync(new Regex("/signin\\?return_to=%2Fjobs&reason=expired"));
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("revoked or expired");
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "headroom_console");
    }

    [Fact]
    public async Task The_session_cookie_is_http_only_strict_and_not_the_key_itself_and_pages_forbid_framing()
    {
        var page = await server.SignedInPageAsync();
        var cookies = await page.Context.CookiesAsync();
        var session = Assert.Single(cookies, c => c.Name == "headroom_console");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(server.AdminKey, session.Value, StringComparison.Ordinal);
        Assert.Equal("", await page.EvaluateAsync<string>("() => document.cookie.includes('headroom_console') ? 'visible' : ''"));

        var response = await page.GotoAsync("/jobs");
        var headers = await response!.AllHeadersAsync();
        Assert.Contains("frame-ancestors 'none'", headers["content-security-policy"], StringComparison.Ordinal);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
    }

    /// <summary>Every page, and whether its picture goes into the docs (pages the flows above do not capture in a better state).</summary>
    public static TheoryData<string, string, bool> Pages => new()
    {
        { "/", "overview", true },
        { "/projects", "projects", true },
        { "/jobs", "every-page-jobs", false },
        { "/jobs/new", "every-page-submit", false },
        { "/usage", "every-page-usage", false },
        { "/invoices", "every-page-invoices", false },
        { "/prices", "prices", true },
        { "/prices/publish", "every-page-prices-publish", false },
        { "/playground", "every-page-playground", false },
        { "/reservations", "every-page-reservations", false },
        { "/deployments", "every-page-deployments", false },
        { "/keys", "every-page-keys", false },
        { "/members", "members", true },
        { "/audit", "audit", true },
        { "/fleet", "every-page-fleet", false },
        { "/economics", "every-page-economics", false },
    };

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Every_page_renders_without_error_labels_every_input_and_starts_with_a_skip_link(string path, string name, bool forDocs)
    {
        var page = await server.SignedInPageAsync();
        var response = await page.GotoAsync(path);
        Assert.Equal(200, response!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveCountAsync(1);
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);

        var unlabelled = await page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML)
            """);
        Assert.Empty(unlabelled);

        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));
        await ConsoleServer.ScreenshotAsync(page, name, forDocs);
    }

    [Fact]
    public async Task The_dark_theme_follows_the_system_and_the_toggle_switches_it()
    {
        var page = await server.SignedInPageAsync(ColorScheme.Dark);
        var background = "() => getComputedStyle(document.body).backgroundColor";
        Assert.Equal("rgb(15, 20, 25)", await page.EvaluateAsync<string>(background));
        await ConsoleServer.ScreenshotAsync(page, "overview-dark");

        var toggle = page.GetByRole(AriaRole.Button, new() { Name = "Dark theme" });
        await Expect(toggle).ToHaveAttributeAsync("aria-pressed", "true");
        await toggle.ClickAsync();
        Assert.Equal("rgb(255, 255, 255)", await page.EvaluateAsync<string>(background));
        await page.ReloadAsync();
        Assert.Equal("rgb(255, 255, 255)", await page.EvaluateAsync<string>(background));
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Dark theme" })).ToHaveAttributeAsync("aria-pressed", "false");
    }

    [Fact]
    public async Task A_viewer_sees_what_the_API_lets_a_viewer_see_and_the_APIs_refusal_elsewhere()
    {
        var created = await server.PostAsync("/v1/keys", """{"name":"a-viewer","roles":["viewer"]}""");
        var page = await server.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.GetByLabel("API key").FillAsync(created["key"]!.GetValue<string>());
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();

        await page.GotoAsync("/jobs");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        await page.GotoAsync("/keys");
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("This needs one of the roles");
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("HTTP 403");
        await page.GotoAsync("/fleet");
        await Expect(page.GetByRole(AriaRole.Alert).First).ToContainTextAsync("HTTP 403");
        Assert.Equal(0, await page.Locator("tr[data-node]").CountAsync());
    }

    [Theory]
    [InlineData(ColorScheme.Light)]
    [InlineData(ColorScheme.Dark)]
    public async Task Every_text_on_the_busiest_pages_meets_WCAG_AA_contrast(ColorScheme scheme)
    {
        var page = await server.SignedInPageAsync(scheme);
        foreach (var path in new[] { "/keys", "/jobs/new", "/fleet", "/audit", "/invoices", "/reservations", "/playground", "/economics" })
        {
            await page.GotoAsync(path);
            // Each element with its own text, against the first opaque background behind it: 4.5:1, or 3:1 for large text.
            var failures = await page.EvaluateAsync<string[]>("""
                () => {
                  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
                  const lum = ([r, g, b]) => {
                    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
                  };
                  const background = el => {
                    for (; el; el = el.parentElement) {
                      const c = rgb(getComputedStyle(el).backgroundColor);
                      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
                    }
                    return [255, 255, 255];
                  };
                  const out = [];
                  for (const el of document.querySelectorAll('body *')) {
                    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
                    const style = getComputedStyle(el);
                    if (style.visibility === 'hidden' || style.display === 'none' || el.closest('[hidden]') || el.offsetParent === null && style.position !== 'fixed') continue;
                    if (el.closest('.skip-link')) continue;
                    const a = lum(rgb(style.color)), b = lum(background(el));
                    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
                    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
                    if (ratio < need) out.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
                  }
                  return out;
                }
                """);
            Assert.True(failures.Length == 0, $"{path} ({scheme}): {string.Join("; ", failures)}");
        }
    }

    private async Task<HttpStatusCode> StatusWithKeyAsync(string key, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await server.Api.SendAsync(request);
        return response.StatusCode;
    }
}
