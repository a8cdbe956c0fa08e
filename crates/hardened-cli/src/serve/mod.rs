//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app. The serving itself is `hardened_gateway`'s.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hardened::Security;
use hardened_gateway::reload::Reloaded;
use hardened_gateway::{
    Admin, Gateway, GatewayOptions, Metrics, Policy, Reloader, Server, Tls, Upstream,
};

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::demo;
use crate::logging;

mod settings;

use settings::{GatewayFlags, Settings};

/// Arguments of `hardened serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Log one line per request: method, path, status, bytes, duration, upstream time,
    /// peer, request id.
    #[arg(long)]
    access_log: bool,
    /// The `gateway:` settings, one flag each (`--listen`, `--upstream`, `--workers`,
    /// ...): made from the library's table of settings.
    #[command(flatten)]
    gateway: GatewayFlags,
}

/// Runs `hardened serve`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    // The flags are the top layer of every load, the reloads' included.
    let flags = std::sync::Arc::new(args.gateway.clone());
    let loaded = flags
        .apply(common::loader(args.config.config.as_deref()))
        .load()?;
    let probe = common::probe_machine();
    let security = Security::gateway_from_config(&loaded.config, &probe)?;
    let settings = Settings::new(&loaded.config, args.access_log)?;
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
    // The file the gateway started from must still be there on a reload: without
    // `--config`, a `config.yaml` found at start is required from then on, so that
    // moving it away is a failed reload (the running policy stays), never a fall back
    // to the built-in development defaults.
    let config_path = config_path.or_else(|| {
        let default = std::path::PathBuf::from("config.yaml");
        loaded.files.contains(&default).then_some(default)
    });
    let environment = loaded.config.environment;
    // Every file the running policy came from (overlay and `.env` included): one that
    // is gone at a reload fails it, as a moved `config.yaml` does; a deleted overlay
    // or `.env` must not quietly drop `ssl_redirect`, HSTS or a domain.
    let started_from: Vec<std::path::PathBuf> =
        loaded.files.iter().chain(&loaded.dotenv).cloned().collect();
    let load = move || -> Result<Reloaded, hardened::config::ConfigErrors> {
        let gone: Vec<hardened::config::Problem> = started_from
            .iter()
            .filter(|f| !f.exists())
            .map(|f| {
                hardened::config::Problem::new(
                    hardened::config::ProblemKind::UnreadableFile,
                    f.display().to_string(),
                    "a file the running configuration was loaded from is gone; a reload without it could weaken the policy",
                    "restore the file, or restart the gateway to run without it",
                )
            })
            .collect();
        if !gone.is_empty() {
            return Err(hardened::config::ConfigErrors(gone));
        }
        let loaded = flags.apply(common::loader(config_path.as_deref())).load()?;
        // A running gateway never changes environment (production to development
        // would drop HSTS, Secure cookies and the strict CORS list at once, whatever
        // the cause: a moved file, an edited `environment:`, a changed variable).
        if loaded.config.environment != environment {
            return Err(hardened::config::ConfigErrors(vec![
                hardened::config::Problem::new(
                    hardened::config::ProblemKind::EnvironmentChanged,
                    "environment",
                    format!(
                        "the configuration now runs in {} but the gateway runs in {}; an environment change is not applied by a reload",
                        loaded.config.environment.as_str(),
                        environment.as_str()
                    ),
                    "restart the gateway to change its environment, or restore the environment in the configuration",
                )
                .with_value(loaded.config.environment.as_str()),
            ]));
        }
        Ok(Reloaded {
            security: Security::gateway_from_config(&loaded.config, &probe)?,
            // The `gateway:` settings shape listeners, timeouts and buffers that are
            // set up once: a change is reported as needing a restart, never applied.
            restart_only: loaded.config.gateway.restart_only(),
        })
    };
    let initial_restart_only = loaded.config.gateway.restart_only();
    let upstream = settings.upstream.clone();
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
    // Before anyone can be told the server is up.
    let signals = ShutdownSignal::install();
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
        signals.recv().await;
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
            let start = policy.current();
            let reports = hardened::reports::ReportsService::for_security(&start);
            let app = demo::with_reports(start, reports.clone());
            let mut server = Server::with_policy(policy, options).with_access_log(access_log);
            if let Some(m) = metrics {
                if let Some(r) = &reports {
                    m.attach_reports(r.collector().clone());
                }
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
            if let Some(r) = &reports {
                r.collector().flush();
            }
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

/// Ctrl-c and SIGTERM, listened for from the moment [`ShutdownSignal::install`]
/// returns: a signal that comes before anything awaits it is kept, never the default
/// action (which would kill the process without draining).
struct ShutdownSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Installs the handlers. Also installs the SIGHUP one, so a SIGHUP sent before the
    /// reloader listens is not fatal either.
    fn install() -> ShutdownSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // Registration fails only when the OS refuses a signal handler; the
            // default action then stays, as without this.
            let listen = |kind: SignalKind| signal(kind).ok();
            drop(listen(SignalKind::hangup()));
            ShutdownSignal {
                term: listen(SignalKind::terminate()),
                interrupt: listen(SignalKind::interrupt()),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignal {}
    }

    /// Completes on the first ctrl-c or SIGTERM.
    async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.term) => {}
                () = next(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
