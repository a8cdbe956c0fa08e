//! HTTP tests on loopback: an axum 0.8 app behind `Security::layer()`, served on
//! 127.0.0.1:0 and driven by a real client (hyper-util's legacy client), by raw TCP for
//! malformed requests, and in process with `tower::ServiceExt::oneshot`.
//!
//! Every policy is built in code with an injected [`RuntimeProbe`]: the real probe is
//! never used (the test machine may itself be a container). Every network wait is
//! bounded by [`TIMEOUT`], so a hang fails the test instead of blocking the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, options, post};
use bytes::Bytes;
use hardened::config::{Config, DockerMode, TrustedProxies};
use hardened::domain::{Origin, parse_entry};
use hardened::probe::RuntimeProbe;
use hardened::{Check, CsrfExempt, PeerAddr, Rejection, Security};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Layer, ServiceExt};

/// The longest any single exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);

const HSTS: &str = "max-age=31536000; includeSubDomains; preload";

// ---------------------------------------------------------------- configs

fn entries(domains: &[&str]) -> Vec<hardened::domain::DomainEntry> {
    domains.iter().map(|d| parse_entry(d).unwrap()).collect()
}

/// Development (the built-in defaults) with these domains.
fn dev(domains: &[&str]) -> Config {
    let mut cfg = Config::development();
    cfg.security_domains = entries(domains);
    cfg
}

/// Production with these domains.
fn prod(domains: &[&str]) -> Config {
    Config::production(domains).unwrap()
}

fn compile(cfg: &Config, probe: &RuntimeProbe) -> Security {
    Security::from_config(cfg, probe).unwrap_or_else(|e| panic!("config rejected:\n{e}"))
}

/// Trusts forwarded headers only from 10.9.9.9, so a client on 127.0.0.1 is untrusted.
fn untrusted_loopback(mut cfg: Config) -> Config {
    cfg.trusted_proxies = Some(TrustedProxies::Networks(vec![
        "10.9.9.9/32".parse().unwrap(),
    ]));
    cfg
}

// ---------------------------------------------------------------- the app

/// The handler of most routes: says what reached it, and marks the response.
pub(super) async fn echo(req: Request) -> Response {
    let body = format!("{} {}", req.method(), req.uri().path());
    ([("x-reached", "1")], body).into_response()
}

async fn login() -> Response {
    let mut h = HeaderMap::new();
    for c in [
        "sessionid=abc; Path=/",
        "csrftoken=tok; Path=/",
        "theme=dark; SameSite=None",
    ] {
        h.append(header::SET_COOKIE, HeaderValue::from_static(c));
    }
    (h, [("x-reached", "1")], "logged in").into_response()
}

async fn login_strict() -> Response {
    (
        [
            (
                header::SET_COOKIE,
                "sessionid=abc; SameSite=Strict; HttpOnly; Secure",
            ),
            (header::HeaderName::from_static("x-reached"), "1"),
        ],
        "logged in",
    )
        .into_response()
}

/// A handler that sets the security headers itself: the layer must keep its values.
async fn own_headers() -> Response {
    (
        [
            (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::STRICT_TRANSPORT_SECURITY, "max-age=60"),
            (
                header::HeaderName::from_static("cross-origin-opener-policy"),
                "unsafe-none",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "own headers",
    )
        .into_response()
}

async fn vary_accept_encoding() -> Response {
    ([(header::VARY, "Accept-Encoding")], "vary").into_response()
}

async fn vary_origin() -> Response {
    ([(header::VARY, "Origin")], "vary").into_response()
}

async fn options_handler() -> Response {
    (
        StatusCode::NO_CONTENT,
        [("x-reached", "1"), ("allow", "GET, POST, OPTIONS")],
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [("x-reached", "1")], "not found").into_response()
}

/// Outside the security layer: hands it the peer address (from axum's `ConnectInfo`)
/// and exempts requests carrying a bearer token from CSRF (they are not sent by a
/// browser on its own), through the [`CsrfExempt`] extension.
pub(super) async fn outer(mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(PeerAddr(addr));
    }
    if req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "))
    {
        req.extensions_mut().insert(CsrfExempt);
    }
    next.run(req).await
}

fn routes() -> Router {
    Router::new()
        .route("/", any(echo))
        .route("/path", any(echo))
        .route("/healthz", get(echo))
        .route("/login", get(login))
        .route("/login-strict", get(login_strict))
        .route("/own-headers", get(own_headers))
        .route("/vary", get(vary_accept_encoding))
        .route("/vary-origin", get(vary_origin))
        .route("/hooks/{id}", post(echo))
        .route("/api/{*rest}", any(echo))
        .route("/options", options(options_handler).post(echo))
        .route("/get-only", get(echo))
        .fallback(not_found)
}

fn app(security: &Security) -> Router {
    routes()
        .layer(security.layer())
        .layer(middleware::from_fn(outer))
}

// ---------------------------------------------------------------- server and client

pub(super) struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(security: &Security) -> Server {
    serve_router(app(security)).await
}

pub(super) async fn serve_router(router: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let make = router.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, make).await;
    });
    let client = Client::builder(TokioExecutor::new()).build_http();
    Server { addr, task, client }
}

#[derive(Debug)]
pub(super) struct Resp {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Resp {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The application handler produced this response.
    pub(super) fn reached(&self) -> bool {
        self.headers.contains_key("x-reached")
    }

