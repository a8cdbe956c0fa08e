//! What `serve` runs with: the buffering and connection flags, the settings merged from
//! flags, the environment and the config file, and the `gateway:` keys a reload cannot
//! apply.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hardened::config::{GatewayConfig, gateway};
use hardened_gateway::{GatewayOptions, Upstream, UpstreamError};

use super::Args;
use crate::common::CliError;
use crate::logging::LogFormat;

/// Request and response buffering and upstream connection limits of the gateway (see
/// `hardened_gateway::GatewayOptions` for what each does).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Buffering and upstream connections (gateway mode)")]
pub(super) struct BufferingArgs {
    /// Read request bodies completely before forwarding (off: stream them). [default: on; config: gateway.request_buffering]
    #[arg(long, value_name = "on|off")]
    request_buffering: Option<Switch>,
    /// Stream request bodies to the upstream for this path pattern (repeatable):
    /// `/upload`, `/upload/*`, `/u/{id}/file`. [config: gateway.unbuffered_request_paths]
    #[arg(long = "unbuffered-request-path", value_name = "PATTERN")]
    unbuffered_request_paths: Vec<String>,
    /// Largest request body; larger ones are answered 413 (0 = unlimited). Units k, m, g
    /// and KiB, MiB, GiB are binary; kB, MB, GB decimal. [default: 10m; config: gateway.client_max_body_size]
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true,
          value_parser = parse_bytes)]
    client_max_body_size: Option<u64>,
    /// Request body bytes kept in memory; beyond, the body goes to a temporary file. [default: 64k; config: gateway.client_body_buffer_size]
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true,
          value_parser = parse_positive_bytes)]
    client_body_buffer_size: Option<u64>,
    /// Seconds a client may pause while sending a request body before it is answered 408. [default: 60; config: gateway.client_body_timeout]
    #[arg(long, value_name = "SECS", allow_hyphen_values = true,
          value_parser = parse_secs)]
    client_body_timeout: Option<u64>,
    /// Read responses from the upstream as fast as it sends them (off: stream them). [default: on; config: gateway.response_buffering]
    #[arg(long, value_name = "on|off")]
    response_buffering: Option<Switch>,
    /// Response bytes kept in memory; beyond, the response goes to a temporary file. [default: 64k; config: gateway.response_buffer_size]
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true,
          value_parser = parse_positive_bytes)]
    response_buffer_size: Option<u64>,
    /// Largest temporary file of one response; beyond it the rest streams (0 = no
    /// temporary files for responses). [default: 1g; config: gateway.max_temp_file_size]
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true,
          value_parser = parse_bytes)]
    max_temp_file_size: Option<u64>,
    /// Seconds a client may stall reading a response before it is cut off. [default: 60; config: gateway.send_timeout]
    #[arg(long, value_name = "SECS", allow_hyphen_values = true,
          value_parser = parse_secs)]
    send_timeout: Option<u64>,
    /// Directory of the temporary files (default: the OS temporary directory). [config: gateway.temp_dir]
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
    /// Most upstream connections open at once, idle ones included. [default: 64; config: gateway.upstream_max_connections]
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = parse_count)]
    upstream_max_connections: Option<u64>,
    /// Most upstream connections one client connection may use at once. [default: 8; config: gateway.upstream_max_connections_per_client]
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = parse_count)]
    upstream_max_connections_per_client: Option<u64>,
    /// Most requests waiting for an upstream connection; beyond, 503 at once (0 = none
    /// wait). [default: 1024; config: gateway.upstream_queue_size]
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = parse_size)]
    upstream_queue_size: Option<u64>,
    /// Most upstream connections WebSocket (and other upgrade) tunnels hold at once,
    /// pending handshakes included; beyond, 503 at once (0 = half of
    /// --upstream-max-connections). [default: 0; config: gateway.upstream_max_tunnels]
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = parse_size)]
    upstream_max_tunnels: Option<u64>,
    /// Seconds a request may wait for an upstream connection before it is answered 503. [default: 10; config: gateway.upstream_queue_timeout]
    #[arg(long, value_name = "SECS", allow_hyphen_values = true,
          value_parser = parse_secs)]
    upstream_queue_timeout: Option<u64>,
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

/// A number of bytes, read as the `gateway:` keys are ([`gateway::parse_bytes`]): digits
/// and an optional unit, `k`/`m`/`g` and `KiB`/`MiB`/`GiB` binary, `kB`/`MB`/`GB` decimal.
fn parse_bytes(s: &str) -> Result<u64, String> {
    if s.trim_start().starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    gateway::parse_bytes(s).ok_or_else(|| {
        "not a number of bytes: digits and an optional unit, k, m, g or KiB, MiB, GiB \
         (binary), kB, MB, GB (decimal), e.g. 10m, 10MiB, 10MB"
            .to_owned()
    })
}

/// A number of bytes, at least 1.
fn parse_positive_bytes(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        0 => Err("must be at least 1 byte".to_owned()),
        n => Ok(n),
    }
}

