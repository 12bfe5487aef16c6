using System.CommandLine;

namespace Headroom.Cli.Client;

/// <summary>
/// <c>headroom completion bash|zsh</c> prints a script that asks headroom itself what may come next: System.CommandLine's
/// <c>[suggest:POSITION]</c> directive completes commands, options and option values from the same tree that parses
/// them, so the scripts never go stale. (The help option's aliases <c>-?</c>, <c>/?</c>, <c>/h</c> are left out.)
/// </summary>
internal static class CompletionCommand
{
    private const string Bash = """
        # bash completion for headroom. Enable it for this shell with:
        #   source <(headroom completion bash)
        # or for every shell: headroom completion bash > ~/.local/share/bash-completion/completions/headroom
        _headroom_complete() {
            local IFS=$'\n'
            COMPREPLY=($(headroom "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null | grep -Ev '^(/|-\?$)'))
        }
        complete -o default -F _headroom_complete headroom

        """;

    private const string Zsh = """
        #compdef headroom
        # zsh completion for headroom. Enable it (after compinit) with:
        #   source <(headroom completion zsh)
        # or for every shell: headroom completion zsh > "${fpath[1]}/_headroom"
        _headroom() {
            local line="${(j: :)words}"
            local upto="${(j: :)words[1,CURRENT]}"
            local -a candidates
            candidates=("${(@f)$(headroom "[suggest:${#upto}]" "$line" 2>/dev/null | grep -Ev '^(/|-\?$)')}")
            compadd -a candidates
        }
        compdef _headroom headroom

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", """
            Print a shell completion script for headroom's commands and options.

            Examples:
              source <(headroom completion bash)          # add to ~/.bashrc
              source <(headroom completion zsh)           # add to ~/.zshrc, after compinit
            """);
        command.Arguments.Add(shell);
        command.SetAction(parse =>
        {
            Console.Write(parse.GetValue(shell) == "zsh" ? Zsh : Bash);
            return ExitCodes.Ok;
        });
        return command;
    }
}
