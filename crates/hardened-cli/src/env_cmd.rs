//! `hardened env`: what the runtime probe detected, which signal fired, and whether the
//! container rules are on once the configuration's `docker` setting is applied.

use std::io::Write;
use std::process::ExitCode;

use hardened::config::DockerMode;
use hardened::probe::{RuntimeProbe, Signal};
use serde::Serialize;

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::term::{self, DockerSetting, Table, clean, yes_no};

/// Arguments of `hardened env`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Output formats of `hardened env`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned, human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Runs `hardened env`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let probe = common::probe_machine();
    let config = match common::loader(args.config.config.as_deref()).load_lenient() {
        Ok(loaded) => ConfigReport {
            loaded: true,
            files: term::paths(&loaded.files),
            docker: DockerSetting(loaded.config.docker),
            docker_source: loaded
                .config
                .sources
                .get("docker")
                .map_or_else(|| "default".to_owned(), ToString::to_string),
            problems: loaded.problems.len(),
            error: None,
        },
        Err(e) => ConfigReport {
            loaded: false,
            files: Vec::new(),
            docker: DockerSetting(DockerMode::Auto),
            docker_source: "default (configuration not loaded)".to_owned(),
            problems: e.0.len(),
            error: Some(
                e.0.first()
                    .map_or_else(|| e.to_string(), |p| p.message().to_owned()),
            ),
        },
    };
    let report = Report::new(&probe, config);
    match args.format {
        Format::Text => render_text(&report, out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole report.
#[derive(Serialize)]
struct Report {
    probe: ProbeReport,
    config: ConfigReport,
    /// Whether the container rules (internal networks, `.cluster.local`, ...) are on.
    container: bool,
    /// Why they are on or off.
    reason: String,
}

/// What the probe found.
#[derive(Serialize)]
struct ProbeReport {
    docker: bool,
    kubernetes: bool,
    hostname: Option<String>,
    docker_disabled_by_env: bool,
    signals: Vec<SignalReport>,
}

/// One signal that fired.
#[derive(Serialize)]
struct SignalReport {
    /// Stable id, e.g. `docker_env_file`.
    signal: String,
    /// The matched marker or value, for signals that have one.
    detail: Option<String>,
    /// Human-readable description.
    description: String,
}

impl SignalReport {
    fn new(s: &Signal) -> SignalReport {
        // The signal's serde form is `{"signal": id, "detail": ...}`.
        let value = serde_json::to_value(s).unwrap_or_default();
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        SignalReport {
            signal: field("signal").unwrap_or_else(|| "unknown".to_owned()),
            detail: field("detail"),
            description: s.to_string(),
        }
    }
}

/// What the configuration says about containers.
#[derive(Serialize)]
struct ConfigReport {
    loaded: bool,
    files: Vec<String>,
    /// As the configuration spells it: `"auto"`, `true` or `false`.
    docker: DockerSetting,
    docker_source: String,
    problems: usize,
    error: Option<String>,
}

impl Report {
    fn new(probe: &RuntimeProbe, config: ConfigReport) -> Report {
        let (container, reason) = match config.docker.0 {
            DockerMode::On => (
                true,
                format!("forced on by docker: true ({})", config.docker_source),
            ),
            DockerMode::Off => (
                false,
                format!("forced off by docker: false ({})", config.docker_source),
            ),
            DockerMode::Auto if probe.in_container() => {
                let first = probe
                    .signals
                    .first()
                    .map_or_else(|| "a signal".to_owned(), ToString::to_string);
                (true, format!("detected: {first}"))
            }
            DockerMode::Auto if probe.docker_disabled_by_env => {
                (false, "DOCKER=false overrides detection".to_owned())
            }
            DockerMode::Auto => (false, "no container signal".to_owned()),
        };
        Report {
            probe: ProbeReport {
                docker: probe.docker,
                kubernetes: probe.kubernetes,
                hostname: probe.hostname.clone(),
                docker_disabled_by_env: probe.docker_disabled_by_env,
                signals: probe.signals.iter().map(SignalReport::new).collect(),
            },
            config,
            container,
            reason,
        }
    }
}

/// Width of the key column.
const KEY_WIDTH: usize = 26;

fn render_text(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let mut t = Table::new(out, KEY_WIDTH);
    writeln!(t.out, "Runtime probe")?;
    t.row("docker", yes_no(r.probe.docker))?;
    t.row("kubernetes", yes_no(r.probe.kubernetes))?;
    t.row("hostname", r.probe.hostname.as_deref().unwrap_or("-"))?;
    t.row(
        "DOCKER=false override",
        yes_no(r.probe.docker_disabled_by_env),
    )?;
    let signals: Vec<String> = r
        .probe
        .signals
        .iter()
        .map(|s| s.description.clone())
        .collect();
    t.list_or("signals", &signals, "none")?;
    t.section("Configuration")?;
    if r.config.loaded {
        let files = if r.config.files.is_empty() {
            "built-in development defaults".to_owned()
        } else {
            r.config.files.join(", ")
        };
        t.row("config", &files)?;
    } else {
        t.row(
            "config",
            &format!(
                "not loaded: {}",
                r.config.error.as_deref().unwrap_or("unknown error")
            ),
        )?;
    }
    t.row(
        "docker",
        &format!("{} ({})", r.config.docker, r.config.docker_source),
    )?;
    if r.config.loaded && r.config.problems > 0 {
        t.row(
            "problems",
            &format!("{} (run `hardened check` for details)", r.config.problems),
        )?;
    }
    term::section(
        t.out,
        &format!(
            "Container rules: {} ({})",
            if r.container { "on" } else { "off" },
            clean(&r.reason)
        ),
    )
}