impl BufferingArgs {
    /// These settings on top of `options`: a flag beats the `gateway:` key of the file
    /// (its `HARDENED_GATEWAY_*` variable already beats the file), which beats the
    /// default.
    fn apply(
        &self,
        options: GatewayOptions,
        file: &GatewayConfig,
    ) -> Result<GatewayOptions, CliError> {
        let usize_of = |flag: &str, n: u64| {
            usize::try_from(n)
                .map_err(|_| CliError::Message(format!("--{flag} {n}: too large for this machine")))
        };
        let d = GatewayOptions::default();
        let secs = |flag: Option<u64>, file: Option<Duration>, default: Duration| {
            flag.map(Duration::from_secs).or(file).unwrap_or(default)
        };
        let unbuffered: Vec<String> = if self.unbuffered_request_paths.is_empty() {
            file.unbuffered_request_paths.clone().unwrap_or_default()
        } else {
            self.unbuffered_request_paths.clone()
        };
        for p in &unbuffered {
            if !p.starts_with('/') {
                return Err(CliError::Message(format!(
                    "--unbuffered-request-path {p:?}: a path pattern starts with /"
                )));
            }
        }
        let mut options = options
            .with_request_buffering(
                self.request_buffering
                    .map(Switch::on)
                    .or(file.request_buffering)
                    .unwrap_or(d.request_buffering),
            )
            .with_unbuffered_request_paths(unbuffered)
            .with_client_max_body_size(
                self.client_max_body_size
                    .or(file.client_max_body_size)
                    .unwrap_or(d.client_max_body_size),
            )
            .with_client_body_buffer_size(
                match self
                    .client_body_buffer_size
                    .or(file.client_body_buffer_size)
                {
                    Some(n) => usize_of("client-body-buffer-size", n)?,
                    None => d.client_body_buffer_size,
                },
            )
            .with_client_body_timeout(secs(
                self.client_body_timeout,
                file.client_body_timeout,
                d.client_body_timeout,
            ))
            .with_response_buffering(
                self.response_buffering
                    .map(Switch::on)
                    .or(file.response_buffering)
                    .unwrap_or(d.response_buffering),
            )
            .with_response_buffer_size(
                match self.response_buffer_size.or(file.response_buffer_size) {
                    Some(n) => usize_of("response-buffer-size", n)?,
                    None => d.response_buffer_size,
                },
            )
            .with_max_temp_file_size(
                self.max_temp_file_size
                    .or(file.max_temp_file_size)
                    .unwrap_or(d.max_temp_file_size),
            )
            .with_send_timeout(secs(self.send_timeout, file.send_timeout, d.send_timeout))
            .with_upstream_max_connections(
                match self
                    .upstream_max_connections
                    .or(file.upstream_max_connections)
                {
                    Some(n) => usize_of("upstream-max-connections", n)?,
                    None => d.upstream_max_connections,
                },
            )
            .with_upstream_max_connections_per_client(
                match self
                    .upstream_max_connections_per_client
                    .or(file.upstream_max_connections_per_client)
                {
                    Some(n) => usize_of("upstream-max-connections-per-client", n)?,
                    None => d.upstream_max_connections_per_client,
                },
            )
            .with_upstream_queue_size(
                match self.upstream_queue_size.or(file.upstream_queue_size) {
                    Some(n) => usize_of("upstream-queue-size", n)?,
                    None => d.upstream_queue_size,
                },
            )
            .with_upstream_queue_timeout(secs(
                self.upstream_queue_timeout,
                file.upstream_queue_timeout,
                d.upstream_queue_timeout,
            ))
            .with_upstream_max_tunnels(
                match self.upstream_max_tunnels.or(file.upstream_max_tunnels) {
                    Some(n) => usize_of("upstream-max-tunnels", n)?,
                    None => d.upstream_max_tunnels,
                },
            );
        if let Some(dir) = self.temp_dir.as_ref().or(file.temp_dir.as_ref()) {
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

/// The `gateway:` settings of a config as `(gateway.key, value)` pairs: they are read
/// once at start-up, so a reload reports a changed one as needing a restart. Paths
/// only for TLS (never key material).
pub(super) fn restart_only(g: &GatewayConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |key: &str, value: String| out.push((format!("gateway.{key}"), value));
    push("listen", format!("{:?}", g.listen));
    push("upstream", format!("{:?}", g.upstream));
    push("upstream_timeout", format!("{:?}", g.upstream_timeout));
    push(
        "header_read_timeout",
        format!("{:?}", g.header_read_timeout),
    );
    push("idle_timeout", format!("{:?}", g.idle_timeout));
    push("tls", format!("{:?}", g.tls));
    push("listen_http", format!("{:?}", g.listen_http));
    push("admin_listen", format!("{:?}", g.admin_listen));
    push("log_format", format!("{:?}", g.log_format));
    push("request_buffering", format!("{:?}", g.request_buffering));
    push(
        "unbuffered_request_paths",
        format!("{:?}", g.unbuffered_request_paths),
    );
    push(
        "client_max_body_size",
        format!("{:?}", g.client_max_body_size),
    );
    push(
        "client_body_buffer_size",
        format!("{:?}", g.client_body_buffer_size),
    );
    push(
        "client_body_timeout",
        format!("{:?}", g.client_body_timeout),
    );
    push("response_buffering", format!("{:?}", g.response_buffering));
    push(
        "response_buffer_size",
        format!("{:?}", g.response_buffer_size),
    );
    push("max_temp_file_size", format!("{:?}", g.max_temp_file_size));
    push("send_timeout", format!("{:?}", g.send_timeout));
    push("temp_dir", format!("{:?}", g.temp_dir));
    push(
        "upstream_max_connections",
        format!("{:?}", g.upstream_max_connections),
    );
    push(
        "upstream_max_connections_per_client",
        format!("{:?}", g.upstream_max_connections_per_client),
    );
    push(
        "upstream_queue_size",
        format!("{:?}", g.upstream_queue_size),
    );
    push(
        "upstream_max_tunnels",
        format!("{:?}", g.upstream_max_tunnels),
    );
    push("workers", format!("{:?}", g.workers));
    push("csp_nonce_header", format!("{:?}", g.csp_nonce_header));
    push(
        "upstream_queue_timeout",
        format!("{:?}", g.upstream_queue_timeout),
    );
    out
}

/// The address `serve` listens on without `--listen` or `gateway.listen`.
pub(crate) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8000);

/// What `serve` runs with: each setting from its flag, else the environment's
/// `HARDENED_GATEWAY_*` variable or the config file's `gateway:` section (the loader
/// has already put the variable over the file), else the default.
pub(super) struct Settings {
    pub(super) listen: SocketAddr,
    pub(super) upstream: Option<String>,
    pub(super) options: GatewayOptions,
    /// The certificate and key files, and where they were named (for messages).
    pub(super) tls: Option<(PathBuf, PathBuf, &'static str)>,
    pub(super) listen_http: Option<SocketAddr>,
    pub(super) admin_listen: Option<SocketAddr>,
    pub(super) log_format: LogFormat,
    pub(super) access_log: bool,
}

impl Settings {
    pub(super) fn new(args: &Args, file: &GatewayConfig) -> Result<Settings, CliError> {
        let secs = |flag: Option<u64>| flag.map(|s| Duration::from_secs(s.max(1)));
        let defaults = GatewayOptions::default();
        let options = GatewayOptions::default()
            .with_upstream_timeout(
                secs(args.upstream_timeout)
                    .or(file.upstream_timeout)
                    .unwrap_or(defaults.upstream_timeout),
            )
            .with_header_read_timeout(
                secs(args.header_read_timeout)
                    .or(file.header_read_timeout)
                    .unwrap_or(defaults.header_read_timeout),
            )
            .with_idle_timeout(
                secs(args.idle_timeout)
                    .or(file.idle_timeout)
                    .unwrap_or(defaults.idle_timeout),
            )
            .with_workers(match args.workers.map(u64::from).or(file.workers) {
                Some(n) => usize::try_from(n).unwrap_or(1),
                None => std::thread::available_parallelism().map_or(1, usize::from),
            });
        let tls = match (&args.tls.tls_cert, &args.tls.tls_key, &file.tls) {
            (Some(c), Some(k), _) => Some((c.clone(), k.clone(), "--tls-cert/--tls-key")),
            (None, None, Some(t)) => Some((t.cert.clone(), t.key.clone(), "gateway.tls")),
            _ => None,
        };
        let mut options = args.buffering.apply(options, file)?;
        if let Some(name) = &file.csp_nonce_header {
            // Checked by the configuration (gateway.csp_nonce_header).
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                CliError::Message(format!(
                    "gateway.csp_nonce_header {name:?}: not a header name"
                ))
            })?;
            options = options.with_csp_nonce_header(name);
        }
        let listen_http = args.tls.listen_http.or(file.listen_http);
        if let Some(addr) = listen_http
            && tls.is_none()
        {
            return Err(CliError::Message(format!(
                "--listen-http {addr}: a plain listener goes beside a TLS one; give --tls-cert and --tls-key (or gateway.tls)"
            )));
        }
        Ok(Settings {
            listen: args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN),
            upstream: args.upstream.clone().or_else(|| file.upstream.clone()),
            options,
            tls,
            listen_http,
            admin_listen: args.admin_listen.or(file.admin_listen),
            log_format: args
                .log_format
                .or(file.log_format.map(|f| match f {
                    hardened::config::LogFormat::Json => LogFormat::Json,
                    _ => LogFormat::Text,
                }))
                .unwrap_or(LogFormat::Text),
            access_log: args.access_log,
        })
    }
}

/// `--upstream URL`, checked by the gateway and worded for the command line.
pub(super) fn parse_upstream(u: &str) -> Result<Upstream, CliError> {
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
