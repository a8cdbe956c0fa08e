//! `hardened completions` and `hardened man`: the shell completion scripts and the
//! manual pages, generated from the command-line definition itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::{Generator, Shell};

use crate::Cli;
use crate::common::CliError;
use crate::term::clean;

/// Arguments of `hardened completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install, for example:
  bash:  hardened completions bash > ~/.local/share/bash-completion/completions/hardened
  zsh:   hardened completions zsh > ~/.zfunc/_hardened   (with ~/.zfunc in $fpath)
  fish:  hardened completions fish > ~/.config/fish/completions/hardened.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `hardened man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without --dir, prints the page of `hardened` (its commands listed) to stdout:
  hardened man | man -l -
With --dir, writes hardened.1 and one page per command (hardened-check.1, ...),
replacing pages of the same name there.")]
pub(crate) struct ManArgs {
    /// Write one page per command into this directory (created if missing) instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `hardened completions`.
pub(crate) fn completions(
    args: &CompletionsArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let mut cmd = Cli::command();
    cmd.set_bin_name("hardened");
    cmd.build();
    args.shell.try_generate(&cmd, out)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `hardened man`.
pub(crate) fn man(args: &ManArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let cmd = Cli::command();
    match &args.dir {
        None => clap_mangen::Man::new(cmd).render(out)?,
        Some(dir) => {
            let shown = clean(&dir.display().to_string());
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Message(format!("cannot create {shown}: {e}")))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                CliError::Message(format!("cannot write the pages into {shown}: {e}"))
            })?;
            writeln!(out, "hardened man: wrote the manual pages into {shown}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
