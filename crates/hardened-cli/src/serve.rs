//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app. The serving itself is `hardened_gateway`'s.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hardened::Security;
use hardened::config::GatewayConfig;
use hardened_gateway::reload::Reloaded;
use hardened_gateway::{
    Admin, Gateway, GatewayOptions, Metrics, Policy, Reloader, Server, Tls, Upstream, UpstreamError,
};

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::demo;
use crate::logging::{self, LogFormat};

/// Arguments of `hardened serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on (HTTPS with --tls-cert) [default: 127.0.0.1:8000; config:
    /// gateway.listen].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Forward allowed requests to this service (gateway mode), e.g. http://127.0.0.1:9000
    /// [config: gateway.upstream].
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Seconds to wait for the upstream's response headers before answering 504
    /// [default: 30; config: gateway.upstream_timeout].
    #[arg(long, value_name = "SECS")]
    upstream_timeout: Option<u64>,
    /// Seconds a client may take to send its request head, TLS handshake included, from
    /// accept (slow-loris protection) [default: 30; config: gateway.header_read_timeout].
    #[arg(long, value_name = "SECS")]
    header_read_timeout: Option<u64>,
    /// Seconds a connection with no request in flight stays open [default: 75; config:
    /// gateway.idle_timeout].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: Option<u64>,
    /// Serve /healthz, /readyz and /metrics on this address (off by default; never on
    /// --listen), e.g. 127.0.0.1:9901.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// Log format on stderr: text (no colours unless stderr is a terminal) or json (one
    /// object per line).
    /// [default: text; config: gateway.log_format]
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Log one line per request: method, path, status, bytes, duration, upstream time,
    /// peer, request id.
    #[arg(long)]
    access_log: bool,
    /// Worker threads, each with its own event loop accepting on --listen, as nginx's
    /// worker processes [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    #[command(flatten)]
    buffering: BufferingArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Direct TLS (see `hardened_gateway::Tls`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Direct TLS")]
struct TlsArgs {
    /// Serve HTTPS on --listen with this PEM certificate chain (leaf first); reloaded on
    /// SIGHUP and when the file changes [config: gateway.tls.cert].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (RSA, ECDSA or Ed25519) [config:
    /// gateway.tls.key].
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also listen for plain HTTP here: with `ssl_redirect: true` it answers 301 to the
    /// https URL (health-check paths are served) [config: gateway.listen_http].
    #[arg(long, value_name = "ADDR")]
    listen_http: Option<SocketAddr>,
}

/// Request and response buffering and upstream connection limits of the gateway (see
/// `hardened_gateway::GatewayOptions` for what each does).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Buffering and upstream connections (gateway mode)")]
struct BufferingArgs {
    /// Read request bodies completely before forwarding (off: stream them). [default: on; config: gateway.request_buffering]
    #[arg(long, value_name = "on|off")]
    request_buffering: Option<Switch>,
    /// Stream request bodies to the upstream for this path pattern (repeatable):
    /// `/upload`, `/upload/*`, `/u/{id}/file`. [config: gateway.unbuffered_request_paths]
    #[arg(long = "unbuffered-request-path", value_name = "PATTERN")]
    unbuffered_request_paths: Vec<String>,
    /// Largest request body; larger ones are answered 413 (0 = unlimited). Suffixes
    /// k, m, g (KiB, MiB, GiB). [default: 10m; config: gateway.client_max_body_size]
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
            ));
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

