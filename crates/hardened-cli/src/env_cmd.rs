//! `hardened env`: what the runtime probe detected, which signal fired, and whether the
//! container rules are on once the configuration's `docker` setting is applied.

use std::io::Write;
use std::process::ExitCode;

use hardened::config::DockerMode;
use hardened::probe::{RuntimeProbe, Signal};
use serde::Serialize;

use crate::ConfigArg;
use crate::common::{self, CliError};

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
            files: loaded
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            docker: loaded.config.docker,
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
            docker: DockerMode::Auto,
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
    docker: DockerMode,
    docker_source: String,
    problems: usize,
    error: Option<String>,
}

impl Report {
    fn new(probe: &RuntimeProbe, config: ConfigReport) -> Report {
        let (container, reason) = match config.docker {
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

const KEY_WIDTH: usize = 26;

fn row(out: &mut dyn Write, key: &str, value: &str) -> std::io::Result<()> {
    writeln!(out, "  {key:<KEY_WIDTH$}{}", clean(value))
}

/// Control characters (from the environment or files) escaped for the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn render_text(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Runtime probe")?;
    row(out, "docker", yes_no(r.probe.docker))?;
    row(out, "kubernetes", yes_no(r.probe.kubernetes))?;
    row(out, "hostname", r.probe.hostname.as_deref().unwrap_or("-"))?;
    row(
        out,
        "DOCKER=false override",
        yes_no(r.probe.docker_disabled_by_env),
    )?;
    match r.probe.signals.split_first() {
        None => row(out, "signals", "none")?,
        Some((first, rest)) => {
            row(out, "signals", &first.description)?;
            for s in rest {
                row(out, "", &s.description)?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "Configuration")?;
    if r.config.loaded {
        let files = if r.config.files.is_empty() {
            "built-in development defaults".to_owned()
        } else {
            r.config.files.join(", ")
        };
        row(out, "config", &files)?;
    } else {
        row(
            out,
            "config",
            &format!(
                "not loaded: {}",
                r.config.error.as_deref().unwrap_or("unknown error")
            ),
        )?;
    }
    let mode = match r.config.docker {
        DockerMode::Auto => "auto",
        DockerMode::On => "true",
        DockerMode::Off => "false",
    };
    row(
        out,
        "docker",
        &format!("{mode} ({})", r.config.docker_source),
    )?;
    if r.config.loaded && r.config.problems > 0 {
        row(
            out,
            "problems",
            &format!("{} (run `hardened check` for details)", r.config.problems),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Container rules: {} ({})",
        if r.container { "on" } else { "off" },
        clean(&r.reason)
    )?;
    Ok(())
}
