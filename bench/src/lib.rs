//! Fixtures shared by the criterion benches and the helper binaries of `hardened-bench`:
//! generated domain lists, the configuration of each case, its request, the naive
//! baselines, and a way to drive a tower service whose future is ready at once.
//!
//! Domains are generated as `app{i}.example.com`; a "hit" asks for the middle one, so
//! the linear baselines scan half their list, their average case.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use hardened::config::{Config, Environment};
use hardened::probe::RuntimeProbe;
use http::header::HeaderName;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

/// The list sizes every per-request bench runs at.
pub const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// `n` generated security domains: `app0.example.com`, `app1.example.com`, ...
pub fn domains(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("app{i}.example.com")).collect()
}

/// The origins of [`domains`]: `https://app{i}.example.com`.
pub fn origins(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://app{i}.example.com"))
        .collect()
}

/// The domain a "hit" asks for: the middle of the list.
pub fn hit_domain(n: usize) -> String {
    format!("app{}.example.com", n / 2)
}

/// A benchmark case: which configuration, and which request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Production, `n` domains; the request's Host and Origin are listed.
    Hit,
    /// Production, `n` domains; the request's Host or Origin is foreign.
    Miss,
    /// Production, `.example.com` plus `n - 1` other domains; Host and Origin are a
    /// subdomain of `example.com`.
    Subdomain,
    /// Production in Docker (`RuntimeProbe::docker`), `n` domains; Host is a private IP
    /// (a health probe by container address).
    PrivateIp,
    /// Development, `n` domains; Host `localhost:8000`, Origin `http://localhost:3000`.
    Loopback,
    /// Production, `n` domains; a CORS preflight from a listed origin.
    Preflight,
}

impl Case {
    /// Every case.
    pub const ALL: [Case; 6] = [
        Case::Hit,
        Case::Miss,
        Case::Subdomain,
        Case::PrivateIp,
        Case::Loopback,
        Case::Preflight,
    ];

    /// The case's name in bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Case::Hit => "hit",
            Case::Miss => "miss",
            Case::Subdomain => "subdomain",
            Case::PrivateIp => "private-ip",
            Case::Loopback => "loopback",
            Case::Preflight => "preflight",
        }
    }

    /// The security domains of the case's configuration.
    pub fn domains(self, n: usize) -> Vec<String> {
        match self {
            Case::Subdomain => std::iter::once(".example.com".to_owned())
                .chain((1..n).map(|i| format!("app{i}.example.net")))
                .collect(),
            _ => domains(n),
        }
    }

    /// The case's configuration.
    ///
    /// # Panics
    /// If a generated domain does not parse (a bug in the fixture).
    pub fn config(self, n: usize) -> Config {
        let mut cfg = match Config::production(self.domains(n)) {
            Ok(c) => c,
            Err(e) => panic!("fixture config: {e}"),
        };
        if self == Case::Loopback {
            cfg.environment = Environment::Development;
            cfg.debug = true;
        }
        cfg
    }

    /// The case's runtime probe.
    pub fn probe(self) -> RuntimeProbe {
        match self {
            Case::PrivateIp => RuntimeProbe::docker(None),
            _ => RuntimeProbe::none(),
        }
    }

    /// The case's compiled policy.
    ///
    /// # Panics
    /// If the fixture does not compile (a bug in the fixture).
    pub fn security(self, n: usize) -> Security {
        match Security::from_config(&self.config(n), &self.probe()) {
            Ok(s) => s,
            Err(e) => panic!("fixture policy: {e}"),
        }
    }

    /// The request's Host.
    pub fn host(self, n: usize) -> String {
        match self {
            Case::Hit | Case::Preflight => hit_domain(n),
            Case::Miss => "evil.example.org".to_owned(),
            Case::Subdomain => "api.eu.example.com".to_owned(),
            Case::PrivateIp => "172.18.0.5:8000".to_owned(),
            Case::Loopback => "localhost:8000".to_owned(),
        }
    }

    /// The request's Origin (`None`: a same-origin or non-browser request).
    pub fn origin(self, n: usize) -> Option<String> {
        match self {
            Case::Hit | Case::Preflight => Some(format!("https://{}", hit_domain(n))),
            Case::Miss => Some("https://evil.example.org".to_owned()),
            Case::Subdomain => Some("https://api.eu.example.com".to_owned()),
            Case::PrivateIp => None,
            Case::Loopback => Some("http://localhost:3000".to_owned()),
        }
    }
}