/// Runs `hardened serve`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let probe = common::probe_machine();
    let security = Security::from_config(&loaded.config, &probe)?;
    let settings = Settings::new(args, &loaded.config.gateway)?;
    if settings.admin_listen == Some(settings.listen) && settings.listen.port() != 0 {
        return Err(CliError::Message(format!(
            "--admin-listen {}: the admin listener needs an address of its own, not --listen's",
            settings.listen
        )));
    }
    // Reloads read the same files (and overlay and .env beside them) with the same
    // runtime probe.
    let config_path = args.config.config.clone();
    let watch_dir = config_path
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let load = move || -> Result<Reloaded, hardened::config::ConfigErrors> {
        let loaded = common::loader(config_path.as_deref()).load()?;
        Ok(Reloaded {
            security: Security::from_config(&loaded.config, &probe)?,
            // The `gateway:` settings shape listeners, timeouts and buffers that are
            // set up once: a change is reported as needing a restart, never applied.
            restart_only: restart_only(&loaded.config.gateway),
        })
    };
    let initial_restart_only = restart_only(&loaded.config.gateway);
    let upstream = match &settings.upstream {
        Some(u) => Some(parse_upstream(u)?),
        None => None,
    };
    // With several workers (threads with their own event loops) serving the listeners,
    // one thread is plenty for the rest: signals, reloads, the admin listener.
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if settings.options.workers > 1 {
        rt.worker_threads(1);
    }
    let rt = rt
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the runtime: {e}")))?;
    let options = settings.options.clone();
    let reason = loaded.environment_reason().to_string();
    rt.block_on(serve(
        security,
        &reason,
        &settings,
        upstream,
        options,
        out,
        ReloadFrom {
            load: Box::new(load),
            watch_dir,
            initial_restart_only,
        },
    ))
}

