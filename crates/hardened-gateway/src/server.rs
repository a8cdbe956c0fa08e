//! The accept loop: per-connection HTTP/1.1 and HTTP/2 settings and timeouts, the
//! security layer and the peer address in front of the inner service, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardened::{PeerAddr, Security};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer, Service};

use crate::{BoxError, GatewayOptions};

/// Serves HTTP/1.1 and HTTP/2 (cleartext, detected per connection) with a
/// [`Security`] policy in front of a tower service of yours: every request carries the
/// client's address as a [`PeerAddr`] extension and passes [`Security::layer`] before it
/// reaches the service.
///
/// The HTTP/1 request head must arrive within
/// [`GatewayOptions::header_read_timeout`]; HTTP/2 connections are pinged every
/// [`GatewayOptions::http2_keep_alive_interval`]. When the shutdown future completes,
/// the listener is closed, idle connections are closed, and open ones may finish within
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
    security: Security,
    options: GatewayOptions,
}

impl Server {
    /// A server enforcing `security`.
    pub fn new(security: Security, options: GatewayOptions) -> Server {
        Server { security, options }
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
        self.serve_with(listener, move |_peer| service.clone(), shutdown)
            .await;
    }

    /// Like [`serve`](Self::serve), with a service made per connection:
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
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A timer makes hyper enforce its header-read timeout (slow-loris clients) and
        // HTTP/2 keep-alive; without one both are silently off.
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
        let layer = self.security.layer();
        let mut shutdown = std::pin::pin!(shutdown);
        // Connection tasks, so that none outlives `serve`.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let svc = AddPeer {
                        inner: layer.layer(make_service(peer)),
                        peer,
                    };
                    // A client that stops reading is cut off after the send timeout.
                    let stream = crate::buffer::SendTimeout::new(stream, opts.send_timeout);
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                    let fut = graceful.watch(conn.into_owned());
                    connections.spawn(async move {
                        if let Err(e) = fut.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(opts.drain_timeout) => {
                tracing::warn!(
                    "connections still open after {} s; closing",
                    opts.drain_timeout.as_secs_f64()
                );
            }
        }
        connections.shutdown().await;
    }
}

/// Inserts the peer address so the security layer can judge forwarded headers.
#[derive(Clone)]
struct AddPeer<S> {
    inner: S,
    peer: SocketAddr,
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

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}