/// Which check a request is shaped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `GET` with the case's Host only.
    Host,
    /// `GET` (`OPTIONS` preflight for [`Case::Preflight`]) with an allowed Host and the
    /// case's Origin.
    Cors,
    /// `POST` with an allowed Host and the case's Origin.
    Csrf,
    /// The whole stack: the case's Host and Origin; `POST` (every check runs) except
    /// the private-IP probe (`GET`) and the preflight (`OPTIONS`).
    Stack,
}

/// The request of `case` at `n` domains, shaped for `shape`.
///
/// # Panics
/// If the fixture builds an invalid request (a bug in the fixture).
pub fn request(case: Case, n: usize, shape: Shape) -> Request<()> {
    // For the single-check shapes only the checked header varies with the case; the
    // Host stays allowed, so the check under test is the one that decides.
    let host = match (shape, case) {
        (Shape::Cors | Shape::Csrf, Case::Miss) => hit_domain(n),
        _ => case.host(n),
    };
    let method = match (shape, case) {
        (_, Case::Preflight) => Method::OPTIONS,
        (Shape::Host, _) | (Shape::Cors, _) | (Shape::Stack, Case::PrivateIp) => Method::GET,
        (Shape::Csrf, _) | (Shape::Stack, _) => Method::POST,
    };
    let mut b = Request::builder()
        .method(method)
        .uri("/api/items?page=2")
        .header(header::HOST, host)
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "application/json");
    if shape != Shape::Host
        && let Some(origin) = case.origin(n)
    {
        b = b.header(header::ORIGIN, shared_value(origin));
    }
    if case == Case::Preflight {
        b = b
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type");
    }
    match b.body(()) {
        Ok(r) => r,
        Err(e) => panic!("fixture request: {e}"),
    }
}

/// A header value backed by shared `Bytes`, as hyper's parser makes them (slices of the
/// connection's read buffer): cloning it is a reference-count bump. A value built from
/// a `String` would instead allocate on its first clone, a cost real requests don't have.
///
/// # Panics
/// If `s` is not a valid header value (a bug in the fixture).
pub fn shared_value(s: String) -> HeaderValue {
    let buf = Bytes::from(s);
    // Slicing promotes the buffer to shared storage, here, outside any timed section.
    let shared = buf.slice(..);
    match HeaderValue::from_maybe_shared(shared) {
        Ok(v) => v,
        Err(e) => panic!("fixture header: {e}"),
    }
}

/// Django's `validate_host` as a plain loop over a `Vec<String>`: exact names and
/// `.domain` patterns, port stripped, case-insensitive. The linear baseline.
pub fn naive_host_allowed(list: &[String], parts: &http::request::Parts) -> bool {
    let Some(host) = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let domain = host.rsplit_once(':').map_or(host, |(d, _)| d);
    list.iter().any(|p| {
        if let Some(parent) = p.strip_prefix('.') {
            domain.eq_ignore_ascii_case(parent)
                || (domain.len() > p.len()
                    && domain
                        .get(domain.len() - p.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(p)))
        } else {
            domain.eq_ignore_ascii_case(p)
        }
    })
}

/// An origin list as a `Vec<String>` scanned for an equal `Origin` header. The linear
/// baseline (what `AllowOrigin::list` and `CSRF_TRUSTED_ORIGINS` loops do).
pub fn naive_origin_allowed(list: &[String], parts: &http::request::Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.as_bytes();
    list.iter().any(|o| o.as_bytes() == origin)
}

/// The five security headers the production layer adds to every plain-HTTP response
/// (besides `Vary: origin`), as (name, value).
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("x-xss-protection", "0"),
];

/// tower-http's `CorsLayer` configured like the production policy of `n` domains: the
/// same origins as a list, credentials, methods, headers, max-age.
pub fn tower_http_cors(n: usize) -> CorsLayer {
    let list = origins(n)
        .into_iter()
        .filter_map(|o| HeaderValue::from_str(&o).ok());
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::ACCEPT,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrftoken"),
            HeaderName::from_static("x-requested-with"),
        ])
        .max_age(Duration::from_secs(86_400))
}

