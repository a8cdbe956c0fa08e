//! What `serve` runs with. Its `gateway:` flags are made from the library's table of
//! settings ([`hardened::config::gateway::SETTINGS`]) and handed to the loader, which
//! reads and checks them as it reads the file's keys and their `HARDENED_GATEWAY_*`
//! variables: one description and one validation path per setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use hardened::config::gateway::{self, Kind, Setting};
use hardened::config::load::Loader;
use hardened::config::{Config, LogFormat};
use hardened_gateway::{GatewayOptions, Upstream};

use crate::common::CliError;

/// The `gateway:` settings given as `serve` flags (`--workers 4`, `--tls-cert FILE`),
/// as the text given: the loader reads them.
#[derive(Clone, Default)]
pub(super) struct GatewayFlags {
    /// `(key path, flag, values)` of each flag given.
    given: Vec<(String, String, Vec<String>)>,
}

/// The flags given, never their values.
impl std::fmt::Debug for GatewayFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.given.iter().map(|(_, flag, _)| flag))
            .finish()
    }
}

/// The heading of a flag in `serve --help`.
fn heading(setting: &Setting, path: &str) -> Option<&'static str> {
    if path.starts_with("tls.") || setting.key == "listen_http" {
        Some("Direct TLS")
    } else if setting.key.contains("buffer")
        || setting.key.starts_with("upstream_max")
        || setting.key.starts_with("upstream_queue")
        || matches!(
            setting.key,
            "client_max_body_size"
                | "client_body_timeout"
                | "max_temp_file_size"
                | "send_timeout"
                | "temp_dir"
        )
    {
        Some("Buffering and upstream connections (gateway mode)")
    } else {
        None
    }
}

/// The help text of a setting's flag: its documentation, what it takes, its default
/// and its key.
fn help(setting: &Setting, path: &str) -> String {
    let doc = setting.doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let takes = match setting.kind {
        Kind::Duration => " Seconds, or with a unit: 250ms, 30s, 5m, 1h.",
        Kind::Bytes { .. } => " Units k, m, g and KiB, MiB, GiB are binary; kB, MB, GB decimal.",
        Kind::Paths => " Repeatable.",
        _ => "",
    };
    format!(
        "{doc}{takes} [default: {}; config: gateway.{path}]",
        setting.default
    )
}

impl clap::Args for GatewayFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for (setting, path) in gateway::flags() {
            let Some(flag) = setting.flag else { continue };
            let mut arg = Arg::new(flag)
                .long(flag)
                .value_name(setting.value_name())
                .allow_hyphen_values(true)
                .help(help(setting, &path));
            arg = match setting.kind {
                Kind::Paths => arg.action(ArgAction::Append),
                _ => arg.action(ArgAction::Set),
            };
            if let Kind::Choice(words) = setting.kind {
                arg = arg.value_parser(clap::builder::PossibleValuesParser::new(words.iter()));
            }
            if let Some(h) = heading(setting, &path) {
                arg = arg.help_heading(h);
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for GatewayFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = GatewayFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for (setting, path) in gateway::flags() {
            let Some(flag) = setting.flag else { continue };
            if let Ok(Some(values)) = m.try_get_many::<String>(flag) {
                let values: Vec<String> = values.cloned().collect();
                self.given.retain(|(p, _, _)| *p != path);
                self.given.push((path, format!("--{flag}"), values));
            }
        }
        Ok(())
    }
}

impl GatewayFlags {
    /// `loader` with these flags over its files and environment.
    pub(super) fn apply(&self, mut loader: Loader) -> Loader {
        for (path, flag, values) in &self.given {
            loader = loader.gateway_flag(path.as_str(), flag.as_str(), values.iter().cloned());
        }
        loader
    }
}

/// What `serve` runs with, from the `gateway:` settings (flags, variables and file,
/// already merged and checked by the loader) and the defaults.
pub(super) struct Settings {
    pub(super) listen: SocketAddr,
    pub(super) upstream: Option<Upstream>,
    pub(super) options: GatewayOptions,
    /// The certificate and key files, and where they were named (for messages).
    pub(super) tls: Option<(PathBuf, PathBuf, &'static str)>,
    pub(super) listen_http: Option<SocketAddr>,
    pub(super) admin_listen: Option<SocketAddr>,
    pub(super) log_format: LogFormat,
    pub(super) access_log: bool,
}

impl Settings {
    pub(super) fn new(config: &Config, access_log: bool) -> Result<Settings, CliError> {
        let g = &config.gateway;
        let mut options = GatewayOptions::from_config(g);
        if g.workers.is_none() {
            options =
                options.with_workers(std::thread::available_parallelism().map_or(1, usize::from));
        }
        let named = |key: &str| match config.sources.get(key).and_then(|s| s.flag_name()) {
            Some(_) => "--tls-cert/--tls-key",
            None => "gateway.tls",
        };
        let upstream = match &g.upstream {
            // Checked by the loader with the same check; a failure here is a bug.
            Some(u) => Some(
                hardened_gateway::parse_upstream(u)
                    .map_err(|e| CliError::Message(format!("gateway.upstream: {e}")))?,
            ),
            None => None,
        };
        Ok(Settings {
            listen: g.listen.unwrap_or(gateway::DEFAULT_LISTEN),
            upstream,
            options,
            tls: g
                .tls
                .as_ref()
                .map(|t| (t.cert.clone(), t.key.clone(), named("gateway.tls.cert"))),
            listen_http: g.listen_http,
            admin_listen: g.admin_listen,
            log_format: g.log_format.unwrap_or(LogFormat::Text),
            access_log,
        })
    }
}
