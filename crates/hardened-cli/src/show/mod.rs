//! `hardened show`: the derived security settings, as a table, JSON, YAML or a Django
//! settings fragment.
//!
//! JSON and YAML use Django's setting names where one exists (`ALLOWED_HOSTS`,
//! `CORS_ALLOWED_ORIGINS`, `CSRF_TRUSTED_ORIGINS`, `SECURE_HSTS_SECONDS`, ...) and add
//! the rules Django cannot express in a nested `hardened` object. Secrets never appear:
//! the secret key is reported as `set` or `not set`.

mod django;
mod document;
mod model;
mod routes;
mod table;

use std::io::Write;
use std::process::ExitCode;

use crate::ConfigArg;
use crate::common::{self, CliError};
use document::Document;
use model::Model;

/// Arguments of `hardened show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Output formats of `hardened show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned, human-readable sections.
    Table,
    /// JSON, Django setting names plus a `hardened` object.
    Json,
    /// YAML, the same document as JSON.
    Yaml,
    /// A Python settings.py fragment Django can import.
    Django,
}

/// The Django settings fragment `show --format django` prints for a loaded
/// configuration on this runtime; `None` when the policy cannot be derived.
pub(crate) fn django_fragment(
    loaded: &hardened::config::load::Loaded,
    probe: &hardened::probe::RuntimeProbe,
) -> Option<String> {
    let policy = hardened::policy::derive(&loaded.config, probe).ok()?;
    Some(django::render(&Model::new(
        &policy,
        loaded,
        probe.docker_disabled_by_env,
    )))
}

/// Runs `hardened show`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let probe = common::probe_machine();
    let policy = hardened::policy::derive(&loaded.config, &probe)?;
    let model = Model::new(&policy, &loaded, probe.docker_disabled_by_env);
    match args.format {
        Format::Table => table::render(&model, out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &Document::new(&model))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Yaml => {
            let text = serde_saphyr::to_string(&Document::new(&model))
                .map_err(|e| CliError::Message(format!("cannot render YAML: {e}")))?;
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
        Format::Django => out.write_all(django::render(&model).as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
