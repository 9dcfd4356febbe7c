//! `sls-rs completions SHELL`: the shell's completion script, on stdout.
//!
//! bash: `sls-rs completions bash > ~/.local/share/bash-completion/completions/sls-rs`;
//! zsh: into a directory of `$fpath` as `_sls-rs`; fish:
//! `~/.config/fish/completions/sls-rs.fish`; PowerShell: `sls-rs completions
//! powershell | Out-String | Invoke-Expression` in the profile.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::ui;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "sls-rs", &mut script);
    Ok(ui::out(&String::from_utf8_lossy(&script))?)
}
