using System.CommandLine;
using Headroom.Cli;
using Headroom.Cli.Client;

var root = new RootCommand("Headroom: a self-hosted AI cloud. Sells a GPU fleet's spare capacity and hosted models while the owner's work keeps first call.");
root.Subcommands.Add(ServerCommands.Up());
root.Subcommands.Add(ServerCommands.Migrate());
root.Subcommands.Add(AuditCommands.Create());
root.Subcommands.Add(BillingCommands.Create());
root.Subcommands.Add(ServerCommands.VersionCommand());
root.Subcommands.Add(Headroom.Cli.Simulation.SimulateCommand.Create());
root.Subcommands.Add(Headroom.Cli.Agent.AgentCommand.Create());
root.Subcommands.Add(Headroom.Cli.Batches.BatchWorker.Create());
// The client: the same /v1 API any tenant uses (docs/cli.md).
root.Subcommands.Add(LoginCommands.Login());
root.Subcommands.Add(LoginCommands.Logout());
root.Subcommands.Add(JobCommands.Create());
root.Subcommands.Add(UsageCommands.Usage());
root.Subcommands.Add(UsageCommands.Prices());
root.Subcommands.Add(KeyCommands.Create());
root.Subcommands.Add(MemberCommands.Create());
root.Subcommands.Add(OrgCommands.Orgs());
root.Subcommands.Add(OrgCommands.Projects());
root.Subcommands.Add(FleetCommands.Create());
root.Subcommands.Add(ReservationCommands.Create());
root.Subcommands.Add(ReservationCommands.Capacity());
root.Subcommands.Add(InvoiceCommands.Invoices());
root.Subcommands.Add(InvoiceCommands.Budgets());
root.Subcommands.Add(ModelCommands.Models());
root.Subcommands.Add(DeploymentCommands.Create());
root.Subcommands.Add(ModelCommands.Chat());
root.Subcommands.Add(CompletionCommand.Create());
// Signals are left to the commands: `up` stops through the host's lifetime on SIGTERM or Ctrl-C (it drains
// requests and releases its lease, however long that takes), and a short command simply ends.
var parse = root.Parse(args);
var code = await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
// Unknown commands and malformed options are usage errors, exit code 2 like invalid settings (docs/cli.md).
return parse.Errors.Count > 0 ? ExitCodes.BadSettings : code;
