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
//!   HTTP/2 cookie crumbs, `X-Forwarded-For`/`-Proto`, the upstream URI, the body and
//!   response buffering of each request, and mapping failures to 408/413/502/503/504/507;
//! - `buffer`: request bodies read completely first (memory, then an unlinked temporary
//!   file; size limit, timeout between reads), responses read from the upstream as fast
//!   as it sends them and fed to the client at its pace, the client send timeout;
//! - `pool`: the upstream connections: a keep-alive pool shared by every client, capped
//!   globally and per client connection, with a bounded queue;
//! - `scrub`: request headers the upstream must not see as the client wrote them:
//!   forwarding, scheme and client-IP headers from untrusted peers in every spelling,
//!   and from everyone header names with `_`, URL overrides and `Proxy`;
//! - `target`: the upstream path: dot segments (raw or `%2e`) resolved inside the
//!   upstream's base path; paths above the root or hiding dots behind `%2f`, `\`,
//!   `%5c` or `;` refused;
//! - `timeout`: the deadline of each client connection (header read from accept, idle
//!   between requests) and the count of its requests in flight;
//! - `websocket`: HTTP/1.1 `Upgrade` requests (WebSockets) the policy allowed, passed to
//!   the upstream on a fresh connection and tunnelled both ways with an idle timeout;
//! - `observe`: the policy in force for each request (read once, when its head arrives),
//!   the `X-Request-Id`, rejections logged with their context, the metrics and the
//!   access log;
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
// The task-less upstream client, wired into the pool next.
#[allow(dead_code)]
mod h1;
pub mod metrics;
mod observe;
mod pool;
pub mod reload;
mod scrub;
mod server;
mod target;
mod timeout;
pub mod tls;
mod websocket;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::net::TcpListener;

pub use admin::Admin;
pub use metrics::Metrics;
pub use observe::GatewayBody;
pub use reload::{Policy, Reloader};
pub use server::Server;
pub use tls::{Tls, TlsError};

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use h1::fuzz::h1_response as fuzz_h1_response;

