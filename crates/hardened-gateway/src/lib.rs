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
//! - `server`: the accept loop, the per-connection HTTP/1.1 and HTTP/2 settings and
//!   timeouts, the security layer and the peer address, graceful shutdown;
//! - `forward`: proxying one request: method and target checks, hop-by-hop headers,
//!   HTTP/2 cookie crumbs, `X-Forwarded-For`/`-Proto`, the upstream URI, the upstream
//!   connection of each client connection, and mapping upstream failures to 502/504;
//! - `scrub`: request headers the upstream must not see as the client wrote them:
//!   forwarding, scheme and client-IP headers from untrusted peers in every spelling,
//!   and from everyone header names with `_`, URL overrides and `Proxy`;
//! - `target`: the upstream path: dot segments (raw or `%2e`) resolved inside the
//!   upstream's base path; paths above the root or hiding dots behind `%2f`, `\`,
//!   `%5c` or `;` refused;
//! - `timeout`: the deadline of each client connection (header read from accept, idle
//!   between requests) and the count of its requests in flight;
//! - `websocket`: HTTP/1.1 `Upgrade` requests (WebSockets) the policy allowed, passed to
//!   the upstream on a fresh connection and tunnelled both ways with an idle timeout.
//!
//! - [`tls`]: direct TLS termination (rustls, TLS 1.2 and 1.3, ALPN h2/http1.1), the
//!   certificate reloaded in place, and the plain listener's redirect port.
//!
//! Room is kept for these concerns, each in its own module when it arrives:
//!
//! - `buffer`: request and response buffering (memory, then temp files), body limits,
//!   and upstream connection bounds, so slow clients never hold the upstream;
//! - `admin`: the admin listener (health and readiness probes);
//! - `reload`: configuration, certificate and policy reload on SIGHUP and on file change,
//!   keeping the old policy when the new one is bad.
#![warn(clippy::expect_used, clippy::indexing_slicing)]

mod forward;
mod scrub;
mod server;
mod target;
mod timeout;
pub mod tls;
mod websocket;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::net::TcpListener;

pub use server::Server;
pub use tls::{Tls, TlsError};

/// A boxed error, as carried by [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of the proxy: the upstream's body, streamed, or the gateway's own
/// short text answer.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// Timeouts of a [`Gateway`] or a [`Server`]. Start from [`GatewayOptions::default`]
/// and change what you need:
///
/// ```
/// use std::time::Duration;
/// use hardened_gateway::GatewayOptions;
///
/// let options = GatewayOptions::default()
///     .with_upstream_timeout(Duration::from_secs(10))
///     .with_header_read_timeout(Duration::from_secs(5));
/// assert_eq!(options.upstream_timeout, Duration::from_secs(10));
/// assert_eq!(options.connect_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayOptions {
    /// How long the upstream may take to send its response headers before the client is
    /// answered 504 (default 30 s).
    pub upstream_timeout: Duration,
    /// How long connecting to the upstream may take (default 5 s); a failure is a 502.
    pub connect_timeout: Duration,
    /// How long a new connection may take to send its first complete request head
    /// (HTTP/1) or to open its first stream (HTTP/2, preface included), counted from
    /// accept, before it is closed: a connection that sends nothing, or only part of a
    /// head or of the HTTP/2 preface, holds a socket no longer than this (slow-loris
    /// protection; default 30 s). Later HTTP/1 request heads get as long once they begin.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight (an HTTP/1 keep-alive connection
    /// between requests, an HTTP/2 connection with no open stream) stays open, counted
    /// from the end of its last response (default 75 s, as nginx's
    /// `keepalive_timeout`). Requests in flight are never idle, however long they take.
    pub idle_timeout: Duration,
    /// How long a WebSocket (or any HTTP/1.1 `Upgrade`) tunnel may pass no byte in
    /// either direction before both sides are closed (default 300 s, as a typical
    /// HAProxy `timeout tunnel`).
    pub websocket_idle_timeout: Duration,
    /// Interval of HTTP/2 keep-alive pings to clients (default 60 s).
    pub http2_keep_alive_interval: Duration,
    /// How long open connections may keep running after shutdown is requested before
    /// they are closed (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            websocket_idle_timeout: Duration::from_secs(300),
            http2_keep_alive_interval: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl GatewayOptions {
    /// Sets [`upstream_timeout`](Self::upstream_timeout).
    #[must_use]
    pub fn with_upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`websocket_idle_timeout`](Self::websocket_idle_timeout).
    #[must_use]
    pub fn with_websocket_idle_timeout(mut self, timeout: Duration) -> Self {
        self.websocket_idle_timeout = timeout;
        self
    }

    /// Sets [`http2_keep_alive_interval`](Self::http2_keep_alive_interval).
    #[must_use]
    pub fn with_http2_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.http2_keep_alive_interval = interval;
        self
    }

    /// Sets [`drain_timeout`](Self::drain_timeout).
    #[must_use]
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }
}

