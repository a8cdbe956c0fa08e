//! Gateway behaviour, in process: a [`Gateway`] on 127.0.0.1:0 in a tokio task in front
//! of a small upstream started by the test (streaming both ways, hop-by-hop and
//! forwarded headers, 502 and 504, HTTP/2 clients, base paths, slow-loris clients,
//! graceful shutdown).
//!
//! The policy comes from a config text (or the built-in development defaults) with an
//! empty environment and no runtime probe. Only 127.0.0.1 is used. Every wait is bounded;
//! every gateway is stopped through its shutdown future (or aborted when its test ends),
//! and every upstream's accept task is aborted when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, UpstreamError, parse_upstream};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{Notify, mpsc};

use crate::common::{Running, free_port, security, shared};

/// The longest any single exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

// ---------------------------------------------------------------- the gateway

/// A gateway on 127.0.0.1:0 in front of `upstream` with the default options; the
/// policy of `config` (YAML text), or the built-in development defaults.
async fn start(config: Option<&str>, upstream: &str) -> Running {
    start_with(config, upstream, GatewayOptions::default()).await
}

async fn start_with(config: Option<&str>, upstream: &str, options: GatewayOptions) -> Running {
    Running::serve(gateway(config, upstream, options)).await
}

fn gateway(config: Option<&str>, upstream: &str, options: GatewayOptions) -> Gateway {
    Gateway::new(security(config), parse_upstream(upstream).unwrap(), options)
}

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

/// A request body fed chunk by chunk through a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

// ---------------------------------------------------------------- upstream

/// A small upstream service on 127.0.0.1:0 for gateway mode.
struct Upstream {
    addr: SocketAddr,
    /// Requests that reached it.
    hits: Arc<AtomicUsize>,
    /// Releases the second chunk of `/slow`.
    release: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(s: impl Into<Bytes>) -> BoxBody {
    Full::new(s.into()).map_err(|e| match e {}).boxed_unsync()
}

async fn upstream_handle(
    req: Request<Incoming>,
    release: Arc<Notify>,
) -> Result<Response<BoxBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = match path.as_str() {
        // The request body, streamed straight back.
        "/echo" => Response::builder()
            .header("content-type", "application/octet-stream")
            .body(
                req.into_body()
                    .map_err(|e| Box::new(e) as BoxError)
                    .boxed_unsync(),
            )
            .unwrap(),
        // What arrived: method, target and every header.
        "/headers" => {
            let mut headers = serde_json::Map::new();
            for name in req.headers().keys() {
                let values: Vec<String> = req
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                headers.insert(name.as_str().to_owned(), values.into());
            }
            let body = serde_json::json!({
                "method": req.method().as_str(),
                "uri": req.uri().to_string(),
                "headers": headers,
            });
            Response::new(full(body.to_string()))
        }
        // "first\n" at once, "last\n" only when the test releases it.
        "/slow" => {
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first\n")).await;
                release.notified().await;
                let _ = tx.send(Bytes::from_static(b"last\n")).await;
            });
            Response::new(ChannelBody(rx).map_err(|e| match e {}).boxed_unsync())
        }
        // Never answers.
        "/hang" => std::future::pending().await,
        // Hop-by-hop response headers the gateway must drop.
        "/hop" => Response::builder()
            .header("connection", "x-resp-hop")
            .header("x-resp-hop", "1")
            .header("x-kept", "1")
            .body(full("hop"))
            .unwrap(),
        "/login" => Response::builder()
            .header("set-cookie", "sessionid=u; Path=/")
            .header("set-cookie", "theme=dark")
            .header("x-frame-options", "SAMEORIGIN")
            .body(full("login"))
            .unwrap(),
        _ => Response::new(full(format!("upstream {path}"))),
    };
    Ok(resp)
}

async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (h, r) = (hits.clone(), release.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (h, r) = (h.clone(), r.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    h.fetch_add(1, Ordering::SeqCst);
                    upstream_handle(req, r.clone())
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        hits,
        release,
        task,
    }
}