    /// The response carries CORS grant headers.
    fn has_cors(&self) -> bool {
        [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-max-age",
        ]
        .iter()
        .any(|h| self.headers.contains_key(*h))
    }
}

impl Server {
    pub(super) async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::new())).unwrap();
        let what = format!("{method} {path} {headers:?}");
        let fut = async {
            let resp = self.client.request(req).await.unwrap();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Resp {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {TIMEOUT:?}"))
    }

    pub(super) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, headers).await
    }

    pub(super) async fn post(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("POST", path, headers).await
    }

    /// `GET /` with this Host header: the status.
    async fn host_status(&self, host: &str) -> StatusCode {
        self.get("/", &[("host", host)]).await.status
    }

    /// Writes raw bytes on a new connection and reads the answer until the server
    /// closes the connection (requests say `Connection: close`) or [`TIMEOUT`].
    async fn raw(&self, request: &[u8]) -> String {
        let fut = async {
            let mut s = TcpStream::connect(self.addr).await.unwrap();
            // The server may answer and close before reading everything: not an error.
            let _ = s.write_all(request).await;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = s.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf
        };
        let buf = tokio::time::timeout(TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{:?}: the connection stayed open past {TIMEOUT:?}",
                    String::from_utf8_lossy(request)
                )
            });
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The status code of a raw HTTP/1 response, 0 when there is none.
fn raw_status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Asserts `GET /` with each Host gets the expected status.
async fn assert_hosts(srv: &Server, cases: &[(&str, u16)], what: &str) {
    let mut failures = Vec::new();
    for (host, want) in cases {
        let got = srv.host_status(host).await;
        if got.as_u16() != *want {
            failures.push(format!("Host: {host}: want {want}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------- hosts

/// Names and addresses that only the container rules allow.
const CONTAINER_HOSTS: [&str; 8] = [
    "10.0.0.5",
    "172.16.3.4:8000",
    "192.168.1.1",
    "[fd00::1]",
    "api.default.svc.cluster.local",
    "api.default.svc",
    "web-1",
    "backend:8000",
];

#[tokio::test]
async fn hosts_development_plain_host() {
    let srv = serve(&compile(&dev(&["example.com"]), &RuntimeProbe::none())).await;
    let mut cases = vec![
        ("localhost", 200),
        ("localhost:3000", 200),
        ("app.localhost", 200),
        ("127.0.0.1", 200),
        ("127.0.0.1:8000", 200),
        ("[::1]:8000", 200),
        ("example.com", 200),
        ("EXAMPLE.com.", 200),
        ("example.com:8443", 200),
        ("www.example.com", 400),
        ("evil.com", 400),
        ("127.0.0.2", 400),
    ];
    cases.extend(CONTAINER_HOSTS.iter().map(|h| (*h, 400)));
    assert_hosts(&srv, &cases, "development, plain host").await;
}

#[tokio::test]
async fn hosts_production_plain_host() {
    let srv = serve(&compile(
        &prod(&["example.com", "https://api.example.com"]),
        &RuntimeProbe::none(),
    ))
    .await;
    let mut cases = vec![
        ("example.com", 200),
        ("api.example.com", 200),
        ("Example.COM:443", 200),
        ("www.example.com", 400),
        ("localhost", 400),
        ("app.localhost", 400),
        ("127.0.0.1", 400),
        ("[::1]", 400),
        ("evil.com", 400),
    ];
    cases.extend(CONTAINER_HOSTS.iter().map(|h| (*h, 400)));
    assert_hosts(&srv, &cases, "production, plain host").await;
}

fn with_backend(mut cfg: Config) -> Config {
    // A single-label service name named in a config URL joins the hosts in containers.
    cfg.api_url = Origin::parse_header("http://backend:8000");
    cfg
}

#[tokio::test]
async fn hosts_in_docker_both_modes() {
    let docker = RuntimeProbe::docker(Some("web-1"));
    for (name, cfg) in [
        ("development", with_backend(dev(&["example.com"]))),
        ("production", with_backend(prod(&["example.com"]))),
    ] {
        let srv = serve(&compile(&cfg, &docker)).await;
        let mut cases: Vec<(&str, u16)> = CONTAINER_HOSTS.iter().map(|h| (*h, 200)).collect();
        cases.extend([
            ("example.com", 200),
            // loopback is an internal network: allowed by IP in containers.
            ("127.0.0.1", 200),
            ("172.32.0.1", 400), // outside 172.16.0.0/12
            ("8.8.8.8", 400),
            ("100.64.0.1", 400), // not internal unless configured
            ("[2001:db8::1]", 400),
            ("web-2", 400),
            ("other", 400),
            ("cluster.local.evil.com", 400),
            ("svc.evil.com", 400),
            ("evil.com", 400),
        ]);
        assert_hosts(&srv, &cases, &format!("{name} in Docker")).await;
    }
}

#[tokio::test]
async fn hosts_in_kubernetes() {
    let k8s = RuntimeProbe::kubernetes(Some("api-7d9f-x2"));
    let srv = serve(&compile(&prod(&["example.com"]), &k8s)).await;
    assert_hosts(
        &srv,
        &[
            ("10.244.1.17:8080", 200),
            ("api.default.svc.cluster.local", 200),
            ("api.default.svc", 200),
            ("api-7d9f-x2", 200),
            ("web-1", 400),
            ("evil.com", 400),
        ],
        "production in Kubernetes",
    )
    .await;
}

#[tokio::test]
async fn docker_mode_overrides_the_probe() {
    let mut off = prod(&["example.com"]);
    off.docker = DockerMode::Off;
    let srv = serve(&compile(&off, &RuntimeProbe::docker(Some("web-1")))).await;
    assert_hosts(
        &srv,
        &[("10.0.0.5", 400), ("web-1", 400), ("a.svc", 400)],
        "docker: false in a container",
    )
    .await;

    let mut on = prod(&["example.com"]);
    on.docker = DockerMode::On;
    let srv = serve(&compile(&on, &RuntimeProbe::none())).await;
    assert_hosts(
        &srv,
        &[("10.0.0.5", 200), ("a.svc", 200), ("evil.com", 400)],
        "docker: true on a plain host",
    )
    .await;
}

#[tokio::test]
async fn internal_networks_extend_the_defaults() {
    let mut cfg = prod(&["example.com"]);
    cfg.internal_networks = vec!["100.64.0.0/10".parse().unwrap()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::docker(None))).await;
    assert_hosts(
        &srv,
        &[("100.64.0.1", 200), ("10.1.1.1", 200), ("100.128.0.1", 400)],
        "internal_networks in Docker",
    )
    .await;
    // Outside containers, internal networks do not open hosts.
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_hosts(
        &srv,
        &[("100.64.0.1", 400)],
        "internal_networks, plain host",
    )
    .await;
}

#[tokio::test]
async fn wildcard_host_only_in_development_when_listed() {
    let srv = serve(&compile(&dev(&["*"]), &RuntimeProbe::none())).await;
    assert_hosts(
        &srv,
        &[
            ("evil.com", 200),
            ("anything.example", 200),
            // `*` allows any host, never a malformed one.
            ("evil.com@example.com", 400),
        ],
        "development with *",
    )
    .await;
    let mut cfg = prod(&["example.com"]);
    cfg.security_domains = entries(&["*"]);
    assert!(Security::from_config(&cfg, &RuntimeProbe::none()).is_err());
}

#[tokio::test]
async fn x_forwarded_host_is_never_trusted() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    // From a trusted (loopback) peer too.
    let r = srv
        .get(
            "/",
            &[("host", "evil.com"), ("x-forwarded-host", "example.com")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.reached());
    let r = srv
        .get(
            "/",
            &[("host", "example.com"), ("x-forwarded-host", "evil.com")],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv
        .get(
            "/",
            &[("host", "evil.com"), ("forwarded", "host=example.com")],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn rejected_host_response() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv.get("/", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert!(!r.reached());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.body.contains("evil.com"), "{}", r.body);
    // Production does not tell the client how to reconfigure the server.
    assert!(!r.body.contains("fix:"), "{}", r.body);
    // Rejections still carry the security headers.
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));

    let srv = serve(&compile(&dev(&[]), &RuntimeProbe::none())).await;
    let r = srv.get("/", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("fix: add evil.com to security_domains"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn health_check_paths_skip_host_check_and_redirect() {
    let mut cfg = prod(&["example.com"]);
    cfg.health_check_paths = vec!["/healthz".into()];
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    // A kubelet probe by pod IP over plain http: neither 400 nor 301.
    let r = srv.get("/healthz", &[("host", "10.0.0.5:8000")]).await;
    assert_eq!(r.status, 200);
    assert!(r.reached());
    let r = srv.get("/healthz", &[("host", "example.com")]).await;
    assert_eq!(r.status, 200, "no redirect on a health-check path");
    // Only the listed path.
    let r = srv.get("/healthz/x", &[("host", "10.0.0.5")]).await;
    assert_eq!(r.status, 400);
    let r = srv.get("/healthzx", &[("host", "10.0.0.5")]).await;
    assert_eq!(r.status, 400);
    let r = srv.get("/", &[("host", "10.0.0.5")]).await;
    assert_eq!(r.status, 400);
    let r = srv.get("/path", &[("host", "example.com")]).await;
    assert_eq!(r.status, 301);
}

/// `Router::layer` also wraps axum's default fallback: unknown paths are checked too.
#[tokio::test]
async fn unknown_paths_are_checked_with_the_default_fallback() {
    let security = compile(&prod(&["example.com"]), &RuntimeProbe::none());
    let router = Router::new()
        .route("/", get(echo))
        .layer(security.layer())
        .layer(middleware::from_fn(outer));
    let srv = serve_router(router).await;
    let r = srv.get("/nope", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    let r = srv.get("/nope", &[("host", "example.com")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let r = srv
        .post(
            "/nope",
            &[("host", "example.com"), ("origin", "https://evil.com")],
        )
        .await;
    assert_eq!(r.status, 403);
}

// ---------------------------------------------------------------- TLS, proxy header, HSTS

#[tokio::test]
async fn ssl_redirect_in_production() {
    let mut cfg = prod(&["example.com"]);
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let r = srv.get("/path?q=1&x=%20", &[("host", "example.com")]).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://example.com/path?q=1&x=%20")
    );
    assert!(!r.reached());
    assert_eq!(r.header("strict-transport-security"), None);
    assert_eq!(r.body, "");
    // The port of the Host header is kept, as Django's get_host() does.
    let r = srv.get("/", &[("host", "example.com:8080")]).await;
    assert_eq!(r.header("location"), Some("https://example.com:8080/"));
    // Every method is redirected (Django's SecurityMiddleware).
    let r = srv.post("/path", &[("host", "example.com")]).await;
    assert_eq!(r.status, 301);
    // A foreign host is rejected, never redirected (no open redirect).
    let r = srv.get("/", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("location"), None);
}

#[tokio::test]
async fn no_redirect_loop_behind_a_trusted_proxy() {
    let mut cfg = prod(&["example.com"]);
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    for xfp in ["https", "https, http", "HTTPS"] {
        let r = srv
            .get(
                "/path",
                &[("host", "example.com"), ("x-forwarded-proto", xfp)],
            )
            .await;
        if xfp == "HTTPS" {
            // Django compares the value exactly: `HTTPS` is not `https`.
            assert_eq!(r.status, 301, "X-Forwarded-Proto: {xfp}");
            continue;
        }
        assert_eq!(r.status, 200, "X-Forwarded-Proto: {xfp}");
        assert!(r.reached());
        assert_eq!(r.header("strict-transport-security"), Some(HSTS));
    }
    let r = srv
        .get(
            "/path",
            &[("host", "example.com"), ("x-forwarded-proto", "http")],
        )
        .await;
    assert_eq!(r.status, 301);
}

#[tokio::test]
async fn proxy_header_from_an_untrusted_peer_is_ignored() {
    let mut cfg = untrusted_loopback(prod(&["example.com"]));
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let r = srv
        .get(
            "/path",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(
        r.status, 301,
        "an untrusted peer cannot mark a request secure"
    );

    let srv = serve(&compile(
        &untrusted_loopback(prod(&["example.com"])),
        &RuntimeProbe::none(),
    ))
    .await;
    let r = srv
        .get(
            "/",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("strict-transport-security"), None);
    // Not secure, so no Referer is demanded of an Origin-less POST.
    let r = srv
        .post(
            "/",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.status, 200);

    // `*` trusts every peer.
    let mut any = prod(&["example.com"]);
    any.trusted_proxies = Some(TrustedProxies::Any);
    let srv = serve(&compile(&any, &RuntimeProbe::none())).await;
    let r = srv
        .get(
            "/",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));
}

#[tokio::test]
async fn hsts_only_on_secure_production_responses() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let secure = [("host", "example.com"), ("x-forwarded-proto", "https")];
    let plain = [("host", "example.com")];
    // Without ssl_redirect, plain requests are served (the proxy redirects), no HSTS.
    let r = srv.get("/", &plain).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("strict-transport-security"), None);
    let r = srv.get("/", &secure).await;
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));
    let r = srv.get("/nope", &secure).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));
    // A handler's own HSTS is kept.
    let r = srv.get("/own-headers", &secure).await;
    assert_eq!(r.all("strict-transport-security"), ["max-age=60"]);
}

#[tokio::test]
async fn development_never_redirects_nor_sends_hsts() {
    let mut cfg = dev(&["example.com"]);
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    for headers in [
        &[("host", "example.com")][..],
        &[("host", "example.com"), ("x-forwarded-proto", "https")][..],
    ] {
        let r = srv.get("/", headers).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("strict-transport-security"), None);
    }
    // The proxy header means nothing in development: no Referer demanded.
    let r = srv
        .post(
            "/",
            &[("host", "localhost"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------- CORS

/// Asserts `GET /` with each Origin gets (or not) CORS grant headers.
async fn assert_cors(srv: &Server, host: &str, cases: &[(&str, bool)], what: &str) {
    let mut failures = Vec::new();
    for (origin, allowed) in cases {
        let r = srv.get("/", &[("host", host), ("origin", origin)]).await;
        assert_eq!(r.status, 200, "{what}: Origin {origin}");
        let acao = r.header("access-control-allow-origin");
        let ok = if *allowed {
            acao == Some(*origin) && r.header("access-control-allow-credentials") == Some("true")
        } else {
            !r.has_cors()
        };
        if !ok {
            failures.push(format!(
                "Origin: {origin}: want allowed={allowed}, got {acao:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn cors_origins_in_development() {
    let cfg = dev(&["example.com", "http://staging.example.com:8080"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_cors(
        &srv,
        "localhost",
        &[
            ("https://example.com", true),
            ("http://example.com", true),
            ("http://staging.example.com:8080", true),
            ("https://staging.example.com:8080", true),
            ("http://localhost:1234", true),
            ("http://localhost:3000", true),
            ("http://127.0.0.1:65000", true),
            ("http://[::1]:3000", true),
            ("https://app.localhost", true),
            ("https://EXAMPLE.com:443", true),
            ("https://www.example.com", false),
            ("https://evil.com", false),
            ("http://example.com.evil.com", false),
            ("null", false),
            ("file://", false),
        ],
        "development",
    )
    .await;
}

#[tokio::test]
async fn cors_origins_in_production() {
    let cfg = prod(&["example.com", "http://staging.example.com:8080"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_cors(
        &srv,
        "example.com",
        &[
            ("https://example.com", true),
            ("https://example.com:443", true),
            ("https://Example.COM", true),
            ("http://staging.example.com:8080", true),
            ("http://example.com", false),
            ("https://staging.example.com:8080", false),
            ("http://localhost:3000", false),
            ("http://127.0.0.1:8000", false),
            ("https://evil.com", false),
            ("null", false),
        ],
        "production",
    )
    .await;
    // Loopback only when listed.
    let cfg = prod(&["example.com", "http://localhost:3000"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_cors(
        &srv,
        "example.com",
        &[
            ("http://localhost:3000", true),
            ("http://localhost:3001", false),
        ],
        "production with localhost:3000 listed",
    )
    .await;
}

#[tokio::test]
async fn credentialed_cors_never_uses_a_wildcard() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv
        .send(
            "PUT",
            "/",
            &[
                ("host", "example.com"),
                ("origin", "https://example.com"),
                ("cookie", "sessionid=abc"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.reached());
    assert_eq!(
        r.all("access-control-allow-origin"),
        ["https://example.com"]
    );
    assert_eq!(r.all("access-control-allow-credentials"), ["true"]);
    assert!(
        r.all("vary")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("origin")),
        "{:?}",
        r.headers
    );
    // Only preflights and OPTIONS get the method and header lists.
    assert_eq!(r.header("access-control-allow-methods"), None);
}

#[tokio::test]
async fn preflight_allowed() {
    let srv = serve(&compile(&dev(&[]), &RuntimeProbe::none())).await;
    // On a route with an OPTIONS handler, a POST-only route, and an unknown path: the
    // layer answers every preflight itself.
    for path in ["/", "/hooks/1", "/get-only", "/nope"] {
        let r = srv
            .send(
                "OPTIONS",
                path,
                &[
                    ("host", "localhost:8000"),
                    ("origin", "http://localhost:3000"),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type, x-csrftoken",
                    ),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.reached(),
            "{path}: a preflight must not reach the handler"
        );
        assert_eq!(r.body, "");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let methods = r.header("access-control-allow-methods").unwrap();
        for m in ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"] {
            assert!(methods.contains(m), "{methods}");
        }
        let headers = r.header("access-control-allow-headers").unwrap();
        for h in [
            "accept",
            "authorization",
            "content-type",
            "x-csrftoken",
            "x-requested-with",
        ] {
            assert!(headers.contains(h), "{headers}");
        }
        assert_eq!(r.header("access-control-max-age"), Some("86400"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn preflight_denied_is_200_without_cors_headers() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    for origin in ["https://evil.com", "http://example.com", "null"] {
        let r = srv
            .send(
                "OPTIONS",
                "/",
                &[
                    ("host", "example.com"),
                    ("origin", origin),
                    ("access-control-request-method", "DELETE"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{origin}");
        assert!(!r.reached());
        assert!(!r.has_cors(), "{origin}: {:?}", r.headers);
    }
    // A preflight for a foreign Host is still a host rejection.
    let r = srv
        .send(
            "OPTIONS",
            "/",
            &[
                ("host", "evil.com"),
                ("origin", "https://example.com"),
                ("access-control-request-method", "DELETE"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn ordinary_options_reaches_the_handler() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv
        .send("OPTIONS", "/options", &[("host", "example.com")])
        .await;
    assert_eq!(r.status, 204);
    assert!(r.reached());
    assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
    // With an allowed Origin but no Access-Control-Request-Method: still the handler's.
    let r = srv
        .send(
            "OPTIONS",
            "/options",
            &[("host", "example.com"), ("origin", "https://example.com")],
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.reached());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://example.com")
    );
}

#[tokio::test]
async fn vary_origin_is_appended_never_clobbered() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    for origin in [Some("https://example.com"), Some("https://evil.com"), None] {
        let mut headers = vec![("host", "example.com")];
        headers.extend(origin.map(|o| ("origin", o)));
        let r = srv.get("/vary", &headers).await;
        let vary: Vec<String> = r
            .all("vary")
            .iter()
            .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
            .collect();
        assert!(vary.contains(&"accept-encoding".to_owned()), "{vary:?}");
        assert!(vary.contains(&"origin".to_owned()), "{vary:?}");
        // An existing `Vary: Origin` is not repeated.
        let r = srv.get("/vary-origin", &headers).await;
        assert_eq!(r.all("vary"), ["Origin"], "{origin:?}");
    }
}

// ---------------------------------------------------------------- CSRF

/// Asserts a plain-http `POST /` with each Origin gets the expected status.
async fn assert_csrf_origins(srv: &Server, host: &str, cases: &[(&str, u16)], what: &str) {
    let mut failures = Vec::new();
    for (origin, want) in cases {
        let r = srv.post("/", &[("host", host), ("origin", origin)]).await;
        if r.status.as_u16() != *want || r.reached() != (*want == 200) {
            failures.push(format!("Origin: {origin}: want {want}, got {}", r.status));
        }
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn csrf_origin_in_development() {
    let mut cfg = dev(&["example.com"]);
    cfg.service_urls = vec![Origin::parse_header("http://localhost:7777").unwrap()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let own = format!("http://127.0.0.1:{}", srv.addr.port());
    let own_host = format!("127.0.0.1:{}", srv.addr.port());
    assert_csrf_origins(
        &srv,
        &own_host,
        &[
            (own.as_str(), 200), // same origin, whatever the port
            ("http://localhost:3000", 200),
            ("http://localhost:5000", 200),
            ("https://localhost:4200", 200),
            ("http://127.0.0.1:8000", 200),
            ("http://[::1]:9000", 200),
            ("http://localhost:7777", 200), // a loopback port named in config
            ("http://localhost:5173", 200), // Vite's default
            ("http://127.0.0.1:5173", 200),
            ("http://[::1]:5173", 200),
            ("http://localhost:5174", 403),
            ("https://example.com", 200),
            ("http://localhost:2999", 403),
            ("http://localhost:5001", 403),
            ("http://localhost:9001", 403),
            ("http://localhost:7778", 403),
            ("http://localhost", 403),
            ("http://example.com", 403), // CSRF trusts the domains' own origins only
            ("https://evil.com", 403),
            ("null", 403),
        ],
        "development",
    )
    .await;
}

#[tokio::test]
async fn csrf_origin_in_production() {
    let cfg = prod(&["example.com", "https://api.example.com"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_csrf_origins(
        &srv,
        "example.com",
        &[
            ("https://example.com", 200),
            ("https://api.example.com", 200),
            ("https://example.com:443", 200),
            ("http://example.com", 200), // the request's own origin (plain http)
            ("http://example.com:8080", 403),
            ("https://www.example.com", 403),
            ("http://localhost:3000", 403),
            ("https://evil.com", 403),
            ("null", 403),
            ("", 403),
        ],
        "production",
    )
    .await;
    // Same origin on a secure request is https.
    let secure = |origin| {
        [
            ("host", "example.com"),
            ("x-forwarded-proto", "https"),
            ("origin", origin),
        ]
    };
    assert_eq!(
        srv.post("/", &secure("https://example.com")).await.status,
        200
    );
    let r = srv.post("/", &secure("http://example.com")).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Origin checking failed"), "{}", r.body);
    // Two Origin headers are refused.
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com"),
                ("origin", "https://example.com"),
                ("origin", "https://evil.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    // Safe methods are never checked.
    for m in ["GET", "HEAD", "OPTIONS", "TRACE"] {
        let r = srv
            .send(
                m,
                "/",
                &[("host", "example.com"), ("origin", "https://evil.com")],
            )
            .await;
        assert_ne!(r.status, 403, "{m}");
    }
    for m in ["PUT", "PATCH", "DELETE"] {
        let r = srv
            .send(
                m,
                "/",
                &[("host", "example.com"), ("origin", "https://evil.com")],
            )
            .await;
        assert_eq!(r.status, 403, "{m}");
    }
}

#[tokio::test]
async fn csrf_referer_on_secure_requests() {
    let cfg = prod(&["example.com", "https://api.example.com"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let cases: &[(Option<&str>, u16, &str)] = &[
        (None, 403, "no Referer"),
        (Some("http://example.com/form"), 403, "Referer is insecure"),
        (Some("https://evil.com/form"), 403, "does not match"),
        (Some("https://example.com.evil.com/"), 403, "does not match"),
        (Some("not a url"), 403, "malformed"),
        (Some("https:///nohost"), 403, "malformed"),
        (Some("https://example.com/form"), 200, ""),
        (Some("https://EXAMPLE.com/form?x=1"), 200, ""),
        (Some("https://api.example.com/"), 200, ""),
    ];
    for (referer, want, reason) in cases {
        // A browser: it sends its cookies.
        let mut headers = vec![
            ("host", "example.com"),
            ("x-forwarded-proto", "https"),
            ("cookie", "sessionid=abc"),
        ];
        headers.extend(referer.map(|r| ("referer", r)));
        let r = srv.post("/", &headers).await;
        assert_eq!(r.status.as_u16(), *want, "Referer {referer:?}: {}", r.body);
        assert!(r.body.contains(reason), "Referer {referer:?}: {}", r.body);
        // Secure responses carry HSTS, rejections included.
        assert_eq!(r.header("strict-transport-security"), Some(HSTS));
    }
    // The request's own host (with its port) is a good Referer.
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com:8443"),
                ("x-forwarded-proto", "https"),
                ("referer", "https://example.com:8443/form"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An Origin settles it: no Referer needed.
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn csrf_without_origin_or_referer_over_plain_http_passes() {
    for cfg in [prod(&["example.com"]), dev(&["example.com"])] {
        let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
        let r = srv.post("/", &[("host", "example.com")]).await;
        assert_eq!(r.status, 200, "{:?}", cfg.environment);
        assert!(r.reached());
        // A Referer alone is not checked on plain http (Django: only when secure).
        let r = srv
            .post(
                "/",
                &[("host", "example.com"), ("referer", "https://evil.com/")],
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", cfg.environment);
    }
}

#[tokio::test]
async fn csrf_sec_fetch_site_cross_site_without_origin() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv
        .post(
            "/",
            &[("host", "example.com"), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403);
    for site in ["same-origin", "same-site", "none"] {
        let r = srv
            .post("/", &[("host", "example.com"), ("sec-fetch-site", site)])
            .await;
        assert_eq!(r.status, 200, "{site}");
    }
    // A trusted Origin wins over Sec-Fetch-Site.
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com"),
                ("origin", "https://example.com"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn csrf_exempt_paths_and_extension() {
    let mut cfg = prod(&["example.com"]);
    cfg.csrf_exempt_paths = vec!["/hooks/{id}".into(), "/api/*".into()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let evil = |host| [("host", host), ("origin", "https://evil.com")];
    let r = srv.post("/hooks/42", &evil("example.com")).await;
    assert_eq!(r.status, 200);
    assert!(r.reached());
    assert_eq!(r.body, "POST /hooks/42");
    assert_eq!(
        srv.post("/api/v1/things", &evil("example.com"))
            .await
            .status,
        200
    );
    // Only the pattern: one segment for `{id}`.
    assert_eq!(
        srv.post("/hooks/42/x", &evil("example.com")).await.status,
        403
    );
    assert_eq!(srv.post("/hooks/", &evil("example.com")).await.status, 403);
    assert_eq!(srv.post("/", &evil("example.com")).await.status, 403);
    // Exempt from CSRF, not from the host check.
    assert_eq!(srv.post("/hooks/42", &evil("evil.com")).await.status, 400);
    // A secure exempt request needs no Referer either.
    let r = srv
        .post(
            "/hooks/42",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.status, 200);

    // The `CsrfExempt` extension, inserted by a middleware outside the layer.
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com"),
                ("origin", "https://evil.com"),
                ("authorization", "Bearer t0ken"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.reached());
    let r = srv
        .post(
            "/",
            &[
                ("host", "evil.com"),
                ("origin", "https://evil.com"),
                ("authorization", "Bearer t0ken"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------- headers and cookies

#[tokio::test]
async fn security_headers_by_environment() {
    let srv = serve(&compile(&dev(&[]), &RuntimeProbe::none())).await;
    let r = srv.get("/", &[("host", "localhost")]).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    for absent in [
        "referrer-policy",
        "cross-origin-opener-policy",
        "x-xss-protection",
        "strict-transport-security",
    ] {
        assert_eq!(r.header(absent), None, "{absent}");
    }

    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv.get("/", &[("host", "example.com")]).await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("x-xss-protection", "0"),
    ] {
        assert_eq!(r.all(name), [value], "{name}");
    }
}

#[tokio::test]
async fn handler_headers_are_not_overwritten() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv
        .get(
            "/own-headers",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(r.status, 200);
    for (name, value) in [
        ("x-frame-options", "SAMEORIGIN"),
        ("referrer-policy", "no-referrer"),
        ("strict-transport-security", "max-age=60"),
        ("cross-origin-opener-policy", "unsafe-none"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(r.all(name), [value], "{name}");
    }
    // The header the handler did not set is still added.
    assert_eq!(r.all("x-xss-protection"), ["0"]);
}

#[tokio::test]
async fn cookies_hardened_in_production() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv.get("/login", &[("host", "example.com")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.all("set-cookie"),
        [
            "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
            // Every cookie without SameSite gets Lax; the CSRF cookie stays readable.
            "csrftoken=tok; Path=/; Secure; SameSite=Lax",
            "theme=dark; SameSite=None; Secure",
        ]
    );
    // Attributes the handler chose are kept, not duplicated or weakened.
    let r = srv.get("/login-strict", &[("host", "example.com")]).await;
    assert_eq!(
        r.all("set-cookie"),
        ["sessionid=abc; SameSite=Strict; HttpOnly; Secure"]
    );
}

#[tokio::test]
async fn cookies_untouched_in_development() {
    let srv = serve(&compile(&dev(&[]), &RuntimeProbe::none())).await;
    let r = srv.get("/login", &[("host", "localhost")]).await;
    assert_eq!(
        r.all("set-cookie"),
        [
            "sessionid=abc; Path=/",
            "csrftoken=tok; Path=/",
            "theme=dark; SameSite=None",
        ]
    );
}

// ---------------------------------------------------------------- hostile requests

#[tokio::test]
async fn host_injection_over_raw_tcp() {
    let mut cfg = prod(&["example.com"]);
    cfg.health_check_paths = vec!["/healthz".into()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: example.com evil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: evil.com example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: evil.com@example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com@evil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com/evil\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com:abc\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com:\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com\\evil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com.\r\nConnection: close\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: EXAMPLE.COM:80\r\nConnection: close\r\n\r\n", 200),
        // CR / LF smuggled into the value, and obsolete line folding.
        (b"GET / HTTP/1.1\r\nHost: example.com\revil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: evil.com\r\n example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com%0d%0aX-Evil: 1\r\nConnection: close\r\n\r\n", 400),
        // Absolute-form targets: the authority must agree with Host.
        (b"GET http://evil.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET http://example.com/ HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 200),
        // Health-check paths waive the allow-list, never the Host syntax checks.
        (b"GET http://evil.com/healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n", 200),
        (b"GET /healthz HTTP/1.1\r\nHost: 10.0.0.5\r\nHost: 10.0.0.6\r\nConnection: close\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: evil.com/x\r\nConnection: close\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.0\r\n\r\n", 400),
        // Duplicate Host headers, either order.
        (b"GET / HTTP/1.1\r\nHost: example.com\r\nHost: evil.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: evil.com\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400),
        // HTTP/1.0 without Host, and with one.
        (b"GET / HTTP/1.0\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
        // Non-UTF-8 and non-ASCII bytes.
        (b"GET / HTTP/1.1\r\nHost: exa\xffmple.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: \xc3\xa9xample.com\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com\x00\r\nConnection: close\r\n\r\n", 400),
        // IPv6 literals.
        (b"GET / HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [::1]]\r\nConnection: close\r\n\r\n", 400),
        // CONNECT's authority-form target must agree with Host.
        (b"CONNECT evil.com:443 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400),
    ];
    let mut failures = Vec::new();
    for (req, want) in cases {
        let resp = srv.raw(req).await;
        let got = raw_status(&resp);
        if got != *want {
            failures.push(format!(
                "{:?}: want {want}, got {got}: {:?}",
                String::from_utf8_lossy(req),
                resp.lines().next().unwrap_or("")
            ));
        }
    }
    // A huge Host header: rejected (by hyper or by the layer), never a hang.
    let mut huge = b"GET / HTTP/1.1\r\nHost: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 100_000));
    huge.extend_from_slice(b".com\r\nConnection: close\r\n\r\n");
    let got = raw_status(&srv.raw(&huge).await);
    if !(400..500).contains(&got) {
        failures.push(format!("100 kB Host: want 4xx, got {got}"));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The server is still up and serving.
    assert_eq!(srv.host_status("example.com").await, 200);
}

#[tokio::test]
async fn http2_authority_is_the_host() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    let cases: &[(&str, Option<&str>, u16)] = &[
        ("http://example.com/", None, 200),
        ("http://evil.com/", None, 400),
        ("http://example.com/", Some("evil.com"), 400),
        ("http://evil.com/", Some("example.com"), 400),
        ("http://example.com/", Some("example.com"), 200),
    ];
    for (uri, host, want) in cases {
        let mut b = http::Request::get(*uri);
        if let Some(h) = host {
            b = b.header("host", *h);
        }
        let req = b.body(Full::new(Bytes::new())).unwrap();
        send.ready().await.unwrap();
        let resp = tokio::time::timeout(TIMEOUT, send.send_request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status().as_u16(), *want, "{uri} host={host:?}");
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
    conn_task.abort();
}

// ---------------------------------------------------------------- in process

/// The layer around a bare function, without axum.
type Bare = tower::util::BoxCloneService<
    http::Request<Full<Bytes>>,
    http::Response<hardened::SecurityBody<Full<Bytes>>>,
    Infallible,
>;

/// A bare inner service: no axum, just the layer around a function.
fn bare(security: &Security) -> Bare {
    bare_with(security.layer())
}

/// A bare inner service behind `layer`: answers "ok" with a session cookie.
fn bare_with(layer: hardened::SecurityLayer) -> Bare {
    let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        let mut resp = http::Response::new(Full::new(Bytes::from_static(b"ok")));
        resp.headers_mut()
            .insert("x-reached", HeaderValue::from_static("1"));
        resp.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static("sessionid=abc"),
        );
        Ok::<_, Infallible>(resp)
    });
    tower::util::BoxCloneService::new(layer.layer(inner))
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn every_rejection_carries_a_rejection_extension() {
    let mut cfg = prod(&["example.com"]);
    cfg.trusted_proxies = Some(TrustedProxies::Any); // no peer address in process
    let security = compile(&cfg, &RuntimeProbe::none());
    let secure = [("host", "example.com"), ("x-forwarded-proto", "https")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = secure.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(http::Request<Full<Bytes>>, Check, &str, u16)> = vec![
        (
            request("GET", "/", &[("host", "evil.com")]),
            Check::Host,
            "host-not-allowed",
            400,
        ),
        (request("GET", "/", &[]), Check::Host, "host-missing", 400),
        (
            request("GET", "/", &[("host", "a b")]),
            Check::Host,
            "host-malformed",
            400,
        ),
        (
            request(
                "GET",
                "/",
                &[("host", "example.com"), ("host", "example.com")],
            ),
            Check::Host,
            "host-duplicate",
            400,
        ),
        (
            request("GET", "http://evil.com/", &[("host", "example.com")]),
            Check::Host,
            "host-conflict",
            400,
        ),
        (
            request(
                "POST",
                "/",
                &[("host", "example.com"), ("origin", "https://evil.com")],
            ),
            Check::Csrf,
            "csrf-bad-origin",
            403,
        ),
        (
            request(
                "POST",
                "/",
                &[("host", "example.com"), ("sec-fetch-site", "cross-site")],
            ),
            Check::Csrf,
            "csrf-cross-site",
            403,
        ),
        (
            request("POST", "/", &with(&[("cookie", "sessionid=x")])),
            Check::Csrf,
            "csrf-no-referer",
            403,
        ),
        (
            request("POST", "/", &with(&[("referer", "nonsense")])),
            Check::Csrf,
            "csrf-malformed-referer",
            403,
        ),
        (
            request("POST", "/", &with(&[("referer", "http://example.com/")])),
            Check::Csrf,
            "csrf-insecure-referer",
            403,
        ),
        (
            request("POST", "/", &with(&[("referer", "https://evil.com/")])),
            Check::Csrf,
            "csrf-bad-referer",
            403,
        ),
    ];
    for (req, check, code, status) in cases {
        let what = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
        let bare_resp = bare(&security).oneshot(clone_request(&req)).await.unwrap();
        let axum_resp = app(&security).oneshot(into_axum(req)).await.unwrap();
        for (via, head) in [("bare", head(&bare_resp)), ("axum", head(&axum_resp))] {
            let (got_status, reached, rejection) = head;
            assert_eq!(got_status.as_u16(), status, "{via}: {what}");
            assert!(!reached, "{via}: {what}");
            let r = rejection.unwrap_or_else(|| panic!("{via}: {what}: no Rejection extension"));
            assert_eq!(
                (r.check(), r.code(), r.status().as_u16()),
                (check, code, status),
                "{via}: {what}"
            );
            assert!(
                !r.reason().is_empty() && !r.fix().is_empty(),
                "{what}: {r:?}"
            );
            assert!(r.to_string().contains(code), "{r}");
        }
    }

    // Allowed requests, redirects and preflights carry none.
    let mut redirecting = prod(&["example.com"]);
    redirecting.ssl_redirect = Some(true);
    let redirecting = compile(&redirecting, &RuntimeProbe::none());
    let cases = [
        (
            &security,
            request("GET", "/", &[("host", "example.com")]),
            200,
        ),
        (
            &security,
            request(
                "OPTIONS",
                "/",
                &[
                    ("host", "example.com"),
                    ("origin", "https://evil.com"),
                    ("access-control-request-method", "PUT"),
                ],
            ),
            200,
        ),
        (
            &redirecting,
            request("GET", "/", &[("host", "example.com")]),
            301,
        ),
    ];
    for (security, req, status) in cases {
        let resp = bare(security).oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), status);
        assert!(resp.extensions().get::<Rejection>().is_none());
    }
}

fn clone_request(req: &http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone());
    for (k, v) in req.headers() {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

fn into_axum(req: http::Request<Full<Bytes>>) -> http::Request<axum::body::Body> {
    req.map(|_| axum::body::Body::empty())
}

/// A response's status, whether the handler produced it, and its [`Rejection`].
fn head<B>(resp: &http::Response<B>) -> (StatusCode, bool, Option<Rejection>) {
    (
        resp.status(),
        resp.headers().contains_key("x-reached"),
        resp.extensions().get::<Rejection>().cloned(),
    )
}

#[tokio::test]
async fn decide_agrees_with_the_layer() {
    let security = compile(&prod(&["example.com"]), &RuntimeProbe::none());
    let (parts, ()) = http::Request::post("/")
        .header("host", "example.com")
        .header("origin", "https://evil.com")
        .body(())
        .unwrap()
        .into_parts();
    let decision = security.decide(&parts);
    match decision.rejection() {
        Some(r) => assert_eq!(r.code(), "csrf-bad-origin"),
        None => panic!("{decision:?}"),
    }
    let resp = bare(&security)
        .oneshot(request(
            "POST",
            "/",
            &[("host", "example.com"), ("origin", "https://evil.com")],
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- more patterns

#[tokio::test]
async fn subdomain_patterns() {
    let cfg = prod(&[".example.com"]);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_hosts(
        &srv,
        &[
            ("example.com", 200),
            ("a.example.com", 200),
            ("a.b.example.com:8443", 200),
            ("aexample.com", 400),
            ("example.com.evil.com", 400),
        ],
        "production with .example.com",
    )
    .await;
    assert_cors(
        &srv,
        "example.com",
        &[
            ("https://example.com", true),
            ("https://app.example.com", true),
            ("http://app.example.com", false),
            ("https://app.example.com:8443", false),
            ("https://appexample.com", false),
        ],
        "production with .example.com",
    )
    .await;
    assert_csrf_origins(
        &srv,
        "example.com",
        &[
            ("https://app.example.com", 200),
            ("https://evil.com", 403),
            ("http://app.example.com", 403),
        ],
        "production with .example.com",
    )
    .await;
    let r = srv
        .post(
            "/",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("referer", "https://app.example.com/form"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn internationalized_domains_compare_as_punycode() {
    let srv = serve(&compile(&prod(&["bücher.example"]), &RuntimeProbe::none())).await;
    assert_hosts(
        &srv,
        &[("xn--bcher-kva.example", 200), ("bucher.example", 400)],
        "IDN host",
    )
    .await;
    assert_cors(
        &srv,
        "xn--bcher-kva.example",
        &[
            ("https://xn--bcher-kva.example", true),
            ("https://bucher.example", false),
        ],
        "IDN origin",
    )
    .await;
}

#[tokio::test]
async fn csrf_rejection_of_a_cors_origin_is_readable_by_the_frontend() {
    // Development: CORS allows loopback on any port, CSRF only the dev-server ranges.
    let srv = serve(&compile(&dev(&[]), &RuntimeProbe::none())).await;
    let r = srv
        .post(
            "/",
            &[
                ("host", "localhost:8000"),
                ("origin", "http://localhost:5001"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5001")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // A foreign origin's rejection grants nothing.
    let r = srv
        .post(
            "/",
            &[("host", "localhost:8000"), ("origin", "https://evil.com")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!r.has_cors());
}

#[tokio::test]
async fn referer_userinfo_tricks() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    for referer in [
        "https://example.com@evil.com/",
        "https://evil.com@example.com/",
        "https://evil.com#@example.com/",
        "https://evil.com\\@example.com/",
        "https://example.com:443/",
    ] {
        let r = srv
            .post(
                "/",
                &[
                    ("host", "example.com"),
                    ("x-forwarded-proto", "https"),
                    ("referer", referer),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "Referer {referer}");
    }
}

#[tokio::test]
async fn ip_literal_spellings_in_containers() {
    let srv = serve(&compile(
        &prod(&["example.com"]),
        &RuntimeProbe::docker(None),
    ))
    .await;
    assert_hosts(
        &srv,
        &[
            ("10.0.0.5.", 200),
            ("010.0.0.5", 400),
            ("10.0.5", 400),
            ("0x0a.0.0.5", 400),
            ("167772165", 400),
            ("[::ffff:8.8.8.8]", 400),
        ],
        "IP spellings in Docker",
    )
    .await;
}

#[tokio::test]
async fn asterisk_form_options() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let resp = srv
        .raw(b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        .await;
    assert!(raw_status(&resp) < 500, "{resp}");
    let resp = srv
        .raw(b"OPTIONS * HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw_status(&resp), 400, "{resp}");
}

// ---------------------------------------------------------------- library bugs found

/// `GET https://example.com/ HTTP/1.1` on a plain-TCP connection (absolute-form target;
/// HTTP/2's `:scheme` likewise) is client-controlled: it says nothing about the
/// connection. `Security::is_secure` believes `parts.uri.scheme()`, so such a request
/// skips `ssl_redirect` and gets HSTS over plain HTTP, and the app's `is_secure` is
/// wrong. Django's `is_secure()` reads the server's connection scheme, never the target.
#[tokio::test]
async fn absolute_form_https_target_is_not_a_secure_connection() {
    let mut cfg = untrusted_loopback(prod(&["example.com"]));
    cfg.ssl_redirect = Some(true);
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let resp = srv
        .raw(b"GET https://example.com/path HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        .await;
    // Actual: 200 with Strict-Transport-Security.
    assert_eq!(raw_status(&resp), 301, "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("location: https://example.com/path\r\n"),
        "{resp}"
    );
}

/// Exempt and health-check path patterns match the raw path, dot segments included:
/// `/api/../admin` matches `/api/*` and `/hooks/..` matches `/hooks/{id}`. Behind the
/// gateway (or any upstream that normalizes paths, as nginx, Go's ServeMux and most
/// frameworks do) that request reaches `/admin` (or `/`) without the CSRF check, and
/// `/health/../admin` without the host check. Browsers never send dot segments, so a
/// path containing one (also percent-encoded: `%2e`) should never be exempt.
#[tokio::test]
async fn dot_segments_never_match_exempt_paths() {
    let mut cfg = prod(&["example.com"]);
    cfg.csrf_exempt_paths = vec!["/api/*".into(), "/hooks/{id}".into()];
    cfg.health_check_paths = vec!["/health/*".into()];
    let security = compile(&cfg, &RuntimeProbe::none());
    let evil = [("host", "example.com"), ("origin", "https://evil.com")];
    let mut failures = Vec::new();
    for path in [
        "/api/../admin",
        "/api/%2e%2e/admin",
        "/api/./../admin",
        "/hooks/..",
    ] {
        let resp = bare(&security)
            .oneshot(request("POST", path, &evil))
            .await
            .unwrap();
        // Actual: 200 (exempt).
        if resp.status() != StatusCode::FORBIDDEN {
            failures.push(format!("POST {path} with Origin evil: {}", resp.status()));
        }
    }
    let resp = bare(&security)
        .oneshot(request("GET", "/health/../admin", &[("host", "evil.com")]))
        .await
        .unwrap();
    // Actual: 200 (host check skipped).
    if resp.status() != StatusCode::BAD_REQUEST {
        failures.push(format!(
            "GET /health/../admin Host evil.com: {}",
            resp.status()
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn each_partial_layer_applies_only_its_check() {
    let mut cfg = prod(&["example.com"]);
    cfg.ssl_redirect = Some(true);
    cfg.trusted_proxies = Some(TrustedProxies::Any); // no peer address in process
    let s = compile(&cfg, &RuntimeProbe::none());
    let evil_host = || request("GET", "/", &[("host", "evil.com")]);
    let plain = || request("GET", "/", &[("host", "example.com")]);
    let secure = || {
        request(
            "GET",
            "/",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        )
    };
    let evil_post = || {
        request(
            "POST",
            "/",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://evil.com"),
            ],
        )
    };
    let preflight = || {
        request(
            "OPTIONS",
            "/",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://example.com"),
                ("access-control-request-method", "PUT"),
            ],
        )
    };
    let run = |layer: hardened::SecurityLayer, req: http::Request<Full<Bytes>>| async move {
        bare_with(layer).oneshot(req).await.unwrap()
    };
    let reached = |r: &http::Response<_>| r.headers().contains_key("x-reached");
    let has = |r: &http::Response<_>, h: &str| r.headers().contains_key(h);
    let cookie = |r: &http::Response<_>| {
        r.headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // Host only.
    assert_eq!(run(s.host_layer(), evil_host()).await.status(), 400);
    let r = run(s.host_layer(), evil_post()).await;
    assert!(reached(&r));
    assert!(!has(&r, "x-frame-options") && !has(&r, "strict-transport-security"));
    assert_eq!(cookie(&r).as_deref(), Some("sessionid=abc"));
    assert!(reached(&run(s.host_layer(), plain()).await));

    // TLS only: redirect and HSTS; a foreign host is not redirected (no open redirect).
    let r = run(s.tls_layer(), plain()).await;
    assert_eq!(r.status(), 301);
    let r = run(s.tls_layer(), evil_host()).await;
    assert!(reached(&r) && !has(&r, "location"));
    let r = run(s.tls_layer(), secure()).await;
    assert!(reached(&r) && has(&r, "strict-transport-security"));
    assert!(!has(&r, "x-frame-options"));

    // CORS only.
    let r = run(s.cors_layer(), preflight()).await;
    assert!(!reached(&r) && has(&r, "access-control-allow-methods"));
    assert!(reached(&run(s.cors_layer(), evil_host()).await));
    assert!(reached(&run(s.cors_layer(), evil_post()).await));

    // CSRF only.
    assert_eq!(run(s.csrf_layer(), evil_post()).await.status(), 403);
    let r = run(s.csrf_layer(), evil_host()).await;
    assert!(reached(&r) && !has(&r, "x-frame-options"));

    // Headers only.
    let r = run(s.headers_layer(), evil_post()).await;
    assert!(reached(&r));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(!has(&r, "strict-transport-security"));
    assert_eq!(cookie(&r).as_deref(), Some("sessionid=abc"));

    // Cookies only.
    let r = run(s.cookies_layer(), evil_post()).await;
    assert!(reached(&r) && !has(&r, "x-frame-options"));
    assert_eq!(
        cookie(&r).as_deref(),
        Some("sessionid=abc; Secure; HttpOnly; SameSite=Lax")
    );

    // Everything.
    assert_eq!(run(s.layer(), plain()).await.status(), 301);
}

// ---------------------------------------------------------------- catch-all settings

/// Catch-all settings (a CORS regex admitting any origin, exempt paths matching every
/// path) stop the layer from being built in production and staging; in development
/// they build and behave as written.
#[tokio::test]
async fn catch_all_settings_refused_in_production() {
    type Set = fn(&mut Config);
    let cases: &[(&str, Set)] = &[
        ("cors .*", |c| {
            c.cors_allowed_origin_regexes = vec![".*".into()]
        }),
        ("cors https?://.*", |c| {
            c.cors_allowed_origin_regexes = vec!["https?://.*".into()]
        }),
        ("cors https://[^/]+", |c| {
            c.cors_allowed_origin_regexes = vec!["https://[^/]+".into()]
        }),
        ("csrf /*", |c| c.csrf_exempt_paths = vec!["/*".into()]),
        ("csrf /{*rest}", |c| {
            c.csrf_exempt_paths = vec!["/{*rest}".into()]
        }),
        ("health /*", |c| c.health_check_paths = vec!["/*".into()]),
    ];
    for (what, set) in cases {
        let mut cfg = prod(&["example.com"]);
        set(&mut cfg);
        let err = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_err();
        assert_eq!(err.0.len(), 1, "{what}");
        assert_eq!(err.0[0].kind().code(), "catch-all", "{what}");
        // Development builds and behaves as written.
        let mut cfg = dev(&["example.com"]);
        set(&mut cfg);
        compile(&cfg, &RuntimeProbe::none());
    }
    // Narrow settings pass, and the foreign origin gets nothing.
    let mut cfg = prod(&["example.com"]);
    cfg.cors_allowed_origin_regexes = vec!["https://[a-z0-9-]+\\.example\\.com".into()];
    cfg.csrf_exempt_paths = vec!["/hooks/{id}".into()];
    cfg.health_check_paths = vec!["/healthz".into()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let r = srv
        .post(
            "/",
            &[("host", "example.com"), ("origin", "https://evil.com")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!r.has_cors());
    let r = srv
        .get(
            "/",
            &[
                ("host", "example.com"),
                ("origin", "https://app.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(srv.get("/", &[("host", "evil.com")]).await.status, 400);
}

/// Subdomain patterns over public suffixes never reach the policy.
#[tokio::test]
async fn public_suffix_patterns_refused() {
    for entry in [
        "*.github.io",
        ".co.uk",
        "*.herokuapp.com",
        ".s3.amazonaws.com",
        "*.com.au",
    ] {
        let err = parse_entry(entry).unwrap_err();
        assert!(err.to_string().contains("public suffix"), "{entry}: {err}");
    }
    // An exact host on a shared suffix is one's own site.
    let srv = serve(&compile(
        &prod(&["myapp.github.io", ".example.co.uk"]),
        &RuntimeProbe::none(),
    ))
    .await;
    let origin = |o| [("host", "myapp.github.io"), ("origin", o)];
    assert_eq!(
        srv.post("/", &origin("https://myapp.github.io"))
            .await
            .status,
        200
    );
    assert_eq!(
        srv.post("/", &origin("https://www.example.co.uk"))
            .await
            .status,
        200
    );
    assert_eq!(
        srv.post("/", &origin("https://other.github.io"))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.post("/", &origin("https://other.co.uk")).await.status,
        403
    );
}

// ---------------------------------------------------------------- API clients

/// A token-authenticated API client behind a TLS proxy sends no Origin, Referer,
/// Sec-Fetch-Site or Cookie: nothing ambient to abuse, so it passes without an
/// exemption. A cookie-bearing request without Origin or Referer keeps Django's rule.
#[tokio::test]
async fn api_clients_without_cookies_pass_csrf_on_https() {
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let base = [("host", "example.com"), ("x-forwarded-proto", "https")];
    // `Token`, not `Bearer`: the test app's outer middleware exempts bearer requests.
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("authorization", "Token abc")], 200),
        (
            &[("x-api-key", "abc"), ("content-type", "application/json")],
            200,
        ),
        (&[], 200),
        (
            &[("authorization", "Token abc"), ("cookie", "sessionid=s")],
            403,
        ),
        (&[("cookie", "sessionid=s")], 403),
        // A browser's own-origin request stands in for the Referer; another site's
        // never does.
        (
            &[("sec-fetch-site", "same-origin"), ("cookie", "sessionid=s")],
            200,
        ),
        (
            &[("sec-fetch-site", "same-site"), ("cookie", "sessionid=s")],
            403,
        ),
        (&[("sec-fetch-site", "cross-site")], 403),
        (
            &[("referer", "https://example.com/form"), ("cookie", "a=b")],
            200,
        ),
    ];
    for (extra, want) in cases {
        let mut h = base.to_vec();
        h.extend_from_slice(extra);
        for method in ["POST", "PUT", "DELETE"] {
            let r = srv.send(method, "/", &h).await;
            assert_eq!(r.status.as_u16(), *want, "{method} {extra:?}: {}", r.body);
        }
    }
    let mut h = base.to_vec();
    h.push(("cookie", "sessionid=s"));
    let r = srv.post("/", &h).await;
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));
    // The 403's fix (in the log; development bodies carry it) names the exemption.
    let sec = compile(&prod(&["example.com"]), &RuntimeProbe::none());
    let (parts, ()) = http::Request::post("/")
        .header("host", "example.com")
        .header("cookie", "sessionid=s")
        .extension(PeerAddr("127.0.0.1:1".parse().unwrap()))
        .header("x-forwarded-proto", "https")
        .body(())
        .unwrap()
        .into_parts();
    let d = sec.decide(&parts);
    let r = d.rejection().expect("rejected");
    assert_eq!(r.code(), "csrf-no-referer");
    assert!(r.fix().contains("csrf_exempt_paths"), "{}", r.fix());
}

// ---------------------------------------------------------------- missing peer address

/// `axum::serve(listener, app)` without `into_make_service_with_connect_info` gives the
/// layer no peer address: `X-Forwarded-Proto` is never believed. The first request that
/// carries the header says so once (a warning naming the fix).
#[tokio::test]
async fn missing_peer_address_is_noticed_once() {
    let sec = compile(&prod(&["example.com"]), &RuntimeProbe::none());
    let router = routes().layer(sec.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let srv = Server {
        addr,
        task,
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    let r = srv.get("/", &[("host", "example.com")]).await;
    assert_eq!(r.status, 200);
    assert!(!sec.saw_missing_peer(), "no forwarded header yet");
    let xfp = [("host", "example.com"), ("x-forwarded-proto", "https")];
    let r = srv.get("/", &xfp).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("strict-transport-security"), None);
    assert!(sec.saw_missing_peer());
    // With a peer address nothing is noticed.
    let fresh = compile(&prod(&["example.com"]), &RuntimeProbe::none());
    let mut req = http::Request::get("/")
        .header("host", "example.com")
        .header("x-forwarded-proto", "https")
        .body(Full::<Bytes>::default())
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("127.0.0.1:9".parse().unwrap()));
    let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::<Bytes>::default()))
    });
    let resp = fresh.layer().layer(inner).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!fresh.saw_missing_peer());
}

// ---------------------------------------------------------------- configured headers

/// Renders the request's CSP nonce into the page, as a template would.
async fn page_with_nonce(req: Request) -> Response {
    let nonce = req
        .extensions()
        .get::<hardened::enforce::CspNonce>()
        .map(|n| n.to_string())
        .unwrap_or_default();
    (
        [("x-reached", "1")],
        format!("<script nonce=\"{nonce}\">1</script>"),
    )
        .into_response()
}

fn nonce_app(sec: &Security) -> Router {
    Router::new()
        .route("/page", get(page_with_nonce))
        .route("/own-headers", get(own_csp))
        .layer(sec.layer())
        .layer(middleware::from_fn(outer))
}

async fn own_csp() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
            (
                header::HeaderName::from_static("permissions-policy"),
                "camera=(self)",
            ),
        ],
        "own",
    )
        .into_response()
}

#[tokio::test]
async fn csp_nonce_per_response_reaches_the_handler() {
    use hardened::config::HeaderOverride::{Remove, Set};
    let mut cfg = prod(&["example.com"]);
    cfg.headers.content_security_policy =
        Set("default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'".into());
    cfg.headers.permissions_policy = Set("camera=(), geolocation=()".into());
    cfg.headers.cross_origin_resource_policy = Set("same-origin".into());
    cfg.headers.x_frame_options = Remove;
    let sec = compile(&cfg, &RuntimeProbe::none());
    let srv = serve_router(nonce_app(&sec)).await;
    let host = [("host", "example.com")];
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..5 {
        let r = srv.get("/page", &host).await;
        assert_eq!(r.status, 200);
        let csp = r.header("content-security-policy").unwrap().to_owned();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 22);
        assert_eq!(r.body, format!("<script nonce=\"{nonce}\">1</script>"));
        assert!(nonces.insert(nonce), "nonce reused");
        assert_eq!(
            r.header("permissions-policy"),
            Some("camera=(), geolocation=()")
        );
        assert_eq!(
            r.header("cross-origin-resource-policy"),
            Some("same-origin")
        );
        assert_eq!(r.header("x-frame-options"), None);
    }
    // Rejections carry the CSP too, with a nonce of their own.
    let r = srv.get("/page", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.header("content-security-policy")
            .is_some_and(|v| v.contains("'nonce-") && !v.contains("{nonce}"))
    );
    // The application's own headers win.
    let r = srv.get("/own-headers", &host).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(r.header("permissions-policy"), Some("camera=(self)"));

    // Without the placeholder the CSP is static and no nonce is drawn.
    let mut cfg = prod(&["example.com"]);
    cfg.headers.content_security_policy = Set("default-src 'none'; frame-ancestors 'none'".into());
    let sec = compile(&cfg, &RuntimeProbe::none());
    assert!(!sec.needs_csp_nonce());
    let srv = serve_router(nonce_app(&sec)).await;
    let r = srv.get("/page", &host).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(r.body, "<script nonce=\"\">1</script>");
    // Defaults stay as the table says when nothing is configured.
    let srv = serve(&compile(&prod(&["example.com"]), &RuntimeProbe::none())).await;
    let r = srv.get("/", &host).await;
    assert_eq!(r.header("content-security-policy"), None);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
}

// ---------------------------------------------------------------- cookies

async fn prefixed_cookies() -> Response {
    let mut h = HeaderMap::new();
    for c in [
        "__Host-sid=1; Domain=example.com; Path=/app; HttpOnly",
        "__Secure-pref=2; Path=/",
        "app_session=3; Path=/",
        "app_csrf=4; Path=/",
    ] {
        h.append(header::SET_COOKIE, HeaderValue::from_static(c));
    }
    (h, "cookies").into_response()
}

#[tokio::test]
async fn cookie_prefixes_fixed_and_names_configured() {
    let mut cfg = prod(&["example.com"]);
    cfg.session_cookie_name = "app_session".into();
    cfg.csrf_cookie_name = "app_csrf".into();
    let sec = compile(&cfg, &RuntimeProbe::none());
    let router = Router::new()
        .route("/c", get(prefixed_cookies))
        .layer(sec.layer());
    let srv = serve_router(router).await;
    let r = srv.get("/c", &[("host", "example.com")]).await;
    assert_eq!(
        r.all("set-cookie"),
        [
            "__Host-sid=1; HttpOnly; Path=/; Secure; SameSite=Lax",
            "__Secure-pref=2; Path=/; Secure; SameSite=Lax",
            "app_session=3; Path=/; Secure; HttpOnly; SameSite=Lax",
            "app_csrf=4; Path=/; Secure; SameSite=Lax",
        ]
    );
    // Development leaves them as written.
    let sec = compile(&dev(&[]), &RuntimeProbe::none());
    let router = Router::new()
        .route("/c", get(prefixed_cookies))
        .layer(sec.layer());
    let srv = serve_router(router).await;
    let r = srv.get("/c", &[("host", "localhost")]).await;
    assert_eq!(
        r.all("set-cookie")[0],
        "__Host-sid=1; Domain=example.com; Path=/app; HttpOnly"
    );
}

// ---------------------------------------------------------------- CORS expose headers

#[tokio::test]
async fn cors_expose_headers_on_allowed_origins_only() {
    let mut cfg = prod(&["example.com", "app.example.com"]);
    cfg.cors_expose_headers = vec!["x-request-id".into(), "content-disposition".into()];
    cfg.cors_allow_methods = vec!["GET".into(), "POST".into(), "PROPFIND".into()];
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    let host = ("host", "example.com");
    // (method, origin, expected Access-Control-Expose-Headers)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "GET",
            "https://app.example.com",
            Some("x-request-id, content-disposition"),
        ),
        ("GET", "https://evil.com", None),
        (
            "POST",
            "https://app.example.com",
            Some("x-request-id, content-disposition"),
        ),
    ];
    for (method, origin, want) in cases {
        let r = srv.send(method, "/", &[host, ("origin", origin)]).await;
        assert_eq!(
            r.header("access-control-expose-headers"),
            *want,
            "{method} {origin}"
        );
    }
    let r = srv
        .send(
            "OPTIONS",
            "/",
            &[
                host,
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PROPFIND"),
            ],
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PROPFIND")
    );
    // None configured: no header.
    let srv = serve(&compile(
        &prod(&["example.com", "app.example.com"]),
        &RuntimeProbe::none(),
    ))
    .await;
    let r = srv
        .get("/", &[host, ("origin", "https://app.example.com")])
        .await;
    assert_eq!(r.header("access-control-expose-headers"), None);
    // A method that is not a token refuses to build.
    let mut cfg = prod(&["example.com"]);
    cfg.cors_allow_methods = vec!["GET".into(), "BAD METHOD".into()];
    let err = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_err();
    assert_eq!(err.0[0].kind().code(), "invalid-method");
    assert_eq!(err.0[0].key(), "cors_allow_methods[1]");
}

// ---------------------------------------------------------------- report-only rollout

#[tokio::test]
async fn report_only_logs_and_lets_through() {
    use hardened::config::ReportOnly;
    use hardened::enforce::{Answer, Reported};
    let mut cfg = prod(&["example.com"]);
    cfg.ssl_redirect = Some(true);
    cfg.report_only = ReportOnly::ALL;
    let sec = compile(&cfg, &RuntimeProbe::none());
    let srv = serve(&sec).await;
    // (method, headers, the checks that would have answered)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        // A foreign host is never redirected (the redirect needs an allowed host).
        ("GET", &[("host", "evil.com")], &["host-not-allowed"]),
        ("GET", &[("host", "example.com")], &["tls-redirect"]),
        (
            "POST",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://evil.com"),
            ],
            &["csrf-bad-origin"],
        ),
        (
            "GET",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
            &[],
        ),
    ];
    for (method, headers, want) in cases {
        let r = srv.send(method, "/", headers).await;
        assert_eq!(r.status, 200, "{method} {headers:?}");
        assert!(r.reached());
        // The decision says what would have happened.
        let mut b = http::Request::builder().method(*method).uri("/");
        for (k, v) in *headers {
            b = b.header(*k, *v);
        }
        let (mut parts, ()) = b.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(PeerAddr("127.0.0.1:1".parse().unwrap()));
        let d = sec.decide(&parts);
        assert!(d.is_pass());
        let codes: Vec<&str> = d
            .facts()
            .reported()
            .iter()
            .map(|a| match a {
                Answer::Reject(r) => r.code(),
                Answer::Redirect(_) => "tls-redirect",
                _ => "other",
            })
            .collect();
        assert_eq!(codes, *want, "{method} {headers:?}");
    }
    // CORS stays enforcing: a foreign origin gets no grant.
    let r = srv
        .get(
            "/",
            &[("host", "example.com"), ("origin", "https://evil.com")],
        )
        .await;
    assert!(!r.has_cors());
    // The response of a let-through request carries what was reported.
    let resp = tower::ServiceExt::oneshot(
        app(&sec),
        http::Request::get("/")
            .header("host", "evil.com")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.extensions()
            .get::<Reported>()
            .map(|r| r.answers().len()),
        Some(1)
    );
    // Only the listed checks report: CSRF enforces when only host reports.
    let mut cfg = prod(&["example.com"]);
    cfg.report_only = ReportOnly::NONE;
    cfg.report_only.set("host");
    let srv = serve(&compile(&cfg, &RuntimeProbe::none())).await;
    assert_eq!(srv.get("/", &[("host", "evil.com")]).await.status, 200);
    let r = srv
        .post("/", &[("host", "evil.com"), ("origin", "https://evil.com")])
        .await;
    assert_eq!(r.status, 403);
}
