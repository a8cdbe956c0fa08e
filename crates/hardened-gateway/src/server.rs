//! The accept loop: per-connection HTTP/1.1 and HTTP/2 settings and timeouts, the
//! policy in force (see `observe`) and the peer address in front of the inner service,
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardened::{Checks, PeerAddr, Security, TlsConnection};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

use crate::metrics::Metrics;
use crate::observe::{GatewayObserver, Observe};
use crate::reload::Policy;
use crate::timeout::{Activity, Deadline, Expiry, Track};
use crate::tls::{Conn, Tls};
use crate::{BoxError, GatewayOptions};

/// Serves HTTP/1.1 and HTTP/2 (detected per connection; over TLS with
/// [`with_tls`](Server::with_tls), cleartext otherwise) with a
/// [`Security`] policy in front of a tower service of yours: every request carries the
/// client's address as a [`PeerAddr`] extension and passes the checks of
/// [`Security::layer`] (the [`Policy`] in force when it arrives) before it reaches the
/// service. Every response carries an `X-Request-Id`.
///
/// A new connection must complete its first request head (HTTP/1) or open its first
/// stream (HTTP/2) within [`GatewayOptions::header_read_timeout`] of accept, and a
/// connection with no request in flight is closed after
/// [`GatewayOptions::idle_timeout`]; HTTP/2 connections are pinged every
/// [`GatewayOptions::http2_keep_alive_interval`]. HTTP/1.1 upgrades (`101 Switching
/// Protocols` answers, e.g. WebSockets) are served: the upgraded connection belongs to
/// the service from then on. When the shutdown future completes, the listener is closed,
/// idle connections are closed, and open ones may finish within
/// [`GatewayOptions::drain_timeout`].
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use hardened::{config::Config, probe::RuntimeProbe, Security};
/// use hardened_gateway::{GatewayOptions, Server};
/// use http::{Request, Response};
/// use http_body_util::Full;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let security = Security::from_config(&Config::development(), &RuntimeProbe::none())?;
/// let app = tower::service_fn(|_req: Request<hyper::body::Incoming>| async {
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // Here shutdown is requested at once; a program passes e.g. a ctrl-c future.
/// Server::new(security, GatewayOptions::default())
///     .serve(listener, app, async {})
///     .await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    policy: Policy,
    options: GatewayOptions,
    /// Direct TLS on every accepted connection.
    tls: Option<Tls>,
    /// The port the policy's https redirects point at (a plain listener beside a TLS
    /// one).
    https_port: Option<u16>,
    observe: Observe,
}

impl Server {
    /// A server enforcing `security`.
    pub fn new(security: Security, options: GatewayOptions) -> Server {
        Server::with_policy(Policy::new(security), options)
    }

    /// A server enforcing the [`Policy`] in force when each request arrives: replace
    /// it (e.g. with a [`Reloader`](crate::Reloader)) and the next requests follow.
    pub fn with_policy(policy: Policy, options: GatewayOptions) -> Server {
        Server {
            policy,
            options,
            observe: Observe::default(),
            tls: None,
            https_port: None,
        }
    }

    /// The policy it enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Its options.
    pub fn options(&self) -> &GatewayOptions {
        &self.options
    }

