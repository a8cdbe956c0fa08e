//! The policy in front of each request: the [`Policy`] in force when the head arrives,
//! the request id, the decision (rejections logged with what an operator needs), and
//! what the metrics and the access log record of the response.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardened::service::Escaped;
use hardened::{Checks, Decision, PeerAddr, Rejection, Security, Verdict};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::Service;

use crate::BoxError;
use crate::metrics::{Metrics, Outcome, UpstreamFailure, UpstreamTime};
use crate::reload::Policy;

/// `X-Request-Id`.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a trusted proxy.
const MAX_REQUEST_ID: usize = 128;

/// What a server records of its requests, besides enforcing the policy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Observe {
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) access_log: bool,
}

impl Observe {
    fn timed(&self) -> bool {
        self.metrics.is_some() || self.access_log
    }
}

/// The service of one client connection: the policy, then `inner`.
#[derive(Clone)]
pub(crate) struct Enforce<S> {
    inner: S,
    policy: Policy,
    observe: Arc<Observe>,
}

impl<S> Enforce<S> {
    pub(crate) fn new(inner: S, policy: Policy, observe: Arc<Observe>) -> Enforce<S> {
        Enforce {
            inner,
            policy,
            observe,
        }
    }
}

/// Whether a request id from a trusted proxy can be passed on as is: 1 to 128 of
/// `A-Za-z0-9`, `-`, `_`, `.`, `:`, `@`, `/`, `+`, `=` (UUIDs, W3C trace ids, AWS
/// `Root=...` ids), nothing that could break a log line.
fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_REQUEST_ID
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'-' | b'_' | b'.' | b':' | b'@' | b'/' | b'+' | b'=')
        })
}

/// A new request id: 32 hex digits, a random per-process prefix and a counter, unique
/// within the process and, with overwhelming likelihood, across replicas.
fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            // No OS randomness: the start time still separates processes.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            return u64::try_from(t.as_nanos() & u128::from(u64::MAX)).unwrap_or(0)
                ^ u64::from(std::process::id());
        }
        u64::from_le_bytes(b)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Hex digits written in place: no formatting machinery, one allocation (the value).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (i, d) in id.iter_mut().enumerate() {
        let (word, shift) = if i < 16 {
            (prefix, 60 - 4 * i)
        } else {
            (n, 60 - 4 * (i - 16))
        };
        *d = HEX
            .get(((word >> shift) & 0xf) as usize)
            .copied()
            .unwrap_or(b'0');
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// A header's bytes, or none.
fn header_bytes<'a>(parts: &'a http::request::Parts, name: &HeaderName) -> &'a [u8] {
    parts.headers.get(name).map_or(&[], |v| v.as_bytes())
}

