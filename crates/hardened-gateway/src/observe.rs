//! What the gateway records of each request, as the [`Observer`] of the library's
//! security layer (the one place the policy runs): the request id, the metrics, the
//! access log, and what the proxy behind the layer needs of the decision
//! ([`Admitted`](crate::forward::Admitted)).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hardened::service::Escaped;
use hardened::{Client, Decision, Observer, Record, Security, Verdict};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri};

use crate::metrics::{Metrics, Outcome, UpstreamFailure, UpstreamTime};

/// `X-Request-Id`.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a trusted proxy.
const MAX_REQUEST_ID: usize = 128;

/// What a server records of its requests, besides enforcing the policy: the
/// [`Observer`] its security layer reports to.
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

/// The gateway's observer: one per server, shared by its connections.
#[derive(Clone, Debug)]
pub(crate) struct GatewayObserver(pub(crate) Arc<Observe>);

impl Observer for GatewayObserver {
    type Record = RequestRecord;

    fn request(
        &self,
        parts: &mut http::request::Parts,
        _security: &Security,
        client: &Client,
    ) -> RequestRecord {
        let observe = &self.0;
        let start = observe.timed().then(Instant::now);
        // A trusted proxy's valid id is kept; any other is replaced. Of several lines
        // only the first is kept, and only if it is valid: a WSGI server would join
        // them all into one value, the unchecked ones included.
        let mut ids = parts.headers.get_all(&X_REQUEST_ID).iter();
        let (first, more) = (ids.next(), ids.next().is_some());
        let request_id = match first {
            Some(v) if valid_request_id(v) && client.trusted_proxy() => {
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
        let access = observe.access_log.then(|| Access {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            peer: client.peer(),
        });
        RequestRecord {
            start,
            metrics: observe.metrics.clone(),
            access,
            answered: false,
            status: 0,
            bytes: 0,
            upstream: None,
            request_id,
        }
    }
}

/// What the metrics and the access log keep of one request, until its response body
/// is done (sent, or dropped when the client left).
pub(crate) struct RequestRecord {
    /// When the head arrived, when anything is timed.
    start: Option<Instant>,
    metrics: Option<Arc<Metrics>>,
    access: Option<Access>,
    /// The policy answered the request itself.
    answered: bool,
    status: u16,
    bytes: u64,
    upstream: Option<Duration>,
    request_id: HeaderValue,
}

impl Record for RequestRecord {
    fn decided(
        &mut self,
        parts: &mut http::request::Parts,
        security: &Security,
        decision: &Decision,
    ) {
        match decision {
            Decision::Pass(facts) => {
                // The proxy judges forwarded headers with the same policy and facts;
                // an upload to the collector's path gets the collector's settings of
                // the policy in force (a comparison, for every other request).
                let reports = security
                    .policy()
                    .reports
                    .as_ref()
                    .filter(|r| parts.uri.path() == r.path)
                    .cloned();
                parts.extensions.insert(crate::forward::Admitted {
                    client: facts.client(),
                    cors_origin: facts.cors_origin().cloned(),
                    reports,
                });
            }
            decision => {
                self.answered = true;
                if let Some(m) = &self.metrics {
                    if let Some(r) = decision.rejection() {
                        m.rejection(r);
                    }
                    m.request(match decision.verdict() {
                        Verdict::Preflight => Outcome::Preflight,
                        Verdict::Redirect => Outcome::Redirect,
                        _ => Outcome::Rejected,
                    });
                }
            }
        }
    }

    fn response(&mut self, head: &mut http::response::Parts) {
        head.headers.insert(X_REQUEST_ID, self.request_id.clone());
        self.status = head.status.as_u16();
        if self.answered {
            return;
        }
        self.upstream = head.extensions.get::<UpstreamTime>().map(|t| t.0);
        if let Some(m) = &self.metrics {
            match head.extensions.get::<UpstreamFailure>() {
                Some(f) => {
                    m.upstream_error(*f);
                    m.request(Outcome::UpstreamError);
                }
                None => m.request(Outcome::Allowed),
            }
        }
    }

    fn data(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    fn request_id(&self) -> Option<&[u8]> {
        Some(self.request_id.as_bytes())
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

/// What the access log says of a request besides the response.
struct Access {
    method: Method,
    uri: Uri,
    peer: Option<IpAddr>,
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let Some(start) = self.start else {
            return;
        };
        let elapsed = start.elapsed();
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
                peer = %a.peer.map(|p| p.to_string()).unwrap_or_default(),
                request_id = %Escaped(self.request_id.as_bytes()),
                "request"
            );
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
