//! End-to-end tests of the `hardened serve` command: the demo app with the built-in
//! defaults, a production config, startup failures and exit codes, graceful shutdown on
//! SIGTERM, the `--header-read-timeout` flag, and one smoke test of gateway mode (the
//! gateway's own behaviour is tested in process in `hardened-gateway`).
//!
//! The binary is started by `common::Served`: a clean environment, `DOCKER=false`, its
//! own temporary directory, 127.0.0.1 only, the port it reports on stdout. Every wait is
//! bounded, and every started process is killed by its id when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Served as Hardened, Upstream, command, upstream, workdir};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest any single exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

// ---------------------------------------------------------------- client

fn client() -> Client<HttpConnector, BoxBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn empty() -> BoxBody {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends a request with an empty body and reads the whole response.
async fn send(url: &str, method: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(empty()).unwrap();
    let fut = async {
        let resp = client().request(req).await.unwrap();
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
        .unwrap_or_else(|_| panic!("{method} {url}: no answer within {TIMEOUT:?}"))
}

// ---------------------------------------------------------------- upstream

/// A small upstream on 127.0.0.1:0: `/hang` never answers, any other path is answered
/// "upstream PATH". Aborted when dropped.
async fn upstream_handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/hang" {
        std::future::pending::<()>().await;
    }
    Ok(Response::new(Full::new(Bytes::from(format!(
        "upstream {path}"
    )))))
}

async fn hang_upstream() -> Upstream {
    upstream(upstream_handle).await
}