/// Logs a rejection with what an operator needs to find and fix it. Every field that
/// carries request text is escaped (controls, bidi and invisible characters), so a
/// line can be neither forged nor reordered.
fn log_rejection(
    r: &Rejection,
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
    id: &HeaderValue,
) {
    let host = match header_bytes(parts, &header::HOST) {
        [] => parts
            .uri
            .authority()
            .map_or(&[][..], |a| a.as_str().as_bytes()),
        h => h,
    };
    tracing::warn!(
        check = r.check().as_str(),
        code = r.code(),
        reason = %Escaped(r.reason().as_bytes()),
        fix = %Escaped(r.fix().as_bytes()),
        method = %parts.method,
        host = %Escaped(host),
        path = %Escaped(parts.uri.path().as_bytes()),
        origin = %Escaped(header_bytes(parts, &header::ORIGIN)),
        peer = %peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        request_id = %Escaped(id.as_bytes()),
        "request rejected"
    );
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Enforce<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = self.observe.timed().then(Instant::now);
        // The policy in force now serves this request to its end.
        let security: Security = self.policy.current();
        let (mut parts, body) = req.into_parts();
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0);

        // A trusted proxy's valid id is kept; any other is replaced. Of several lines
        // only the first is kept, and only if it is valid: a WSGI server would join
        // them all into one value, the unchecked ones included.
        let mut ids = parts.headers.get_all(&X_REQUEST_ID).iter();
        let (first, more) = (ids.next(), ids.next().is_some());
        let request_id = match first {
            Some(v) if valid_request_id(v) && security.trusts_proxy(peer.map(|p| p.ip())) => {
                let v = v.clone();
                if more {
                    parts.headers.insert(X_REQUEST_ID, v.clone());
                }
                v
            }
            _ => {
                let v = new_request_id();
                parts.headers.insert(X_REQUEST_ID, v.clone());
                v
            }
        };
        let access = self.observe.access_log.then(|| Access {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            peer,
        });
        let record = start.map(|start| Record {
            start,
            metrics: self.observe.metrics.clone(),
            access,
            status: 0,
            bytes: 0,
            upstream: None,
            request_id: request_id.clone(),
        });

        match security.admit(&mut parts, Checks::ALL) {
            Decision::Pass(facts) => {
                // The proxy judges forwarded headers with the same policy.
                parts.extensions.insert(crate::forward::Admitted {
                    security: security.clone(),
                    secure: facts.secure(),
                });
                let fut = self.inner.call(Request::from_parts(parts, body));
                let observe = self.observe.clone();
                Box::pin(async move {
                    let mut resp = fut.await.map_err(Into::into)?;
                    security.finish(resp.headers_mut(), &facts);
                    resp.headers_mut().insert(X_REQUEST_ID, request_id);
                    let failure = resp.extensions().get::<UpstreamFailure>().copied();
                    if let Some(m) = &observe.metrics {
                        match failure {
                            Some(f) => {
                                m.upstream_error(f);
                                m.request(Outcome::UpstreamError);
                            }
                            None => m.request(Outcome::Allowed),
                        }
                    }
                    let record = record.map(|mut r| {
                        r.status = resp.status().as_u16();
                        r.upstream = resp.extensions().get::<UpstreamTime>().map(|t| t.0);
                        r
                    });
                    Ok(resp.map(|body| GatewayBody {
                        kind: Kind::Inner { body },
                        record,
                    }))
                })
            }
            decision => {
                let verdict = decision.verdict();
                if let Some(r) = decision.rejection() {
                    log_rejection(r, &parts, peer, &request_id);
                    if let Some(m) = &self.observe.metrics {
                        m.rejection(r);
                    }
                }
                if let Some(m) = &self.observe.metrics {
                    m.request(match verdict {
                        Verdict::Preflight => Outcome::Preflight,
                        Verdict::Redirect => Outcome::Redirect,
                        _ => Outcome::Rejected,
                    });
                }
                let mut resp: Response<Bytes> = security.respond(decision).unwrap_or_default();
                resp.headers_mut().insert(X_REQUEST_ID, request_id);
                let record = record.map(|mut r| {
                    r.status = resp.status().as_u16();
                    r
                });
                let resp = resp.map(|data| GatewayBody {
                    kind: Kind::Full { data: Some(data) },
                    record,
                });
                Box::pin(std::future::ready(Ok(resp)))
            }
        }
    }
}

/// What the access log says of a request besides the response.
struct Access {
    method: Method,
    uri: Uri,
    peer: Option<SocketAddr>,
}

/// Recorded when the response body is done (sent, or dropped when the client left).
struct Record {
    start: Instant,
    metrics: Option<Arc<Metrics>>,
    access: Option<Access>,
    status: u16,
    bytes: u64,
    upstream: Option<Duration>,
    request_id: HeaderValue,
}

impl Drop for Record {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        if let Some(m) = &self.metrics {
            m.duration(elapsed);
        }
        if let Some(a) = &self.access {
            tracing::info!(
                target: "hardened::access",
                method = %a.method,
                path = %Escaped(a.uri.path_and_query().map_or("", |p| p.as_str()).as_bytes()),
                status = self.status,
                bytes = self.bytes,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                upstream_ms = self.upstream.map(|u| u.as_secs_f64() * 1000.0),
                peer = %a.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
                request_id = %Escaped(self.request_id.as_bytes()),
                "request"
            );
        }
    }
}

pin_project! {
    /// The response body: the service's, or the policy's own short answer; the bytes
    /// are counted for the access log.
    pub struct GatewayBody<B> {
        #[pin]
        kind: Kind<B>,
        record: Option<Record>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
        },
        Full {
            data: Option<Bytes>,
        },
    }
}

impl<B> Body for GatewayBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = match this.kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        };
        if let (Some(r), Poll::Ready(Some(Ok(frame)))) = (this.record.as_mut(), &polled)
            && let Some(d) = frame.data_ref()
        {
            r.bytes += d.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        for ok in [
            "abc",
            "0f3c-11e9:x",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            &"a".repeat(128),
        ] {
            let v = HeaderValue::from_str(ok).unwrap_or_else(|_| HeaderValue::from_static(""));
            assert!(valid_request_id(&v), "{ok}");
        }
        for bad in ["", "a b", "a\"b", "é", &"a".repeat(129), "a\tb"] {
            let v = HeaderValue::from_bytes(bad.as_bytes())
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            assert!(!valid_request_id(&v), "{bad}");
        }
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        // One process prefix, then a counter.
        assert_eq!(a.as_bytes().get(..16), b.as_bytes().get(..16));
        let count = |v: &HeaderValue| {
            u64::from_str_radix(v.to_str().unwrap_or("").get(16..).unwrap_or(""), 16)
        };
        assert_eq!(count(&b).map(|n| n > 0), Ok(true));
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert!(valid_request_id(&a));
    }
}