// ---------------------------------------------------------------- gateway

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_streams_request_and_response_bodies() {
    let _shared = shared().await;
    let up = upstream().await;
    let upstream_url = format!("http://{}", up.addr);
    // Request bodies stream when request buffering is off; responses are passed on as
    // they arrive even when buffered.
    let gateway = gateway(
        None,
        &upstream_url,
        GatewayOptions::default().with_request_buffering(false),
    );
    // The upstream as the gateway reports it.
    assert_eq!(gateway.upstream().to_string(), format!("{upstream_url}/"));
    let srv = Running::serve(gateway).await;

    // 4 MiB uploaded in 64 KiB chunks, in lock step: each chunk must come back through
    // the gateway before the next is sent, so neither direction is buffered whole.
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 64;
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let req = Request::post(srv.url("/echo"))
        .header("host", "localhost")
        .body(ChannelBody(rx).map_err(|e| match e {}).boxed_unsync())
        .unwrap();
    let c = client();
    let pending = tokio::spawn(async move { c.request(req).await });
    let chunk = |i: usize| Bytes::from(vec![u8::try_from(i % 251).unwrap(); CHUNK]);
    tx.send(chunk(0)).await.unwrap();
    let resp = tokio::time::timeout(TIMEOUT, pending)
        .await
        .expect("response headers must arrive while the upload is still open")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/octet-stream"
    );
    let mut body = resp.into_body();
    let mut received: Vec<u8> = Vec::new();
    for i in 0..CHUNKS {
        if i > 0 {
            tx.send(chunk(i)).await.unwrap();
        }
        let want = (i + 1) * CHUNK;
        while received.len() < want {
            let frame = tokio::time::timeout(TIMEOUT, body.frame())
                .await
                .unwrap_or_else(|_| {
                    panic!("chunk {i} not echoed: {} of {want} bytes", received.len())
                })
                .expect("body ended early")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
            }
        }
    }
    drop(tx);
    let tail = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    received.extend_from_slice(&tail);
    assert_eq!(received.len(), CHUNK * CHUNKS);
    for (i, c) in received.chunks(CHUNK).enumerate() {
        assert!(
            c.iter().all(|b| usize::from(*b) == i % 251),
            "chunk {i} corrupted"
        );
    }

    // A slow response: its first chunk arrives before the upstream has sent the last.
    let req = Request::get(srv.url("/slow")).body(empty()).unwrap();
    let resp = tokio::time::timeout(TIMEOUT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    let mut body = resp.into_body();
    let first = tokio::time::timeout(TIMEOUT, body.frame())
        .await
        .expect("the first chunk must arrive before the upstream sends the last")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first\n");
    up.release.notify_one();
    let rest = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "last\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_headers_from_a_trusted_peer() {
    let _shared = shared().await;
    let up = upstream().await;
    let srv = start(None, &format!("http://{}", up.addr)).await;
    let r = send(
        &srv.url("/headers?q=1"),
        "POST",
        &[
            ("host", "localhost:8000"),
            ("connection", "keep-alive, x-custom"),
            ("x-custom", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic dXNlcjpwYXNz"),
            ("te", "trailers"),
            ("x-kept", "1"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["uri"], "/headers?q=1");
    let h = &j["headers"];
    for gone in ["x-custom", "keep-alive", "proxy-authorization", "te"] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(h["x-kept"], serde_json::json!(["1"]));
    assert_eq!(h["host"], serde_json::json!(["localhost:8000"]));
    // The loopback peer is a trusted proxy: its X-Forwarded-For is extended.
    assert_eq!(
        h["x-forwarded-for"],
        serde_json::json!(["203.0.113.9, 127.0.0.1"])
    );
    // Development has no proxy TLS header: the request is plain http.
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]));

    // Hop-by-hop response headers are dropped on the way back too.
    let r = send(&srv.url("/hop"), "GET", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-resp-hop"), None);
    assert_eq!(r.header("x-kept"), Some("1"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_headers_from_an_untrusted_peer() {
    let _shared = shared().await;
    let up = upstream().await;
    let config = "environment: production\n\
                  security_domains: [example.com]\n\
                  trusted_proxies: [10.9.9.9/32]\n";
    let srv = start(Some(config), &format!("http://{}", up.addr)).await;
    let r = send(
        &srv.url("/headers"),
        "GET",
        &[
            ("host", "example.com"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.com"),
            ("x-forwarded-proto", "https"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6;proto=https"),
            ("x-forwarded-ssl", "on"),
            ("x-forwarded-scheme", "https"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-prefix", "/admin"),
            ("front-end-https", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = &r.json()["headers"];
    assert_eq!(h["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]));
    for gone in [
        "x-forwarded-host",
        "x-real-ip",
        "forwarded",
        "x-forwarded-ssl",
        "x-forwarded-scheme",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "front-end-https",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(r.header("strict-transport-security"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_in_production_enforces_before_forwarding() {
    let _shared = shared().await;
    let up = upstream().await;
    let config = "environment: production\nsecurity_domains: [example.com]\n";
    let srv = start(Some(config), &format!("http://{}", up.addr)).await;
    let before = up.hits.load(Ordering::SeqCst);
    for (method, headers, want) in [
        ("GET", &[("host", "evil.com")][..], 400),
        ("GET", &[("host", "localhost")][..], 400),
        (
            "POST",
            &[("host", "example.com"), ("origin", "https://evil.com")][..],
            403,
        ),
        // A browser's cookies without Origin or Referer (a client with no Cookie
        // either is an API client and passes).
        (
            "POST",
            &[
                ("host", "example.com"),
                ("x-forwarded-proto", "https"),
                ("cookie", "sessionid=victim"),
            ][..],
            403,
        ),
    ] {
        let r = send(&srv.url("/login"), method, headers).await;
        assert_eq!(r.status, want, "{method} {headers:?}");
    }
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        before,
        "a rejected request reached the upstream"
    );
    let r = send(
        &srv.url("/login"),
        "GET",
        &[("host", "example.com"), ("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "login");
    assert_eq!(
        r.all("set-cookie"),
        [
            "sessionid=u; Path=/; Secure; HttpOnly; SameSite=Lax",
            "theme=dark; Secure; SameSite=Lax"
        ]
    );
    // The upstream's own header is kept; the missing ones are added.
    assert_eq!(r.all("x-frame-options"), ["SAMEORIGIN"]);
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
    assert!(r.header("strict-transport-security").is_some());
    let h = send(
        &srv.url("/headers"),
        "GET",
        &[("host", "example.com"), ("x-forwarded-proto", "https")],
    )
    .await
    .json();
    assert_eq!(
        h["headers"]["x-forwarded-proto"],
        serde_json::json!(["https"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_upstream_down_is_502() {
    let _shared = shared().await;
    let down = free_port();
    let srv = start(None, &format!("http://{down}")).await;
    let start = Instant::now();
    let r = send(&srv.url("/"), "GET", &[]).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("unavailable"), "{}", r.body);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    // Rejections do not depend on the upstream.
    assert_eq!(
        send(&srv.url("/"), "GET", &[("host", "evil.com")])
            .await
            .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_upstream_silent_is_504_after_the_timeout() {
    let _shared = shared().await;
    let up = upstream().await;
    let srv = start_with(
        None,
        &format!("http://{}", up.addr),
        GatewayOptions::default().with_upstream_timeout(Duration::from_secs(1)),
    )
    .await;
    let start = Instant::now();
    let r = send(&srv.url("/hang"), "GET", &[]).await;
    let took = start.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    // The gateway still serves.
    assert_eq!(
        send(&srv.url("/fine"), "GET", &[]).await.body,
        "upstream /fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_accepts_http2_clients() {
    let _shared = shared().await;
    let up = upstream().await;
    let srv = start(None, &format!("http://{}", up.addr)).await;
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (mut send_req, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    for (authority, want) in [("localhost:8000", 200), ("evil.com", 400)] {
        let req = Request::get(format!("http://{authority}/headers"))
            .body(empty())
            .unwrap();
        send_req.ready().await.unwrap();
        let resp = tokio::time::timeout(TIMEOUT, send_req.send_request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{authority}");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes();
        if want == 200 {
            // The upstream speaks HTTP/1.1 and gets the :authority as its Host.
            let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(j["headers"]["host"], serde_json::json!([authority]));
        }
    }
    conn_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_upstream_base_path() {
    let _shared = shared().await;
    let up = upstream().await;
    let srv = start(None, &format!("http://{}/base/", up.addr)).await;
    let r = send(&srv.url("/x/y?q=1"), "GET", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "upstream /base/x/y");
}

/// Two `X-Forwarded-For` header lines from a trusted proxy are one list (RFC 9110
/// §5.3): the gateway keeps every line, in order, and appends the peer, so no hop is
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keeps_every_forwarded_for_line() {
    let _shared = shared().await;
    let up = upstream().await;
    let srv = start(None, &format!("http://{}", up.addr)).await;
    let r = send(
        &srv.url("/headers"),
        "GET",
        &[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ],
    )
    .await;
    assert_eq!(
        r.json()["headers"]["x-forwarded-for"],
        serde_json::json!(["203.0.113.1, 198.51.100.2, 127.0.0.1"])
    );
}

/// A client that never finishes its request head (slow loris) is cut off after
/// `header_read_timeout` instead of holding a connection forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_request_head_is_timed_out() {
    let _shared = shared().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start_with(
        None,
        &format!("http://{}", free_port()),
        GatewayOptions::default().with_header_read_timeout(Duration::from_secs(2)),
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the half-sent request is still held open");
}

// ---------------------------------------------------------------- shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_promptly_and_releases_the_port() {
    let _shared = shared().await;
    let up = upstream().await;
    let mut srv = start(None, &format!("http://{}", up.addr)).await;
    // An idle keep-alive connection must not hold the shutdown up.
    let c = client();
    let req = Request::get(srv.url("/")).body(empty()).unwrap();
    let resp = tokio::time::timeout(TIMEOUT, c.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await;
    srv.shutdown();
    let took = srv.wait_exit(Duration::from_secs(20)).await;
    assert!(took < Duration::from_secs(9), "took {took:?}");
    // The port is released.
    assert!(std::net::TcpListener::bind(srv.addr).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_response_finish() {
    let _shared = shared().await;
    let up = upstream().await;
    let upstream_url = format!("http://{}", up.addr);
    let mut srv = start(None, &upstream_url).await;
    let req = Request::get(srv.url("/slow")).body(empty()).unwrap();
    let resp = tokio::time::timeout(TIMEOUT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(TIMEOUT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first\n");
    srv.shutdown();
    // Still serving the open response: release its end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    up.release.notify_one();
    let rest = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "last\n");
    srv.wait_exit(Duration::from_secs(20)).await;
}

// ---------------------------------------------------------------- upstream URLs

#[test]
fn upstream_urls_are_checked() {
    let up = parse_upstream("http://[::1]:9000/base").unwrap();
    assert_eq!(up.addr(), "[::1]:9000");
    assert_eq!(up.to_string(), "http://[::1]:9000/base");
    assert_eq!(
        parse_upstream("http://localhost").unwrap().addr(),
        "localhost:80"
    );
    assert!(matches!(
        parse_upstream("https://127.0.0.1:1"),
        Err(UpstreamError::Https { .. })
    ));
    for relative in ["127.0.0.1:9000", "/path", "ftp://127.0.0.1"] {
        assert!(
            matches!(
                parse_upstream(relative),
                Err(UpstreamError::NotAbsolute { .. })
            ),
            "{relative}"
        );
    }
    assert!(matches!(
        parse_upstream("not a url"),
        Err(UpstreamError::Invalid { .. })
    ));
}