/// A Host allow-list as a small tower middleware: the Host header's domain (port
/// stripped, lowercased) must be in the set, otherwise an empty `400`. What a service
/// without this library would write for Django's `ALLOWED_HOSTS` (no `.domain`
/// patterns, no CIDR ranges, no HTTP/2 `:authority`).
#[derive(Clone, Debug)]
pub struct HostAllowList<S> {
    inner: S,
    hosts: Arc<HashSet<Box<str>>>,
}

/// The layer of [`HostAllowList`].
#[derive(Clone, Debug)]
pub struct HostAllowListLayer {
    hosts: Arc<HashSet<Box<str>>>,
}

impl HostAllowListLayer {
    /// Allows these domains (compared case-insensitively, without port).
    pub fn new<I: IntoIterator<Item = String>>(domains: I) -> HostAllowListLayer {
        HostAllowListLayer {
            hosts: Arc::new(
                domains
                    .into_iter()
                    .map(|d| d.to_ascii_lowercase().into_boxed_str())
                    .collect(),
            ),
        }
    }
}

impl<S> tower::Layer<S> for HostAllowListLayer {
    type Service = HostAllowList<S>;

    fn layer(&self, inner: S) -> HostAllowList<S> {
        HostAllowList {
            inner,
            hosts: Arc::clone(&self.hosts),
        }
    }
}