    /// Records requests, rejections, upstream failures, durations and open connections
    /// in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Server {
        self.observe.metrics = Some(metrics);
        self
    }

    /// Logs one line per request (target `hardened::access`, level `info`): method,
    /// path, status, bytes, duration, upstream time, peer and request id.
    #[must_use]
    pub fn with_access_log(mut self, on: bool) -> Server {
        self.observe.access_log = on;
        self
    }

    /// Whether it logs one line per request.
    pub(crate) fn access_log(&self) -> bool {
        self.observe.access_log
    }

    /// Serves TLS on the listener: every accepted connection must complete its TLS
    /// handshake (TLS 1.2 or 1.3, ALPN `h2` or `http/1.1`) within
    /// [`GatewayOptions::header_read_timeout`] of accept, that deadline going on to
    /// cover its first request. Requests on it carry the [`TlsConnection`] extension:
    /// the policy treats them as secure (HSTS, no redirect, `X-Forwarded-Proto: https`
    /// to an upstream).
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Server {
        self.tls = Some(tls);
        self
    }

    /// Makes the policy's redirects to https (`ssl_redirect: true`) point at `port`,
    /// the TLS listener's, instead of the port the client connected to: for a plain
    /// listener serving beside a TLS one. Port 443 is left out of the URL.
    #[must_use]
    pub fn with_https_redirect_port(mut self, port: u16) -> Server {
        self.https_port = Some(port);
        self
    }

    /// Serves `service` (cloned for each connection) on `listener` until `shutdown`
    /// completes, then returns once open connections are done or
    /// [`GatewayOptions::drain_timeout`] has passed.
    pub async fn serve<S, B, F>(self, listener: TcpListener, service: S, shutdown: F)
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()>,
    {
        if self.options.workers > 1 {
            let workers = self.options.workers;
            crate::workers::serve(
                listener,
                workers,
                |_| {
                    let server = self.clone();
                    let service = service.clone();
                    move |listener, stop| {
                        server.serve_with(listener, move |_peer| service.clone(), stop)
                    }
                },
                shutdown,
            )
            .await;
        } else {
            self.serve_with(listener, move |_peer| service.clone(), shutdown)
                .await;
        }
    }

    /// Like [`serve`](Self::serve) (in the caller's runtime, whatever
    /// [`GatewayOptions::workers`] says), with a service made per connection:
    /// `make_service(peer)` is called once for each accepted connection, and the service
    /// it returns (cloned per request) answers every request on that connection. Use it
    /// to keep state per client connection.
    pub async fn serve_with<M, S, B, F>(
        self,
        listener: TcpListener,
        mut make_service: M,
        shutdown: F,
    ) where
        M: FnMut(SocketAddr) -> S,
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()>,
    {
        let opts = &self.options;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A timer makes hyper enforce its header-read timeout (slow-loris clients) and
        // HTTP/2 keep-alive; without one both are silently off. Hyper's timeout covers
        // the request heads after the first; the connection's `Deadline` covers the
        // first one from accept (also before hyper has chosen HTTP/1 or HTTP/2) and idle
        // connections.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(opts.header_read_timeout)
            // Caps what hyper buffers per connection (request heads, and response data
            // queued for a client that reads slowly): 400 KiB by default.
            .max_buf_size(crate::buffer::CONNECTION_BUFFER);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(opts.http2_keep_alive_interval);
        let observe = Arc::new(self.observe.clone());
        // The one place the policy runs: the library's layer, with this server's
        // policy source (swapped on reload), observer and https port.
        let security = hardened::SecurityLayer::new(self.policy.current(), Checks::ALL)
            .with_policy(self.policy.clone())
            .with_observer(GatewayObserver(observe.clone()))
            .with_https_port(self.https_port);
        let acceptor = self
            .tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
        let mut shutdown = std::pin::pin!(shutdown);
        // Told to every connection when shutdown begins.
        let (stop, stopped) = tokio::sync::watch::channel(());
        // Connection tasks, so that none outlives `serve`.
        let mut connections = tokio::task::JoinSet::new();
        let mut accept_errors = AcceptErrors::default();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            if accept_errors.pause(&e) {
                                // Out of file descriptors or memory: the pending
                                // connection stays queued, so accepting again at once
                                // would spin. Connections closing (timeouts included)
                                // free descriptors meanwhile.
                                tokio::time::sleep(ACCEPT_PAUSE).await;
                            }
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let accepted = tokio::time::Instant::now();
                    let activity = Activity::new();
                    let open = observe.metrics.as_ref().map(Metrics::connection);
                    let svc = Track::new(
                        AddPeer {
                            inner: tower::Layer::layer(&security, make_service(peer)),
                            peer,
                            tls: acceptor.is_some(),
                        },
                        activity.clone(),
                    );
                    let deadline =
                        Deadline::new(activity, opts.header_read_timeout, opts.idle_timeout);
                    let builder = builder.clone();
                    let mut stopped = stopped.clone();
                    let acceptor = acceptor.clone();
                    let handshake_by = accepted + opts.header_read_timeout;
                    let send_timeout = opts.send_timeout;
                    connections.spawn(async move {
                        // A client that stops reading is cut off after the send
                        // timeout.
                        let stream = crate::buffer::SendTimeout::new(stream, send_timeout);
                        let io = match acceptor {
                            None => Conn::Plain(stream),
                            // The handshake is in the connection's task, under the
                            // header-read deadline from accept: a client that never
                            // sends its ClientHello holds nothing past it.
                            Some(acceptor) => tokio::select! {
                                done = tokio::time::timeout_at(
                                    handshake_by,
                                    acceptor.accept(stream),
                                ) => match done {
                                    Ok(Ok(s)) => Conn::Tls(Box::new(s)),
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                        return;
                                    }
                                    Err(_) => {
                                        tracing::debug!(%peer, "TLS handshake timed out");
                                        return;
                                    }
                                },
                                _ = stopped.changed() => return,
                            },
                        };
                        let conn = builder.serve_connection_with_upgrades(
                            TokioIo::new(io),
                            TowerToHyperService::new(svc),
                        );
                        drive(conn, |c| c.graceful_shutdown(), deadline, stopped).await;
                        drop(open);
                    });
                    // Let the new connection (and other work) run before accepting the
                    // next one: with worker threads sharing the listener, a worker that
                    // accepted a burst of connections alone would hold them all.
                    tokio::task::yield_now().await;
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        let _ = stop.send(());
        let drained = tokio::time::timeout(opts.drain_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "connections still open after {} s; closing",
                opts.drain_timeout.as_secs_f64()
            );
        }
        connections.shutdown().await;
    }
}

