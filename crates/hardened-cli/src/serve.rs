//! Placeholder command module.

use std::io::Write;
use std::process::ExitCode;

use crate::common::CliError;

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs the command.
pub(crate) fn run(_args: &Args, _out: &mut dyn Write) -> Result<ExitCode, CliError> {
    Err(CliError::Message("not implemented yet".into()))
}
