//! The admin listener: `/healthz`, `/readyz` and `/metrics`, on an address of its own
//! (never the public listener), for probes and scrapers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::reload::Policy;

/// How long a readiness check of the upstream may take.
const READY_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a readiness result is reused: probes from many sources (kubelet, load
/// balancers) cost the upstream at most one connection a second.
const READY_CACHE: Duration = Duration::from_secs(1);

/// The admin listener.
///
/// - `GET /healthz`: `200` while the process serves (liveness);
/// - `GET /readyz`: `200` when a policy is loaded and the upstream accepts a TCP
///   connection (checked with a 500 ms timeout, the result reused for 1 s), else `503`
///   (readiness); `503` too once [`draining`](Self::draining) was called;
/// - `GET /metrics`: the [`Metrics`] in the Prometheus text format.
/// - `GET /reports`: the violation report collector's state as JSON
///   ([`Collector::snapshot_json`](hardened::reports::Collector::snapshot_json)), 404
///   without one.
///
/// Any other path is `404`, any other method `405`.
#[derive(Clone, Debug)]
pub struct Admin {
    inner: Arc<AdminInner>,
}

#[derive(Debug)]
struct AdminInner {
    policy: Policy,
    metrics: Arc<Metrics>,
    /// `host:port` of the upstream to check for readiness.
    upstream: Option<String>,
    ready: tokio::sync::Mutex<Option<(Instant, bool)>>,
    /// Shutdown has begun: not ready any more.
    draining: std::sync::atomic::AtomicBool,
}

impl Admin {
    /// An admin listener for `policy` and `metrics`; ready when `upstream`
    /// (`host:port`), if any, accepts connections.
    pub fn new(policy: Policy, metrics: Arc<Metrics>, upstream: Option<String>) -> Admin {
        Admin {
            inner: Arc::new(AdminInner {
                policy,
                metrics,
                upstream,
                ready: tokio::sync::Mutex::new(None),
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// From now on `/readyz` answers `503`: call it when shutdown begins, so that load
    /// balancers stop sending new requests while open ones drain.
    pub fn draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Serves `listener` until `shutdown` completes.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F)
    where
        F: Future<Output = ()>,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let admin = self.clone();
                    connections.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let admin = admin.clone();
                            async move { Ok::<_, Infallible>(admin.answer(&req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(5))
                            .serve_connection(TokioIo::new(stream), svc);
                        // Probes are short: a connection open longer is dropped.
                        let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        connections.shutdown().await;
    }

    async fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match req.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => match self.ready().await {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not ready: {why}\n"),
                ),
            },
            "/metrics" => {
                let mut resp = Response::new(Full::new(Bytes::from(self.inner.metrics.encode())));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                resp
            }
            "/reports" => match self.inner.metrics.reports() {
                Some(collector) => {
                    let allowed = self
                        .inner
                        .metrics
                        .requests(crate::metrics::Outcome::Allowed);
                    let mut resp = Response::new(Full::new(Bytes::from(
                        collector.snapshot_json(Some(allowed)),
                    )));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                None => text(
                    StatusCode::NOT_FOUND,
                    "no report collector: add `reports: true` to the configuration\n",
                ),
            },
            _ => text(
                StatusCode::NOT_FOUND,
                "not found; try /healthz, /readyz, /metrics or /reports\n",
            ),
        }
    }

    /// Ready: a policy is in force and the upstream accepts a connection.
    async fn ready(&self) -> Result<(), &'static str> {
        if self.inner.policy.generation() == 0 {
            return Err("no configuration loaded");
        }
        if self
            .inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err("shutting down");
        }
        let Some(addr) = &self.inner.upstream else {
            return Ok(());
        };
        let mut cached = self.inner.ready.lock().await;
        let now = Instant::now();
        let up = match *cached {
            Some((at, up)) if now.duration_since(at) < READY_CACHE => up,
            _ => {
                let up = matches!(
                    tokio::time::timeout(
                        READY_CONNECT_TIMEOUT,
                        tokio::net::TcpStream::connect(addr.as_str())
                    )
                    .await,
                    Ok(Ok(_))
                );
                *cached = Some((Instant::now(), up));
                up
            }
        };
        if up {
            Ok(())
        } else {
            Err("the upstream does not accept connections")
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
