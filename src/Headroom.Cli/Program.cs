using System.CommandLine;
using Headroom.Cli;

var root = new RootCommand("Headroom: a self-hosted AI cloud. Sells a GPU fleet's spare capacity and hosted models while the owner's work keeps first call.");
root.Subcommands.Add(ServerCommands.Up());
root.Subcommands.Add(ServerCommands.Migrate());
root.Subcommands.Add(AuditCommands.Create());
root.Subcommands.Add(ServerCommands.VersionCommand());
root.Subcommands.Add(Headroom.Cli.Simulation.SimulateCommand.Create());
// On SIGTERM or Ctrl-C the running command is cancelled and given time to stop cleanly (a server
// drains requests and releases its lease) before the process exits.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
