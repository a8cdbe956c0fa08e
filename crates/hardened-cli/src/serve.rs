//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app. The serving itself is `hardened_gateway`'s.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hardened::Security;
use hardened_gateway::{Gateway, GatewayOptions, Server, Upstream, UpstreamError};

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::demo;

/// Arguments of `hardened serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Forward allowed requests to this service (gateway mode), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Seconds to wait for the upstream's response headers before answering 504.
    #[arg(long, default_value_t = 30)]
    upstream_timeout: u64,
    /// Seconds a client may take to send its request head (slow-loris protection).
    #[arg(long, default_value_t = 30)]
    header_read_timeout: u64,
    #[command(flatten)]
    buffering: BufferingArgs,
}

/// Request and response buffering and upstream connection limits of the gateway (see
/// `hardened_gateway::GatewayOptions` for what each does).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Buffering and upstream connections (gateway mode)")]
struct BufferingArgs {
    /// Read request bodies completely before forwarding (off: stream them).
    #[arg(long, value_name = "on|off", default_value = "on")]
    request_buffering: Switch,
    /// Stream request bodies to the upstream for this path pattern (repeatable):
    /// `/upload`, `/upload/*`, `/u/{id}/file`.
    #[arg(long = "unbuffered-request-path", value_name = "PATTERN")]
    unbuffered_request_paths: Vec<String>,
    /// Largest request body; larger ones are answered 413 (0 = unlimited). Suffixes
    /// k, m, g (KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "10m", allow_hyphen_values = true,
          value_parser = parse_bytes)]
    client_max_body_size: u64,
    /// Request body bytes kept in memory; beyond, the body goes to a temporary file.
    #[arg(long, value_name = "BYTES", default_value = "64k", allow_hyphen_values = true,
          value_parser = parse_positive_bytes)]
    client_body_buffer_size: u64,
    /// Seconds a client may pause while sending a request body before it is answered 408.
    #[arg(long, value_name = "SECS", default_value = "60", allow_hyphen_values = true,
          value_parser = parse_secs)]
    client_body_timeout: u64,
    /// Read responses from the upstream as fast as it sends them (off: stream them).
    #[arg(long, value_name = "on|off", default_value = "on")]
    response_buffering: Switch,
    /// Response bytes kept in memory; beyond, the response goes to a temporary file.
    #[arg(long, value_name = "BYTES", default_value = "64k", allow_hyphen_values = true,
          value_parser = parse_positive_bytes)]
    response_buffer_size: u64,
    /// Largest temporary file of one response; beyond it the rest streams (0 = no
    /// temporary files for responses).
    #[arg(long, value_name = "BYTES", default_value = "1g", allow_hyphen_values = true,
          value_parser = parse_bytes)]
    max_temp_file_size: u64,
    /// Seconds a client may stall reading a response before it is cut off.
    #[arg(long, value_name = "SECS", default_value = "60", allow_hyphen_values = true,
          value_parser = parse_secs)]
    send_timeout: u64,
    /// Directory of the temporary files (default: the OS temporary directory).
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
    /// Most upstream connections open at once, idle ones included.
    #[arg(long, value_name = "N", default_value = "64", allow_hyphen_values = true,
          value_parser = parse_count)]
    upstream_max_connections: u64,
    /// Most upstream connections one client connection may use at once.
    #[arg(long, value_name = "N", default_value = "8", allow_hyphen_values = true,
          value_parser = parse_count)]
    upstream_max_connections_per_client: u64,
    /// Most requests waiting for an upstream connection; beyond, 503 at once (0 = none
    /// wait).
    #[arg(long, value_name = "N", default_value = "1024", allow_hyphen_values = true,
          value_parser = parse_size)]
    upstream_queue_size: u64,
    /// Seconds a request may wait for an upstream connection before it is answered 503.
    #[arg(long, value_name = "SECS", default_value = "10", allow_hyphen_values = true,
          value_parser = parse_secs)]
    upstream_queue_timeout: u64,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

/// A whole number, not negative.
fn parse_size(s: &str) -> Result<u64, String> {
    if s.trim_start().starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    s.parse::<u64>()
        .map_err(|_| "not a whole number".to_owned())
}

/// A whole number, at least 1.
fn parse_count(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    }
}

/// Whole seconds, at least 1.
fn parse_secs(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("must be at least 1 second".to_owned()),
        n => Ok(n),
    }
}

/// A number of bytes: digits with an optional `k`, `m` or `g` suffix (KiB, MiB, GiB).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (t.get(..i).unwrap_or(""), 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (t.get(..i).unwrap_or(""), 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (t.get(..i).unwrap_or(""), 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| {
        "not a number of bytes (digits, optionally followed by k, m or g)".to_owned()
    })?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_owned())
}

/// A number of bytes, at least 1.
fn parse_positive_bytes(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        0 => Err("must be at least 1 byte".to_owned()),
        n => Ok(n),
    }
}