// ---------------------------------------------------------------- demo app

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_app_with_built_in_defaults() {
    let srv = Hardened::start(None, &[]);
    assert!(
        srv.banner.ends_with("(development, demo app)"),
        "{}",
        srv.banner
    );
    let url = srv.url("/hello?x=1");

    let r = send(&url, "GET", &[("host", "localhost:8000")]).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["path"], "/hello");
    assert_eq!(j["query"], "x=1");
    assert_eq!(j["peer"], "127.0.0.1");
    assert_eq!(j["environment"], "development");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));

    // The address it listens on is an allowed host too (127.0.0.1).
    assert_eq!(send(&url, "GET", &[]).await.status, 200);

    let r = send(&url, "GET", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("fix: add evil.com to security_domains"),
        "{}",
        r.body
    );

    let r = send(
        &url,
        "POST",
        &[("host", "localhost"), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Origin checking failed"), "{}", r.body);

    let r = send(
        &url,
        "POST",
        &[("host", "localhost"), ("origin", "http://localhost:3000")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

    let r = send(
        &url,
        "OPTIONS",
        &[
            ("host", "localhost"),
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("PUT")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );

    // Development leaves cookies as the app set them.
    let r = send(&srv.url("/login"), "GET", &[("host", "localhost")]).await;
    assert_eq!(
        r.all("set-cookie"),
        [
            "sessionid=demo-session; Path=/",
            "csrftoken=demo-token; Path=/"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_app_in_production() {
    let srv = Hardened::start(
        Some("environment: production\nsecurity_domains: [example.com]\n"),
        &[],
    );
    assert!(
        srv.banner.contains("(production, demo app)"),
        "{}",
        srv.banner
    );
    let url = srv.url("/login");
    assert_eq!(
        send(&url, "GET", &[("host", "localhost")]).await.status,
        400
    );
    assert_eq!(send(&url, "GET", &[]).await.status, 400);
    let r = send(
        &url,
        "GET",
        &[("host", "example.com"), ("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["secure"], true);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    assert_eq!(
        r.all("set-cookie"),
        [
            "sessionid=demo-session; Path=/; Secure; HttpOnly; SameSite=Lax",
            "csrftoken=demo-token; Path=/; Secure; SameSite=Lax"
        ]
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // Production answers do not tell the client how to reconfigure the server.
    let r = send(&url, "GET", &[("host", "evil.com")]).await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("fix:"), "{}", r.body);
}

// ---------------------------------------------------------------- startup and shutdown

#[test]
fn port_already_taken_exits_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = workdir(None);
    let mut child = command(dir.path(), &["serve", "--listen", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`serve --listen {addr}` on a taken port did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("--listen 127.0.0.1:PORT"),
        "stderr:\n{stderr}"
    );
    drop(taken);
}

#[test]
fn unsafe_config_exits_2_before_listening() {
    let dir = workdir(Some("environment: production\n"));
    let out = command(dir.path(), &["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("security_domains"), "stderr:\n{stderr}");

    let dir = workdir(None);
    for upstream in ["https://127.0.0.1:1", "127.0.0.1:9000", "not a url"] {
        let out = command(
            dir.path(),
            &["serve", "--listen", "127.0.0.1:0", "--upstream", upstream],
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{upstream}: {stderr}");
        assert!(stderr.contains("--upstream"), "{upstream}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_gracefully() {
    let mut srv = Hardened::start(None, &[]);
    // An idle keep-alive connection must not hold the shutdown up.
    let c = client();
    let req = Request::get(srv.url("/")).body(empty()).unwrap();
    let resp = tokio::time::timeout(TIMEOUT, c.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await;
    srv.sigterm();
    let (code, took) = srv.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "stderr:\n{}", srv.stderr());
    assert!(took < Duration::from_secs(9), "took {took:?}");
    // The port is released.
    assert!(std::net::TcpListener::bind(srv.addr).is_ok());
}

// ---------------------------------------------------------------- gateway mode

/// The binary's gateway: the banner names the upstream, an allowed request is
/// forwarded and gets the policy's headers, a rejected one is not, and
/// `--upstream-timeout` reaches the gateway (504 after 1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_mode_smoke() {
    let up = hang_upstream().await;
    let upstream_url = format!("http://{}", up.addr);
    let srv = Hardened::start(
        None,
        &["--upstream", &upstream_url, "--upstream-timeout", "1"],
    );
    assert!(
        srv.banner
            .ends_with(&format!("(development, gateway to {upstream_url}/)")),
        "{}",
        srv.banner
    );
    let r = send(&srv.url("/fine"), "GET", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "upstream /fine");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        send(&srv.url("/"), "GET", &[("host", "evil.com")])
            .await
            .status,
        400
    );
    let start = Instant::now();
    let r = send(&srv.url("/hang"), "GET", &[]).await;
    let took = start.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

/// A client that never finishes its request head (slow loris) is cut off after
/// `--header-read-timeout` seconds instead of holding a connection forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_request_head_is_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = Hardened::start(None, &["--header-read-timeout", "2"]);
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the half-sent request is still held open");
}

// ---------------------------------------------------------------- buffering flags

/// Buffering and connection flags with values that make no sense are usage errors:
/// exit 2 before listening, naming the flag and the value.
#[test]
fn buffering_flags_are_validated() {
    let dir = workdir(None);
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    for (flag, value) in [
        ("--client-max-body-size", "abc"),
        ("--client-max-body-size", "-1"),
        ("--client-max-body-size", "10x"),
        ("--client-body-buffer-size", "0"),
        ("--client-body-timeout", "0"),
        ("--client-body-timeout", "-5"),
        ("--client-body-timeout", "1.5"),
        ("--request-buffering", "maybe"),
        ("--response-buffering", "sometimes"),
        ("--response-buffer-size", "0"),
        ("--max-temp-file-size", "-1"),
        ("--send-timeout", "0"),
        ("--upstream-max-connections", "0"),
        ("--upstream-max-connections", "many"),
        ("--upstream-max-connections-per-client", "0"),
        ("--upstream-queue-size", "-1"),
        ("--upstream-queue-timeout", "0"),
        ("--temp-dir", missing),
        ("--unbuffered-request-path", "upload"),
    ] {
        let out = command(
            dir.path(),
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "http://127.0.0.1:9",
                flag,
                value,
            ],
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{flag} {value}: listened anyway");
    }
}

/// The buffering flags reach the gateway: a body over `--client-max-body-size` is
/// answered 413 by the gateway; `0` lifts the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_body_size_flag() {
    let up = hang_upstream().await;
    let upstream_url = format!("http://{}", up.addr);
    let post = |url: String, body: &'static str| async move {
        let req = Request::post(url)
            .body(
                Full::new(Bytes::from(body))
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            )
            .unwrap();
        let resp = tokio::time::timeout(TIMEOUT, client().request(req))
            .await
            .unwrap()
            .unwrap();
        resp.status()
    };
    let srv = Hardened::start(
        None,
        &[
            "--upstream",
            &upstream_url,
            "--client-max-body-size",
            "10",
            "--request-buffering",
            "on",
            "--upstream-max-connections",
            "4",
        ],
    );
    assert_eq!(post(srv.url("/a"), "0123456789").await, 200);
    assert_eq!(post(srv.url("/a"), "0123456789x").await, 413);
    let srv = Hardened::start(
        None,
        &["--upstream", &upstream_url, "--client-max-body-size", "0"],
    );
    assert_eq!(post(srv.url("/a"), "0123456789x").await, 200);
}

/// The `gateway:` buffering keys of config.yaml apply, and a flag beats them: a body
/// over `gateway.client_max_body_size` is answered 413 from its `Content-Length`, and
/// `--client-max-body-size` lifts the limit again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_buffering_keys_from_the_file_apply_and_flags_win() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = hang_upstream().await;
    let upstream_url = format!("http://{}", up.addr);
    let config = "debug: true\ngateway:\n  client_max_body_size: 1k\n";
    async fn post(addr: SocketAddr) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req =
            b"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n"
                .to_vec();
        req.extend_from_slice(&[b'x'; 2048]);
        s.write_all(&req).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(TIMEOUT, s.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }
    let srv = Hardened::start(Some(config), &["--upstream", &upstream_url]);
    let answer = post(srv.addr).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let srv = Hardened::start(
        Some(config),
        &["--upstream", &upstream_url, "--client-max-body-size", "4k"],
    );
    let answer = post(srv.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("upstream /up"), "{answer}");
}