/// How long the accept loop pauses after a resource error (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Accept errors, logged at most once a second (with the number not logged), so a
/// server out of file descriptors does not flood its log.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// Logs `e` (or counts it) and tells whether the loop should pause: every error but
    /// one about the single connection being accepted (aborted or reset before accept).
    fn pause(&mut self, e: &std::io::Error) -> bool {
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            tracing::warn!(error = %e, more = self.unlogged, "accept failed");
            self.last_logged = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        !matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
        )
    }
}

/// Drives one connection until it ends: closed gracefully when its [`Deadline`] expires
/// (dropped if that does not finish in time) or when shutdown begins.
async fn drive<C, E, G>(
    conn: C,
    mut graceful_shutdown: G,
    deadline: Deadline,
    mut stopped: tokio::sync::watch::Receiver<()>,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    G: FnMut(std::pin::Pin<&mut C>),
{
    let mut conn = std::pin::pin!(conn);
    let mut deadline = std::pin::pin!(deadline);
    let mut closing = false;
    let mut stopping = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            expiry = deadline.as_mut() => match expiry {
                Expiry::Graceful => {
                    tracing::debug!("connection timed out (header read or idle)");
                    if !closing {
                        closing = true;
                        graceful_shutdown(conn.as_mut());
                    }
                }
                Expiry::Close => return,
            },
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                if !closing {
                    closing = true;
                    graceful_shutdown(conn.as_mut());
                }
            }
        }
    }
}

/// Inserts the peer address (and, over TLS, [`TlsConnection`]) so the security layer
/// can judge forwarded headers and the scheme.
#[derive(Clone)]
struct AddPeer<S> {
    inner: S,
    peer: SocketAddr,
    tls: bool,
}

impl<S, B> Service<Request<B>> for AddPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        if self.tls {
            req.extensions_mut().insert(TlsConnection);
        }
        self.inner.call(req)
    }
}