impl BufferingArgs {
    /// These settings on top of `options`.
    fn apply(&self, options: GatewayOptions) -> Result<GatewayOptions, CliError> {
        let usize_of = |flag: &str, n: u64| {
            usize::try_from(n)
                .map_err(|_| CliError::Message(format!("--{flag} {n}: too large for this machine")))
        };
        let mut options = options
            .with_request_buffering(self.request_buffering.on())
            .with_unbuffered_request_paths(self.unbuffered_request_paths.iter().cloned())
            .with_client_max_body_size(self.client_max_body_size)
            .with_client_body_buffer_size(usize_of(
                "client-body-buffer-size",
                self.client_body_buffer_size,
            )?)
            .with_client_body_timeout(Duration::from_secs(self.client_body_timeout))
            .with_response_buffering(self.response_buffering.on())
            .with_response_buffer_size(usize_of("response-buffer-size", self.response_buffer_size)?)
            .with_max_temp_file_size(self.max_temp_file_size)
            .with_send_timeout(Duration::from_secs(self.send_timeout))
            .with_upstream_max_connections(usize_of(
                "upstream-max-connections",
                self.upstream_max_connections,
            )?)
            .with_upstream_max_connections_per_client(usize_of(
                "upstream-max-connections-per-client",
                self.upstream_max_connections_per_client,
            )?)
            .with_upstream_queue_size(usize_of("upstream-queue-size", self.upstream_queue_size)?)
            .with_upstream_queue_timeout(Duration::from_secs(self.upstream_queue_timeout));
        for p in &self.unbuffered_request_paths {
            if !p.starts_with('/') {
                return Err(CliError::Message(format!(
                    "--unbuffered-request-path {p:?}: a path pattern starts with /"
                )));
            }
        }
        if let Some(dir) = &self.temp_dir {
            if !dir.is_dir() {
                return Err(CliError::Message(format!(
                    "--temp-dir {}: not a directory",
                    dir.display()
                )));
            }
            options = options.with_temp_dir(dir);
        }
        Ok(options)
    }
}

/// Runs `hardened serve`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let security = Security::from_config(&loaded.config, &common::probe_machine())?;
    let upstream = match &args.upstream {
        Some(u) => Some(parse_upstream(u)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the runtime: {e}")))?;
    let options = args.buffering.apply(
        GatewayOptions::default()
            .with_upstream_timeout(Duration::from_secs(args.upstream_timeout.max(1)))
            .with_header_read_timeout(Duration::from_secs(args.header_read_timeout.max(1))),
    )?;
    let reason = loaded.environment_reason().to_string();
    rt.block_on(serve(security, &reason, args, upstream, options, out))
}

/// `--upstream URL`, checked by the gateway and worded for the command line.
fn parse_upstream(u: &str) -> Result<Upstream, CliError> {
    hardened_gateway::parse_upstream(u).map_err(|e| {
        CliError::Message(match e {
            UpstreamError::Invalid { source, .. } => format!("--upstream {u:?}: {source}"),
            UpstreamError::Https { .. } => format!(
                "--upstream {u:?}: https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
            ),
            UpstreamError::NotAbsolute { .. } => match u.split_once("://") {
                Some((scheme, _)) if !scheme.eq_ignore_ascii_case("http") => format!(
                    "--upstream {u:?}: the scheme {scheme:?} is not supported; the gateway forwards HTTP: give an http:// URL such as http://127.0.0.1:9000"
                ),
                Some(_) => format!(
                    "--upstream {u:?}: the URL names no host; give one such as http://127.0.0.1:9000"
                ),
                None => format!(
                    "--upstream {u:?}: give an absolute URL such as http://127.0.0.1:9000"
                ),
            },
            other => format!("--upstream: {other}"),
        })
    })
}

async fn serve(
    security: Security,
    reason: &str,
    args: &Args,
    upstream: Option<Upstream>,
    options: GatewayOptions,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the port is taken; stop the other process or choose another with --listen 127.0.0.1:PORT"
        } else {
            "check the address given to --listen"
        };
        CliError::Message(format!("cannot listen on {}: {e}; {hint}", args.listen))
    })?;
    let local = listener.local_addr()?;
    writeln!(
        out,
        "hardened: listening on http://{local} ({}, {})",
        security.policy().environment,
        match &upstream {
            Some(u) => format!("gateway to {u}"),
            None => "demo app".to_owned(),
        }
    )?;
    writeln!(
        out,
        "hardened: {} because {reason}",
        security.policy().environment
    )?;
    out.flush()?;
    tracing_init();

    match upstream {
        Some(u) => {
            Gateway::new(security, u, options)
                .serve(listener, shutdown_signal())
                .await;
        }
        None => {
            let app = demo::service(security.clone());
            Server::new(security, options)
                .serve(listener, app, shutdown_signal())
                .await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tracing_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HARDENED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