/// The service a [`Gateway`] forwards to: an absolute `http://host[:port][/base]` URL.
/// Build it with [`parse_upstream`] or `str::parse`.
///
/// ```
/// use hardened_gateway::Upstream;
///
/// let up: Upstream = "http://127.0.0.1:9000/api".parse()?;
/// assert_eq!(up.to_string(), "http://127.0.0.1:9000/api");
/// assert!("https://127.0.0.1:9000".parse::<Upstream>().is_err());
/// # Ok::<(), hardened_gateway::UpstreamError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    uri: Uri,
    /// `host:port` to connect to.
    addr: String,
}

impl Upstream {
    /// The upstream URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The `host:port` the gateway connects to (port 80 when the URL has none).
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uri.fmt(f)
    }
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(s: &str) -> Result<Upstream, UpstreamError> {
        parse_upstream(s)
    }
}

/// Why an upstream URL was refused by [`parse_upstream`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Not a URL at all.
    #[error("upstream {input:?}: {source}")]
    Invalid {
        /// The text given.
        input: String,
        /// What the URL parser found.
        source: http::uri::InvalidUri,
    },
    /// An `https://` URL: the gateway speaks plain HTTP to a local or internal service.
    #[error(
        "upstream {input:?}: https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
    )]
    Https {
        /// The text given.
        input: String,
    },
    /// Not an absolute `http://host...` URL (no scheme, another scheme, or no host).
    #[error("upstream {input:?}: give an absolute URL such as http://127.0.0.1:9000")]
    NotAbsolute {
        /// The text given.
        input: String,
    },
}

/// Parses and checks an upstream URL: absolute, `http`, with a host.
///
/// # Errors
/// [`UpstreamError`] when the text is not a URL, is `https`, or is not an absolute
/// `http` URL.
pub fn parse_upstream(input: &str) -> Result<Upstream, UpstreamError> {
    let uri: Uri = input.parse().map_err(|source| UpstreamError::Invalid {
        input: input.to_owned(),
        source,
    })?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(Upstream {
            addr: upstream_addr(&uri),
            uri,
        }),
        (Some("https"), _) => Err(UpstreamError::Https {
            input: input.to_owned(),
        }),
        _ => Err(UpstreamError::NotAbsolute {
            input: input.to_owned(),
        }),
    }
}

/// `host:port` of an http upstream URI.
fn upstream_addr(u: &Uri) -> String {
    let host = u.host().unwrap_or("127.0.0.1");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = u.port_u16().unwrap_or(80);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The policy in front of an upstream HTTP service: a [`Server`] whose every connection
/// forwards what the policy allows to the [`Upstream`], streaming bodies both ways.
///
/// Each client connection gets its own upstream connection (HTTP/1.1), reused by its
/// requests in turn. Forged forwarding headers from peers the policy does not trust as
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
        let proxy = Arc::new(forward::Proxy::new(security.clone(), upstream, &options));
        Gateway {
            server: Server::new(security, options),
            proxy,
        }
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
        let tunnels = proxy.tunnels().clone();
        let shutdown = async {
            shutdown.await;
            tunnels.shutdown();
        };
        self.server
            .serve_with(listener, move |_peer| proxy.connection(), shutdown)
            .await;
        // Upgraded connections (WebSockets) get the same drain timeout.
        tunnels.closed().await;
    }
}
