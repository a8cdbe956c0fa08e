//! What the commands share: loading the configuration and the runtime probe, errors.

use std::io;
use std::path::{Path, PathBuf};

use hardened::config::ConfigErrors;
use hardened::config::load::{Loaded, Loader};
use hardened::probe::{self, OsSystem, RuntimeProbe};

/// A failure that ends the command with exit code 2 (1 is for failed checks).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(ConfigErrors),
    /// Another failure, already worded for the user.
    #[error("error: {0}")]
    Message(String),
    /// stdout was closed (e.g. piped into `head`): not an error.
    #[error("broken pipe")]
    BrokenPipe,
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Message(e.to_string())
        }
    }
}

impl From<ConfigErrors> for CliError {
    fn from(e: ConfigErrors) -> Self {
        CliError::Config(e)
    }
}

/// The loader for `--config`: the given file (must exist), else `./config.yaml` if
/// present, else the built-in development defaults; with this process's environment.
pub(crate) fn loader(config: Option<&Path>) -> Loader {
    let base = Loader::from_process_env();
    match config {
        Some(p) => base.file(p),
        None => base.file_if_exists(PathBuf::from("config.yaml")),
    }
}

/// Loads the configuration strictly: any problem is an error (exit 2).
pub(crate) fn load_strict(config: Option<&Path>) -> Result<Loaded, CliError> {
    Ok(loader(config).load()?)
}

/// The runtime probe of this machine.
pub(crate) fn probe_machine() -> RuntimeProbe {
    probe::detect(&OsSystem)
}