/// The `gateway:` settings of a config as `(gateway.key, value)` pairs: they are read
/// once at start-up, so a reload reports a changed one as needing a restart. Paths
/// only for TLS (never key material).
fn restart_only(g: &GatewayConfig) -> Vec<(String, String)> {
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
struct Settings {
    listen: SocketAddr,
    upstream: Option<String>,
    options: GatewayOptions,
    /// The certificate and key files, and where they were named (for messages).
    tls: Option<(PathBuf, PathBuf, &'static str)>,
    listen_http: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    log_format: LogFormat,
    access_log: bool,
}

impl Settings {
    fn new(args: &Args, file: &GatewayConfig) -> Result<Settings, CliError> {
        let secs = |flag: Option<u64>| flag.map(|s| Duration::from_secs(s.max(1)));
        let defaults = GatewayOptions::default();
        let options =
            GatewayOptions::default()
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
                .with_workers(args.workers.map(usize::from).unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, usize::from)
                }));
        let tls = match (&args.tls.tls_cert, &args.tls.tls_key, &file.tls) {
            (Some(c), Some(k), _) => Some((c.clone(), k.clone(), "--tls-cert/--tls-key")),
            (None, None, Some(t)) => Some((t.cert.clone(), t.key.clone(), "gateway.tls")),
            _ => None,
        };
        let options = args.buffering.apply(options, file)?;
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

/// Where reloads read the configuration from.
struct ReloadFrom {
    load: Box<dyn Fn() -> Result<Reloaded, hardened::config::ConfigErrors> + Send + Sync>,
    watch_dir: std::path::PathBuf,
    /// The `gateway:` settings the process started with.
    initial_restart_only: Vec<(String, String)>,
}

async fn serve(
    security: Security,
    reason: &str,
    settings: &Settings,
    upstream: Option<Upstream>,
    options: GatewayOptions,
    out: &mut dyn Write,
    reload: ReloadFrom,
) -> Result<ExitCode, CliError> {
    let tls = match &settings.tls {
        Some((cert, key, named)) => Some(
            Tls::from_pem_files(cert, key)
                .map_err(|e| CliError::Message(format!("{named}: {e}")))?,
        ),
        None => None,
    };
    let listener = bind(settings.listen, "--listen").await?;
    let plain = match settings.listen_http {
        Some(addr) => Some(bind(addr, "--listen-http").await?),
        None => None,
    };
    let local = listener.local_addr()?;
    let admin_listener = match settings.admin_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::Message(format!(
                "cannot listen on {addr} (--admin-listen): {e}; choose another address"
            ))
        })?),
        None => None,
    };
    writeln!(
        out,
        "hardened: listening on {}://{local} ({}, {})",
        if tls.is_some() { "https" } else { "http" },
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
    if let Some(p) = &plain {
        writeln!(
            out,
            "hardened: listening on http://{} (plain HTTP beside https port {})",
            p.local_addr()?,
            local.port()
        )?;
    }
    if let Some(a) = &admin_listener {
        writeln!(
            out,
            "hardened: admin on http://{} (/healthz, /readyz, /metrics)",
            a.local_addr()?
        )?;
    }
    out.flush()?;
    logging::init(settings.log_format, settings.access_log);
    let access_log = settings.access_log;

    let policy = Policy::new(security);
    let metrics = admin_listener.as_ref().map(|_| Arc::new(Metrics::new()));
    let mut reloader = Reloader::new(policy.clone(), reload.initial_restart_only, reload.load)
        .watch_dir(reload.watch_dir);
    if let Some(m) = &metrics {
        reloader = reloader.with_metrics(m.clone());
    }
    let (stop_side, stopped_side) = tokio::sync::watch::channel(());
    let side_shutdown = move || {
        let mut rx = stopped_side.clone();
        async move {
            let _ = rx.changed().await;
        }
    };
    let mut side = tokio::task::JoinSet::new();
    side.spawn(reloader.run(side_shutdown()));
    let mut admin = None;
    if let (Some(listener), Some(m)) = (admin_listener, &metrics) {
        let a = Admin::new(
            policy.clone(),
            m.clone(),
            upstream.as_ref().map(|u| u.addr().to_owned()),
        );
        side.spawn(a.clone().serve(listener, side_shutdown()));
        admin = Some(a);
    }
    // Not ready from the moment shutdown begins, while open requests drain. One
    // shutdown for every listener.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        if let Some(a) = &admin {
            a.draining();
        }
        let _ = stop.send(true);
    });
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let tls_reload = tls.clone().map(|t| tokio::spawn(reload_tls(t)));

    let https_port = local.port();
    match upstream {
        Some(u) => {
            let mut gateway = Gateway::with_policy(policy, u, options).with_access_log(access_log);
            if let Some(m) = metrics {
                gateway = gateway.with_metrics(m);
            }
            let main = match &tls {
                Some(t) => gateway.clone().with_tls(t.clone()),
                None => gateway.clone(),
            };
            let plain = plain.map(|p| {
                gateway
                    .with_https_redirect_port(https_port)
                    .serve(p, shutdown())
            });
            tokio::join!(main.serve(listener, shutdown()), maybe(plain));
        }
        None => {
            // The demo app shows the policy it was started with.
            let app = demo::service(policy.current());
            let mut server = Server::with_policy(policy, options).with_access_log(access_log);
            if let Some(m) = metrics {
                server = server.with_metrics(m);
            }
            let main = match &tls {
                Some(t) => server.clone().with_tls(t.clone()),
                None => server.clone(),
            };
            let plain = plain.map(|p| {
                server
                    .with_https_redirect_port(https_port)
                    .serve(p, app.clone(), shutdown())
            });
            tokio::join!(main.serve(listener, app, shutdown()), maybe(plain));
        }
    }
    if let Some(r) = tls_reload {
        r.abort();
    }
    let _ = stop_side.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while side.join_next().await.is_some() {}
    })
    .await;
    side.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "the port is taken; stop the other process or choose another with {flag} 127.0.0.1:PORT"
            )
        } else {
            format!("check the address given to {flag}")
        };
        CliError::Message(format!("cannot listen on {addr}: {e}; {hint}"))
    })
}

/// Runs `f` when there is one.
async fn maybe<F: std::future::Future<Output = ()>>(f: Option<F>) {
    if let Some(f) = f {
        f.await;
    }
}

/// Reloads the certificate on SIGHUP and when its files change; a refused one is
/// logged and the served one kept.
async fn reload_tls(tls: Tls) {
    let watch = tls
        .clone()
        .watch(hardened_gateway::tls::DEFAULT_WATCH_INTERVAL);
    #[cfg(unix)]
    tokio::join!(watch, tls.reload_on_sighup());
    #[cfg(not(unix))]
    watch.await;
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
