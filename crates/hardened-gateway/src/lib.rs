//! # hardened-gateway
//!
//! A reverse proxy that puts a [`hardened`] security policy in front of any HTTP
//! service: every request is judged by [`Security::layer`] (hosts, CORS, CSRF, TLS
//! redirect) before it is forwarded, and every answer leaves with the policy's headers
//! and cookie attributes.
//!
//! - [`Gateway`]: the policy in front of an [`Upstream`] HTTP service (a proxy);
//! - [`Server`]: the same accept loop, connection settings and graceful shutdown in front
//!   of any tower service of yours (the gateway is a [`Server`] serving the proxy);
//! - [`GatewayOptions`]: timeouts and limits shared by both.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use hardened::{config::Config, probe::RuntimeProbe, Security};
//! use hardened_gateway::{Gateway, GatewayOptions};
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use tokio::net::TcpListener;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A tiny upstream on 127.0.0.1.
//! let upstream = TcpListener::bind("127.0.0.1:0").await?;
//! let upstream_url = format!("http://{}", upstream.local_addr()?);
//! let upstream_task = tokio::spawn(async move {
//!     while let Ok((stream, _)) = upstream.accept().await {
//!         let svc = hyper::service::service_fn(|_req| async {
//!             Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         tokio::spawn(
//!             hyper::server::conn::http1::Builder::new()
//!                 .serve_connection(TokioIo::new(stream), svc),
//!         );
//!     }
//! });
//!
//! // The gateway in front of it, on 127.0.0.1 too.
//! let security = Security::from_config(&Config::development(), &RuntimeProbe::none())?;
//! let gateway = Gateway::new(
//!     security,
//!     upstream_url.parse()?,
//!     GatewayOptions::default().with_upstream_timeout(std::time::Duration::from_secs(5)),
//! );
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(gateway.serve(listener, async {
//!     let _ = stopped.await;
//! }));
//!
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
//! let resp = client.get(format!("http://{addr}/").parse()?).await?;
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
//! assert_eq!(resp.into_body().collect().await?.to_bytes(), "hello");
//!
//! // Stop: `serve` returns once the open connections are drained.
//! drop(client);
//! let _ = stop.send(());
//! serving.await?;
//! upstream_task.abort();
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! A request goes `server` (connection tracking, the peer address) → the library's
//! [`SecurityLayer`](hardened::SecurityLayer), the one place the policy runs (with the
//! gateway's [`Policy`] as its policy source and `observe` as its observer) →
//! `forward` (the proxy) → `pool` → the upstream.
//!
//! - `options`: [`GatewayOptions`], made from a configuration's `gateway:` settings by
//!   [`GatewayOptions::from_config`] (each setting is described once, in the library's
//!   [`hardened::config::gateway::SETTINGS`], and read by the loader whether a file, a
//!   variable or a flag gave it); `upstream`: the [`Upstream`] URL, checked by the
//!   library's [`check_upstream`](hardened::config::gateway::check_upstream);
//! - `workers`: thread-per-core serving ([`GatewayOptions::workers`]): threads with
//!   their own single-threaded runtimes accepting on one listening socket;
//! - `server`: the accept loop, the per-connection HTTP/1.1 and HTTP/2 settings and
//!   timeouts, the peer address and the security layer in front of the proxy, graceful
//!   shutdown;
//! - `forward`: proxying one request: method and target checks, hop-by-hop headers,
//!   HTTP/2 cookie crumbs, `X-Forwarded-For`/`-Proto`, the upstream URI, the body and
//!   response buffering of each request, and mapping failures to 408/413/502/503/504/507;
//! - `buffer`: request bodies read completely first (memory, then an unlinked temporary
//!   file; size limit, timeout between reads), responses read from the upstream as fast
//!   as it sends them and fed to the client at its pace, the client send timeout;
//! - `h1`: the HTTP/1.1 upstream client: an owned connection polled by the request
//!   that uses it (no task, no channel), strict framing, limits on what the upstream
//!   sends;
//! - `pool`: the upstream connections: a keep-alive pool shared by every client, capped
//!   globally and per client connection, with a bounded queue;
//! - `scrub`: headers that must not cross the gateway as they came: hop-by-hop headers
//!   both ways; forwarding, scheme and client-IP headers from untrusted peers in every
//!   spelling, and from everyone header names with `_`, URL overrides and `Proxy`; an
//!   upstream's CORS grants the policy did not make;
//! - `reply`: the gateway's own short answers (400, 405, 413, 502, 503, 504, ...);
//! - `target`: the upstream path: dot segments (raw or `%2e`) resolved inside the
//!   upstream's base path; paths above the root or hiding dots behind `%2f`, `\`,
//!   `%5c` or `;` refused;
//! - `timeout`: the deadline of each client connection (header read from accept, idle
//!   between requests) and the count of its requests in flight;
//! - `websocket`: HTTP/1.1 `Upgrade` requests (WebSockets) the policy allowed: ordinary
//!   requests until the upstream switches protocols, then tunnelled both ways with an
//!   idle timeout, their upstream connection counted under the pool's cap;
//! - `observe`: the security layer's observer: the `X-Request-Id`, the metrics, the
//!   access log, and the decision handed to the proxy;
//! - [`reload`]: the swappable [`Policy`] and its [`Reloader`] (SIGHUP, file changes
//!   including Kubernetes ConfigMap symlink swaps; a bad new config keeps the old one);
//! - [`metrics`]: the Prometheus metrics, lock-free on the request path;
//! - [`admin`]: the admin listener: `/healthz`, `/readyz`, `/metrics`;
//! - [`tls`]: direct TLS termination (rustls, TLS 1.2 and 1.3, ALPN h2/http1.1), the
//!   certificate reloaded in place, and the plain listener's redirect port.
#![warn(clippy::expect_used, clippy::indexing_slicing)]

pub mod admin;
mod buffer;
mod forward;
mod h1;
pub mod metrics;
mod nonce;
mod observe;
mod options;
mod pool;
pub mod reload;
mod reply;
mod reports;
mod scrub;
mod server;
mod target;
mod timeout;
pub mod tls;
mod upstream;
mod websocket;
mod workers;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use hardened::Security;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::net::TcpListener;

pub use admin::Admin;
pub use metrics::Metrics;
pub use options::GatewayOptions;
pub use reload::{Policy, Reloader};
pub use server::Server;
pub use tls::{Tls, TlsError};
pub use upstream::{Upstream, UpstreamError, parse_upstream};

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use h1::fuzz::h1_response as fuzz_h1_response;

/// A boxed error, as carried by [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of the proxy: the upstream's body, streamed, or the gateway's own
/// short text answer.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// The policy in front of an upstream HTTP service: a [`Server`] whose every connection
/// forwards what the policy allows to the [`Upstream`].
///
/// Slow clients never hold the upstream: a request body is read completely before the
/// upstream sees the request, and a response is read from the upstream as fast as it
/// sends it and fed to the client at the client's pace (see [`GatewayOptions`] for the
/// limits, and the streaming exceptions). Upstream connections (HTTP/1.1) are kept alive
/// and shared by every client, under [`GatewayOptions::upstream_max_connections`] and
/// [`GatewayOptions::upstream_max_connections_per_client`]; a request at a cap waits at
/// most [`GatewayOptions::upstream_queue_timeout`], then gets a 503. Forged forwarding headers from peers the policy does not trust as
/// proxies are removed; `X-Forwarded-For` and `X-Forwarded-Proto` are set. An upstream
/// that cannot be reached is a 502, one that does not answer within
/// [`GatewayOptions::upstream_timeout`] a 504.
///
/// WebSockets (any HTTP/1.1 `Upgrade` but `h2c`) pass through: the handshake goes to
/// the upstream on a fresh connection, and once the upstream switches protocols bytes
/// are copied both ways until either side closes or nothing passes for
/// [`GatewayOptions::websocket_idle_timeout`]. See the [crate docs](crate) for an
/// example.
#[derive(Clone, Debug)]
pub struct Gateway {
    server: Server,
    proxy: Arc<forward::Proxy>,
}

impl Gateway {
    /// A gateway enforcing `security` in front of `upstream`.
    pub fn new(security: Security, upstream: Upstream, options: GatewayOptions) -> Gateway {
        Gateway::with_policy(Policy::new(security), upstream, options)
    }

    /// A gateway enforcing the [`Policy`] in force when each request arrives: replace
    /// it (e.g. with a [`Reloader`]) and the next requests follow, while requests in
    /// flight finish under the one they started with.
    pub fn with_policy(policy: Policy, upstream: Upstream, options: GatewayOptions) -> Gateway {
        let proxy = Arc::new(forward::Proxy::new(upstream, &options));
        Gateway {
            server: Server::with_policy(policy, options),
            proxy,
        }
    }

    /// The policy it enforces.
    pub fn policy(&self) -> &Policy {
        self.server.policy()
    }

    /// Records requests, rejections, upstream failures, durations and open connections
    /// in `metrics` (see [`Metrics`]; serve them with an [`Admin`] listener).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Gateway {
        metrics.attach_reports(self.proxy.reports.collector().clone());
        self.server = self.server.with_metrics(metrics);
        self
    }

    /// Logs one line per request (target `hardened::access`, level `info`).
    #[must_use]
    pub fn with_access_log(mut self, on: bool) -> Gateway {
        self.server = self.server.with_access_log(on);
        self
    }

    /// The upstream it forwards to.
    pub fn upstream(&self) -> &Upstream {
        self.proxy.upstream()
    }

    /// Serves TLS on the listener: see [`Server::with_tls`].
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Gateway {
        self.server = self.server.with_tls(tls);
        self
    }

    /// Points the policy's https redirects at the TLS listener's port: see
    /// [`Server::with_https_redirect_port`].
    #[must_use]
    pub fn with_https_redirect_port(mut self, port: u16) -> Gateway {
        self.server = self.server.with_https_redirect_port(port);
        self
    }

    /// Serves connections accepted on `listener` until `shutdown` completes, then stops
    /// accepting and returns once the open connections are done (or after
    /// [`GatewayOptions::drain_timeout`]).
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F)
    where
        F: Future<Output = ()>,
    {
        let proxy = self.proxy;
        let reports = proxy.reports.collector().clone();
        let tunnels = proxy.tunnels().clone();
        let shutdown = async {
            shutdown.await;
            tunnels.shutdown();
        };
        let workers = self.server.options().workers;
        // The upstream's time is for the access log only.
        let timed = self.server.access_log();
        if workers > 1 {
            let server = self.server;
            workers::serve(
                listener,
                workers,
                |_| {
                    let server = server.clone();
                    let proxy = proxy.clone();
                    move |listener, stop| {
                        server.serve_with(listener, move |peer| proxy.connection(peer, timed), stop)
                    }
                },
                shutdown,
            )
            .await;
        } else {
            self.server
                .serve_with(
                    listener,
                    move |peer| proxy.connection(peer, timed),
                    shutdown,
                )
                .await;
        }
        // Upgraded connections (WebSockets) get the same drain timeout.
        tunnels.closed().await;
        // The log accounts for every report received, the last windows' repeats too.
        reports.flush();
    }
}