/// A boxed error, as carried by [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of the proxy: the upstream's body, streamed, or the gateway's own
/// short text answer.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// Timeouts, limits and buffering of a [`Gateway`] or a [`Server`]. Start from
/// [`GatewayOptions::default`] and change what you need:
///
/// ```
/// use std::time::Duration;
/// use hardened_gateway::GatewayOptions;
///
/// let options = GatewayOptions::default()
///     .with_upstream_timeout(Duration::from_secs(10))
///     .with_header_read_timeout(Duration::from_secs(5))
///     .with_client_max_body_size(50 * 1024 * 1024)
///     .with_unbuffered_request_paths(["/upload/*"]);
/// assert_eq!(options.upstream_timeout, Duration::from_secs(10));
/// assert_eq!(options.connect_timeout, Duration::from_secs(5));
/// assert_eq!(options.upstream_max_connections, 64);
/// ```
///
/// # Buffering
///
/// With the defaults the gateway behaves like nginx in front of a worker-limited
/// application server (gunicorn sync workers, Puma, PHP-FPM): a request body is read
/// completely before the upstream sees the request ([`request_buffering`]), and a
/// response is read from the upstream as fast as it comes, its connection released, and
/// fed to the client at the client's pace ([`response_buffering`]). Bodies are kept in
/// memory up to [`client_body_buffer_size`] / [`response_buffer_size`] and beyond that in
/// anonymous temporary files in [`temp_dir`] (created with mode 0600 and unlinked at
/// once, gone when the request ends). So a slow or stalled client never holds an
/// upstream worker.
///
/// [`request_buffering`]: Self::request_buffering
/// [`response_buffering`]: Self::response_buffering
/// [`client_body_buffer_size`]: Self::client_body_buffer_size
/// [`response_buffer_size`]: Self::response_buffer_size
/// [`temp_dir`]: Self::temp_dir
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayOptions {
    /// How long the upstream may take to send its response headers before the client is
    /// answered 504, and, while a response is buffered, the longest pause between two
    /// reads of its body (default 30 s).
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
    /// Read each request body completely before forwarding the request (default `true`).
    /// Off, bodies stream to the upstream as they arrive and a slow client holds an
    /// upstream connection for as long as it takes.
    pub request_buffering: bool,
    /// Paths whose request bodies stream to the upstream even with
    /// [`request_buffering`](Self::request_buffering) on (streaming uploads): exact paths,
    /// `prefix*` / `/prefix/*` prefixes and `{param}` segments (default none). Ambiguous
    /// paths (dot segments, encoded slashes, backslashes, `;`) never match.
    pub unbuffered_request_paths: Vec<String>,
    /// How much of a request body is kept in memory; the rest goes to a temporary file
    /// (default 64 KiB, as nginx's `client_body_buffer_size`).
    pub client_body_buffer_size: usize,
    /// The longest pause between two reads of a request body before the client is
    /// answered 408 (default 60 s, as nginx's `client_body_timeout`). The upstream is
    /// not involved.
    pub client_body_timeout: Duration,
    /// The largest request body accepted, in bytes; larger ones are answered 413, at once
    /// when `Content-Length` says so, else as soon as the body crosses it (default
    /// 10 MiB; `0` = unlimited). Applies to streamed bodies too.
    pub client_max_body_size: u64,
    /// Read each response from the upstream as fast as it comes and release the upstream
    /// connection, then feed the client at its own pace (default `true`). Responses that
    /// must stream are never buffered: `text/event-stream`, those the upstream marks with
    /// `X-Accel-Buffering: no` (a header removed before the client), and protocol
    /// switches (`101`).
    pub response_buffering: bool,
    /// How much of a buffered response is kept in memory; the rest goes to a temporary
    /// file (default 64 KiB, as nginx's `proxy_buffers 8 8k`).
    pub response_buffer_size: usize,
    /// The largest temporary file of one buffered response, in bytes (default 1 GiB, as
    /// nginx's `proxy_max_temp_file_size`). Beyond it the gateway stops reading from the
    /// upstream until the client has caught up: the rest streams. `0` = no temporary
    /// files for responses (memory only, then streaming).
    pub max_temp_file_size: u64,
    /// The longest a client may stall reading a response (a write to it that makes no
    /// progress) before the gateway gives up on it and frees what it buffered (default
    /// 60 s, as nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Where temporary files of request and response bodies are created (default `None`:
    /// the OS temporary directory, `TMPDIR` on Unix). Files are created with mode 0600,
    /// unlinked at once, and closed when their request ends.
    pub temp_dir: Option<PathBuf>,
    /// The most upstream connections open at once, idle ones included (default 64).
    /// Idle connections are reused by every client; at the cap a request waits in the
    /// queue.
    pub upstream_max_connections: usize,
    /// The most upstream connections one client connection may use at once (default 8),
    /// so HTTP/2 multiplexing cannot fan one client out into hundreds of upstream
    /// connections. At the cap a request waits.
    pub upstream_max_connections_per_client: usize,
    /// The most requests waiting for an upstream connection at once; beyond it a
    /// request is answered 503 at once (default 1024).
    pub upstream_queue_size: usize,
    /// How long a request may wait for an upstream connection (under either cap) before
    /// it is answered 503 (default 10 s).
    pub upstream_queue_timeout: Duration,
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
            request_buffering: true,
            unbuffered_request_paths: Vec::new(),
            client_body_buffer_size: 64 * 1024,
            client_body_timeout: Duration::from_secs(60),
            client_max_body_size: 10 * 1024 * 1024,
            response_buffering: true,
            response_buffer_size: 64 * 1024,
            max_temp_file_size: 1024 * 1024 * 1024,
            send_timeout: Duration::from_secs(60),
            temp_dir: None,
            upstream_max_connections: 64,
            upstream_max_connections_per_client: 8,
            upstream_queue_size: 1024,
            upstream_queue_timeout: Duration::from_secs(10),
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

    /// Sets [`request_buffering`](Self::request_buffering).
    #[must_use]
    pub fn with_request_buffering(mut self, on: bool) -> Self {
        self.request_buffering = on;
        self
    }

    /// Sets [`unbuffered_request_paths`](Self::unbuffered_request_paths).
    #[must_use]
    pub fn with_unbuffered_request_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.unbuffered_request_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`client_body_buffer_size`](Self::client_body_buffer_size).
    #[must_use]
    pub fn with_client_body_buffer_size(mut self, bytes: usize) -> Self {
        self.client_body_buffer_size = bytes;
        self
    }

    /// Sets [`client_body_timeout`](Self::client_body_timeout).
    #[must_use]
    pub fn with_client_body_timeout(mut self, timeout: Duration) -> Self {
        self.client_body_timeout = timeout;
        self
    }

    /// Sets [`client_max_body_size`](Self::client_max_body_size) (`0` = unlimited).
    #[must_use]
    pub fn with_client_max_body_size(mut self, bytes: u64) -> Self {
        self.client_max_body_size = bytes;
        self
    }

    /// Sets [`response_buffering`](Self::response_buffering).
    #[must_use]
    pub fn with_response_buffering(mut self, on: bool) -> Self {
        self.response_buffering = on;
        self
    }

    /// Sets [`response_buffer_size`](Self::response_buffer_size).
    #[must_use]
    pub fn with_response_buffer_size(mut self, bytes: usize) -> Self {
        self.response_buffer_size = bytes;
        self
    }

    /// Sets [`max_temp_file_size`](Self::max_temp_file_size) (`0` = no temporary files
    /// for responses).
    #[must_use]
    pub fn with_max_temp_file_size(mut self, bytes: u64) -> Self {
        self.max_temp_file_size = bytes;
        self
    }

    /// Sets [`send_timeout`](Self::send_timeout).
    #[must_use]
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets [`temp_dir`](Self::temp_dir).
    #[must_use]
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// Sets [`upstream_max_connections`](Self::upstream_max_connections) (at least 1).
    #[must_use]
    pub fn with_upstream_max_connections(mut self, n: usize) -> Self {
        self.upstream_max_connections = n.max(1);
        self
    }

    /// Sets [`upstream_max_connections_per_client`](Self::upstream_max_connections_per_client)
    /// (at least 1).
    #[must_use]
    pub fn with_upstream_max_connections_per_client(mut self, n: usize) -> Self {
        self.upstream_max_connections_per_client = n.max(1);
        self
    }

    /// Sets [`upstream_queue_size`](Self::upstream_queue_size) (`0` = no waiting: 503 at
    /// once at the cap).
    #[must_use]
    pub fn with_upstream_queue_size(mut self, n: usize) -> Self {
        self.upstream_queue_size = n;
        self
    }

    /// Sets [`upstream_queue_timeout`](Self::upstream_queue_timeout).
    #[must_use]
    pub fn with_upstream_queue_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_queue_timeout = timeout;
        self
    }

    /// The directory temporary files are created in.
    pub(crate) fn temp_dir_or_default(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
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
        let proxy = Arc::new(forward::Proxy::new(policy.current(), upstream, &options));
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
