//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app. The serving itself is `hardened_gateway`'s.

use std::io::Write;
use std::net::SocketAddr;
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
    let reason = loaded.environment_reason().to_string();
    rt.block_on(serve(security, &reason, args, upstream, out))
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

    let options = GatewayOptions::default()
        .with_upstream_timeout(Duration::from_secs(args.upstream_timeout.max(1)))
        .with_header_read_timeout(Duration::from_secs(args.header_read_timeout.max(1)));
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
