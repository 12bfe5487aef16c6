using System.CommandLine;
using Headroom.Cli;

var root = new RootCommand("Headroom: a self-hosted AI cloud. Sells a GPU fleet's spare capacity and hosted models while the owner's work keeps first call.");
root.Subcommands.Add(ServerCommands.Up());
root.Subcommands.Add(ServerCommands.Migrate());
root.Subcommands.Add(AuditCommands.Create());
root.Subcommands.Add(BillingCommands.Create());
root.Subcommands.Add(ServerCommands.VersionCommand());
root.Subcommands.Add(Headroom.Cli.Simulation.SimulateCommand.Create());
root.Subcommands.Add(Headroom.Cli.Agent.AgentCommand.Create());
// Signals are left to the commands: `up` stops through the host's lifetime on SIGTERM or Ctrl-C (it drains
// requests and releases its lease, however long that takes), and a short command simply ends.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
