//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app. The serving itself is `hardened_gateway`'s.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hardened::Security;
use hardened::config::GatewayConfig;
use hardened_gateway::{Gateway, GatewayOptions, Server, Tls, Upstream, UpstreamError};

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::demo;

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

/// Runs `hardened serve`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let security = Security::from_config(&loaded.config, &common::probe_machine())?;
    let settings = Settings::new(args, &loaded.config.gateway)?;
    let upstream = match &settings.upstream {
        Some(u) => Some(parse_upstream(u)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(security, &settings, upstream, out))
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
}

impl Settings {
    fn new(args: &Args, file: &GatewayConfig) -> Result<Settings, CliError> {
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
            );
        let tls = match (&args.tls.tls_cert, &args.tls.tls_key, &file.tls) {
            (Some(c), Some(k), _) => Some((c.clone(), k.clone(), "--tls-cert/--tls-key")),
            (None, None, Some(t)) => Some((t.cert.clone(), t.key.clone(), "gateway.tls")),
            _ => None,
        };
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
            UpstreamError::NotAbsolute { .. } => {
                format!("--upstream {u:?}: give an absolute URL such as http://127.0.0.1:9000")
            }
            other => format!("--upstream: {other}"),
        })
    })
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

async fn serve(
    security: Security,
    settings: &Settings,
    upstream: Option<Upstream>,
    out: &mut dyn Write,
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
    if let Some(p) = &plain {
        writeln!(
            out,
            "hardened: listening on http://{} (plain HTTP beside https port {})",
            p.local_addr()?,
            local.port()
        )?;
    }
    out.flush()?;
    tracing_init();

    // One shutdown for every listener.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let reload = tls.clone().map(|t| tokio::spawn(reload_tls(t)));

    let options = settings.options.clone();
    let https_port = local.port();
    match upstream {
        Some(u) => {
            let gateway = Gateway::new(security, u, options);
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
            let app = demo::service(security.clone());
            let server = Server::new(security, options);
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
    if let Some(r) = reload {
        r.abort();
    }
    Ok(ExitCode::SUCCESS)
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
