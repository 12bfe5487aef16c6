using System.CommandLine;
using Headroom.Server.Hosting;
using Headroom.Store;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Headroom.Cli;

internal static class ServerCommands
{
    public static Command Up()
    {
        var store = new StoreOptions();
        var listen = new Option<string?>("--listen") { Description = "Address to listen on: an IP, 'localhost' or '*'. Default: 127.0.0.1" };
        var port = new Option<string?>("--port") { Description = "TCP port; 0 picks a free one. Default: 8080" };
        var fleet = new Option<string?>("--fleet") { Description = "Fleet file (YAML or JSON, see docs/fleet.md). Default: this machine, GPUs from nvidia-smi" };
        var model = new Option<string[]>("--model")
        {
            Description = "Serve a GGUF file on the OpenAI surface under a name, in process (repeatable): --model NAME=PATH.gguf",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("up", """
            Run the whole control plane in this process: API, audit, fleet inventory, control loops.
            On first start it creates the operator's org 'internal' and prints its admin key once.

            Examples:
              headroom up
              headroom up --fleet deploy/fleet.example.yaml --port 9090
              headroom up --database postgres://headroom:secret@db:5432/headroom --listen '*'
              headroom up --model llama-3.2-1b=/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf
            """);
        store.AddTo(command);
        command.Options.Add(listen);
        command.Options.Add(port);
        command.Options.Add(fleet);
        command.Options.Add(model);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var flags = new Dictionary<string, string?>
            {
                ["listen"] = parse.GetValue(listen),
                ["port"] = parse.GetValue(port),
                ["fleet"] = parse.GetValue(fleet),
            };
            // NAME=PATH becomes the setting models:NAME; without '=' the path is missing, which the settings report.
            foreach (var value in parse.GetValue(model) ?? [])
            {
                var at = value.IndexOf('=', StringComparison.Ordinal);
                flags["models:" + (at < 0 ? value : value[..at])] = at < 0 ? "" : value[(at + 1)..];
            }
            var settings = store.Read(parse, flags);
            if (settings is null)
                return ExitCodes.BadSettings;

            Microsoft.AspNetCore.Builder.WebApplication app;
            string? adminKey;
            try
            {
                app = HeadroomHost.Build(settings);
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine($"headroom: cannot start: {ex.Message}");
                return ExitCodes.Failed;
            }
            try
            {
                adminKey = await HeadroomHost.PrepareAsync(app, cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException or IOException)
            {
                Console.Error.WriteLine($"headroom: cannot start: {ex.Message}");
                return ExitCodes.Failed;
            }

            await app.StartAsync(cancellationToken);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            Console.WriteLine($"Headroom {HeadroomVersion.Text} is up.");
            Console.WriteLine($"  Console:  {address}/");
            Console.WriteLine($"  API:      {address}/v1");
            Console.WriteLine($"  OpenAPI:  {address}/openapi/v1.json");
            Console.WriteLine($"  Metrics:  {address}/metrics");
            Console.WriteLine($"  Store:    {settings.Database.Provider.ToString().ToLowerInvariant()} ({settings.Database.Redacted})");
            var served = app.Services.GetRequiredService<Headroom.Gateway.Routing.ModelRegistry>().Models;
            Console.WriteLine($"  Models:   {(served.Count == 0 ? "none" : string.Join(", ", served))} (OpenAI API at {address}/v1)");
            if (adminKey is not null)
            {
                Console.WriteLine();
                Console.WriteLine("Admin key of the operator's org 'internal' (roles owner, fleet-admin). It is shown once;");
                Console.WriteLine($"a copy is in {settings.AdminKeyPath} (mode 0600):");
                Console.WriteLine();
                Console.WriteLine($"  {adminKey}");
                Console.WriteLine();
            }
            Console.Out.Flush();
            try
            {
                await app.WaitForShutdownAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Migrate()
    {
        var store = new StoreOptions();
        var command = new Command("migrate", "Apply the store's pending database migrations and exit.");
        store.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (store.Read(parse) is not { } settings)
                return ExitCodes.BadSettings;
            Directory.CreateDirectory(settings.DataDir);
            var database = new Database(settings.Database);
            var pending = await database.PendingMigrationsAsync(cancellationToken);
            await database.MigrateAsync(cancellationToken);
            Console.WriteLine(pending.Count == 0
                ? "The store is up to date."
                : $"Applied {pending.Count} migration{(pending.Count == 1 ? "" : "s")}: {string.Join(", ", pending)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command VersionCommand()
    {
        var command = new Command("version", "Print Headroom's version.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"headroom {HeadroomVersion.Text}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