impl<S> HostAllowList<S> {
    fn allows(&self, parts: &http::HeaderMap) -> bool {
        let Some(host) = parts.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let domain = match host.rsplit_once(':') {
            Some((d, port)) if !host.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
                d
            }
            _ => host,
        };
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            self.hosts.contains(domain.to_ascii_lowercase().as_str())
        } else {
            self.hosts.contains(domain)
        }
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for HostAllowList<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HostAllowListFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.allows(req.headers()) {
            HostAllowListFuture {
                state: HostAllowListState::Inner {
                    fut: self.inner.call(req),
                },
            }
        } else {
            let mut resp = Response::new(ResBody::default());
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            HostAllowListFuture {
                state: HostAllowListState::Rejected { resp: Some(resp) },
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HostAllowList`].
    pub struct HostAllowListFuture<F, B> {
        #[pin]
        state: HostAllowListState<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = HostAllowListProj]
    enum HostAllowListState<F, B> {
        Inner { #[pin] fut: F },
        Rejected { resp: Option<Response<B>> },
    }
}

impl<F, B, E> Future for HostAllowListFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            HostAllowListProj::Inner { fut } => fut.poll(cx),
            HostAllowListProj::Rejected { resp } => match resp.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
        }
    }
}

/// Five nested `SetResponseHeader`s, one per [`SECURITY_HEADERS`] entry.
type SetFive<S> = SetResponseHeader<
    SetResponseHeader<
        SetResponseHeader<
            SetResponseHeader<SetResponseHeader<S, HeaderValue>, HeaderValue>,
            HeaderValue,
        >,
        HeaderValue,
    >,
    HeaderValue,
>;

/// The service [`TowerHttpStack`] makes of `S`.
pub type TowerHttpService<S> = SetFive<HostAllowList<Cors<S>>>;

/// What a service would assemble from tower-http for the job `Security::layer()` does
/// on a plain-HTTP production request: `SetResponseHeaderLayer::overriding` for the five
/// security headers (on every response, rejections included), then the Host allow-list
/// ([`HostAllowListLayer`]), then tower-http's `CorsLayer` with the same origins
/// ([`tower_http_cors`], which adds its own `Vary`). No CSRF check, no WebSocket Origin
/// check, no TLS redirect, no cookie hardening.
#[derive(Clone, Debug)]
pub struct TowerHttpStack {
    headers: [SetResponseHeaderLayer<HeaderValue>; 5],
    hosts: HostAllowListLayer,
    cors: CorsLayer,
}

impl TowerHttpStack {
    /// The stack for the production policy of `n` generated domains.
    pub fn new(n: usize) -> TowerHttpStack {
        TowerHttpStack {
            headers: SECURITY_HEADERS.map(|(name, value)| {
                SetResponseHeaderLayer::overriding(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            }),
            hosts: HostAllowListLayer::new(domains(n)),
            cors: tower_http_cors(n),
        }
    }
}

impl<S> tower::Layer<S> for TowerHttpStack {
    type Service = TowerHttpService<S>;

    fn layer(&self, inner: S) -> TowerHttpService<S> {
        let [a, b, c, d, e] = &self.headers;
        let svc = self.hosts.layer(self.cors.layer(inner));
        a.layer(b.layer(c.layer(d.layer(e.layer(svc)))))
    }
}

/// The trivial service every stack bench wraps: an empty `200 OK`.
pub fn trivial_service()
-> impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone {
    tower::service_fn(|_req: Request<()>| std::future::ready(Ok(Response::new(String::new()))))
}

/// Drives `svc` through `poll_ready` and `call`, polling the future once with a no-op
/// waker: every service benched here answers without waiting, so this measures the
/// service and nothing of an executor.
///
/// # Panics
/// If the service is not ready, fails, or its future is pending.
pub fn call_now<S, R>(svc: &mut S, req: R) -> S::Response
where
    S: tower::Service<R>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => panic!("service failed: {e:?}"),
        Poll::Pending => panic!("service not ready"),
    }
    let fut = pin!(svc.call(req));
    poll_now(fut, &mut cx)
}

fn poll_now<F, T, E>(fut: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> T
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    match fut.poll(cx) {
        Poll::Ready(Ok(r)) => r,
        Poll::Ready(Err(e)) => panic!("service failed: {e:?}"),
        Poll::Pending => panic!("service future pending"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hardened::Decision;
    use hardened::enforce::Answer;

    /// Each case's request gets the verdict the case is named for, so the benches
    /// measure the path they claim to.
    #[test]
    fn cases_take_the_intended_path() {
        let n = 10;
        for case in Case::ALL {
            let sec = case.security(n);
            let (parts, ()) = request(case, n, Shape::Stack).into_parts();
            let d = sec.decide(&parts);
            match case {
                Case::Miss => assert!(d.rejection().is_some(), "{case:?}: {d:?}"),
                Case::Preflight => match d {
                    Decision::Answer(Answer::Preflight, a) => assert!(a.cors_origin().is_some()),
                    other => panic!("{case:?}: {other:?}"),
                },
                Case::PrivateIp => assert!(d.is_pass(), "{case:?}: {d:?}"),
                _ => match d {
                    Decision::Pass(a) => assert!(a.cors_origin().is_some(), "{case:?}"),
                    other => panic!("{case:?}: {other:?}"),
                },
            }
        }
    }

    #[test]
    fn naive_baselines_agree() {
        let n = 10;
        let list = domains(n);
        let (hit, ()) = request(Case::Hit, n, Shape::Host).into_parts();
        let (miss, ()) = request(Case::Miss, n, Shape::Host).into_parts();
        assert!(naive_host_allowed(&list, &hit));
        assert!(!naive_host_allowed(&list, &miss));
        let (sub, ()) = request(Case::Subdomain, n, Shape::Host).into_parts();
        assert!(naive_host_allowed(&Case::Subdomain.domains(n), &sub));
        let origins = origins(n);
        let (hit, ()) = request(Case::Hit, n, Shape::Cors).into_parts();
        let (miss, ()) = request(Case::Miss, n, Shape::Cors).into_parts();
        assert!(naive_origin_allowed(&origins, &hit));
        assert!(!naive_origin_allowed(&origins, &miss));
    }

    #[test]
    fn call_now_drives_the_stack() {
        let sec = Case::Hit.security(10);
        let mut svc = tower::Layer::layer(&sec.layer(), trivial_service());
        let resp = call_now(&mut svc, request(Case::Hit, 10, Shape::Stack));
        assert_eq!(resp.status(), http::StatusCode::OK);
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
    }

    #[test]
    fn tower_http_stack_checks_the_host_and_adds_the_headers() {
        let mut svc = tower::Layer::layer(&TowerHttpStack::new(10), trivial_service());
        let resp = call_now(&mut svc, request(Case::Hit, 10, Shape::Stack));
        assert_eq!(resp.status(), http::StatusCode::OK);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(resp.headers()[name], value, "{name}");
        }
        assert!(
            resp.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        let resp = call_now(&mut svc, request(Case::Miss, 10, Shape::Stack));
        assert_eq!(resp.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
        let mut req = request(Case::Hit, 10, Shape::Stack);
        req.headers_mut().insert(
            header::HOST,
            HeaderValue::from_static("APP5.Example.com:8000"),
        );
        assert_eq!(call_now(&mut svc, req).status(), http::StatusCode::OK);
    }
}
