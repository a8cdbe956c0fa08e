//! [`ReportsService`]: the collector as a tower service an application mounts at the
//! collector's path (behind the security layer, which exempts that path from CSRF).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::{Request, Response, StatusCode};
use http_body::Body;

use super::{Collector, ReportsConfig, UploadError};

/// Answers report uploads: 204 when accepted, else the [`UploadError`]'s status with a
/// one-line text. Clone it freely: clones share one [`Collector`].
///
/// ```
/// use hardened::reports::{ReportsConfig, ReportsService};
/// use tower_service::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut svc = ReportsService::new(ReportsConfig::default());
/// let req = http::Request::post("/.well-known/hardened/reports")
///     .header("content-type", "application/reports+json")
///     .body(String::from(r#"[{"type":"csp-violation","url":"https://app.test/",
///         "body":{"effectiveDirective":"img-src","blockedURL":"https://x.test/a.png",
///         "disposition":"report"}}]"#))?;
/// let resp = svc.call(req).await?;
/// assert_eq!(resp.status(), 204);
/// assert_eq!(svc.collector().counts().get(&("csp", "img-src")), Some(&1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ReportsService {
    settings: Arc<ReportsConfig>,
    collector: Arc<Collector>,
}

impl ReportsService {
    /// A service with a collector of its own.
    pub fn new(settings: ReportsConfig) -> ReportsService {
        ReportsService::with_collector(settings, Arc::new(Collector::new()))
    }

    /// A service recording into `collector` (e.g. one whose metrics an endpoint
    /// already serves).
    pub fn with_collector(settings: ReportsConfig, collector: Arc<Collector>) -> ReportsService {
        ReportsService {
            settings: Arc::new(settings),
            collector,
        }
    }

    /// The service for a [`Security`](crate::Security) whose policy has a `reports:`
    /// section; `None` without one.
    pub fn for_security(security: &crate::Security) -> Option<ReportsService> {
        security.policy().reports.clone().map(ReportsService::new)
    }

    /// Its collector: counts, and [`Collector::encode`] for a metrics endpoint.
    pub fn collector(&self) -> &Arc<Collector> {
        &self.collector
    }

    /// Its settings.
    pub fn settings(&self) -> &ReportsConfig {
        &self.settings
    }
}

/// The answer to one upload.
pub(crate) fn answer(result: Result<usize, UploadError>) -> Response<String> {
    let (status, text) = match result {
        Ok(_) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => (e.status(), e.message().to_owned()),
    };
    let mut resp = Response::new(text);
    *resp.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("60"),
        );
    }
    resp
}

/// Reads `body` whole, refusing more than `max` bytes.
async fn read_limited<B>(body: B, max: u64) -> Result<bytes::Bytes, UploadError>
where
    B: Body,
    B::Data: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| UploadError::Malformed)?;
        if let Ok(mut data) = frame.into_data() {
            if (out.len() as u64).saturating_add(data.remaining() as u64) > max {
                return Err(UploadError::TooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(out.freeze())
}

/// The response future of [`ReportsService`].
pub struct ReportsFuture(Pin<Box<dyn Future<Output = Response<String>> + Send>>);

impl std::fmt::Debug for ReportsFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportsFuture")
    }
}

impl Future for ReportsFuture {
    type Output = Result<Response<String>, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

impl<B> tower_service::Service<Request<B>> for ReportsService
where
    B: Body + Send + 'static,
    B::Data: Buf + Send,
{
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = ReportsFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ReportsFuture {
        let (parts, body) = req.into_parts();
        let settings = self.settings.clone();
        let collector = self.collector.clone();
        let client = crate::peer_ip(&parts);
        let admitted = collector.admit(&settings, &parts, client, Instant::now());
        ReportsFuture(Box::pin(async move {
            let format = match admitted {
                Ok(f) => f,
                Err(e) => return answer(Err(e)),
            };
            let result = match read_limited(body, settings.max_body_size).await {
                Ok(bytes) => collector.accept(&settings, format, &bytes, Instant::now()),
                Err(e) => {
                    collector.reject(e);
                    Err(e)
                }
            };
            answer(result)
        }))
    }
}
