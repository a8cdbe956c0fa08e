//! What the gateway forwards, judged by real peers: Django served by gunicorn (forged
//! proxy headers in every spelling, HTTP/2 cookie crumbs), nginx as an upstream with a
//! base path (dot segments in every spelling), and a small in-process upstream that
//! records what reaches it (TRACE, `Expect`, `Proxy`, conflicting framing).
//!
//! Django comes from the pinned venv of `scripts/django-venv.sh` at `$HARDENED_VENV`
//! (default `.venv` at the repository root); nginx from `/usr/sbin/nginx` or `PATH`.
//! Either missing fails the test that needs it, with how to get it. Only 127.0.0.1 is
//! used; every process is started in its own process group and killed with it when its
//! guard is dropped (also on panic); every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, parse_upstream};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::common::{
    Proc, Running, Upstream, fixture, free_port, security, shared, upstream, venv_python,
};

/// The longest any single exchange or start-up may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A policy in which 127.0.0.1 (the test client) is not a trusted proxy.
const UNTRUSTED_LOOPBACK: &str = "environment: production\n\
                                  security_domains: [example.com]\n\
                                  trusted_proxies: [10.0.0.0/8]\n";

// ---------------------------------------------------------------- the gateway

/// A gateway on 127.0.0.1 in front of `upstream`, with the policy of `config` (or the
/// development defaults).
async fn start(config: Option<&str>, upstream: &str) -> Running {
    let options = GatewayOptions::default().with_upstream_timeout(TIMEOUT);
    Running::serve(Gateway::new(
        security(config),
        parse_upstream(upstream).unwrap(),
        options,
    ))
    .await
}

// ---------------------------------------------------------------- raw HTTP/1.1 client

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// Header lines as sent, names lowercased.
    headers: Vec<(String, String)>,
    body: String,
    /// Whatever the connection carried after this response (a second response).
    after: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Sends `head` (request line and header lines, without the blank line; `Connection:
/// close` is added) and `body` exactly as given, and reads the response to the end.
/// Interim (1xx) responses are skipped.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .unwrap_or_else(|e| panic!("{head}: no complete answer ({e})"));
    let mut rest = &buf[..];
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "{head}: no response head in {:?}",
                    String::from_utf8_lossy(&buf)
                )
            });
        let head_text = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head_text.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if (100..200).contains(&status) {
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let (body, used) = if chunked {
            dechunk(rest)
        } else if let Some(len) = length.filter(|&l| l <= rest.len()) {
            (rest[..len].to_vec(), len)
        } else {
            (rest.to_vec(), rest.len())
        };
        return Raw {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            after: String::from_utf8_lossy(&rest[used..]).into_owned(),
        };
    }
}

/// The decoded body and how many bytes of `data` it took (the last chunk and an empty
/// trailer included).
fn dechunk(data: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = data[at..].windows(2).position(|w| w == b"\r\n") else {
            return (out, data.len());
        };
        let size_text = String::from_utf8_lossy(&data[at..at + eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        at += eol + 2;
        if size == 0 {
            let end = if data[at..].starts_with(b"\r\n") {
                at + 2
            } else {
                at
            };
            return (out, end.min(data.len()));
        }
        out.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

// ---------------------------------------------------------------- processes

/// The Django test project (tests/django_app) under gunicorn, one worker, on 127.0.0.1.
///
/// gunicorn runs with `--header-map dangerous`: header names with `_` are mapped onto the
/// same `HTTP_*` variable as their `-` spelling, as gunicorn before 22, wsgiref, and
/// other WSGI servers do. The gateway must not rely on its upstream to drop them.
fn gunicorn() -> (Proc, SocketAddr) {
    let python = venv_python();
    let addr = free_port();
    let app_dir = fixture("django_app");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "gunicorn", "--workers", "1", "--bind"])
        .arg(addr.to_string())
        .args(["--header-map", "dangerous", "--chdir"])
        .arg(&app_dir)
        .arg("echo_app:application")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let mut proc = Proc::spawn("gunicorn", cmd, tempfile::tempdir().unwrap());
    proc.wait_listening(addr, TIMEOUT);
    (proc, addr)
}

/// nginx, one process, on 127.0.0.1: `/public/` and `/internal/` answer which they are.
fn nginx() -> (Proc, SocketAddr) {
    let bin = ["/usr/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("nginx"))
                    .find(|p| p.exists())
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "nginx not found at /usr/sbin/nginx or on PATH: install it (apt-get install nginx)"
            )
        });
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let d = dir.path().display();
    let conf = format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           access_log {d}/access.log;\n\
           client_body_temp_path {d}/body;\n\
           proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi;\n\
           scgi_temp_path {d}/scgi;\n\
           server {{\n\
             listen {addr};\n\
             location /public/ {{ return 200 \"public $uri\\n\"; }}\n\
             location /internal/ {{ return 200 \"INTERNAL $uri\\n\"; }}\n\
             location / {{ return 404 \"elsewhere $uri\\n\"; }}\n\
           }}\n\
         }}\n"
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(dir.path()).arg("-c").arg(&conf_path);
    let mut proc = Proc::spawn("nginx", cmd, dir);
    proc.wait_listening(addr, TIMEOUT);
    (proc, addr)
}

// ---------------------------------------------------------------- recording upstream

/// An in-process upstream answering JSON with the method, target and headers it got.
struct Recorder {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    _upstream: Upstream,
}

async fn record(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), values.into());
    }
    let body = match body.collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(e) => format!("<body error: {e}>"),
    };
    let j = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": body,
    });
    Response::new(Full::new(Bytes::from(j.to_string())))
}

async fn recorder() -> Recorder {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let up = upstream(move |req| {
        h.fetch_add(1, Ordering::SeqCst);
        record(req)
    })
    .await;
    Recorder {
        addr: up.addr,
        hits,
        _upstream: up,
    }
}

/// Runs a blocking exchange off the async runtime, bounded.
async fn exchange_async(addr: SocketAddr, head: String, body: Vec<u8>) -> Raw {
    tokio::time::timeout(
        TIMEOUT * 2,
        tokio::task::spawn_blocking(move || exchange(addr, &head, &body)),
    )
    .await
    .expect("no answer in time")
    .unwrap()
}

// ---------------------------------------------------------------- forged headers

/// Client-IP headers that upstream libraries read as the client's address.
const CLIENT_IP_HEADERS: &[&str] = &[
    "True-Client-IP",
    "X-Client-IP",
    "CF-Connecting-IP",
    "X-Cluster-Client-IP",
    "Client-IP",
    "Fastly-Client-IP",
    "X-Originating-IP",
    "X-Remote-IP",
    "X-Remote-Addr",
    "X-ProxyUser-Ip",
    "Forwarded-For",
    "X-Forwarded",
    "X-Real-IP",
    "X-Original-Forwarded-For",
];

/// From an untrusted peer, no spelling of a proxy header reaches Django: it sees plain
/// http and the gateway's own `X-Forwarded-For` only, whatever the client wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_sees_no_forged_proxy_header_in_any_spelling() {
    let _shared = shared().await;
    let (_gunicorn, django) = gunicorn();
    let gw = start(Some(UNTRUSTED_LOOPBACK), &format!("http://{django}")).await;

    let mut head = String::from("GET /whoami HTTP/1.1\r\nHost: example.com");
    // Underscore spellings first, so that they would win Django's first-value rule.
    for (name, value) in [
        ("X_Forwarded_Proto", "https"),
        ("X_Forwarded_For", "6.6.6.6"),
        ("X-Forwarded_Proto", "https"),
        ("x_forwarded_host", "evil.example"),
        ("X.Forwarded.For", "6.6.6.6"),
        ("X_Real_IP", "6.6.6.6"),
        ("X-Original-URL", "/admin/"),
        ("X-Rewrite-URL", "/admin/"),
    ] {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    for name in CLIENT_IP_HEADERS {
        head.push_str(&format!("\r\n{name}: 6.6.6.6"));
    }
    let r = exchange_async(gw.addr, head, Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["is_secure"], false, "Django believes https: {j}");
    assert_eq!(j["x_forwarded_for"], "127.0.0.1", "{j}");
    assert_eq!(j["meta"]["HTTP_X_FORWARDED_PROTO"], "http", "{j}");
    let text = j.to_string();
    assert!(
        !text.contains("6.6.6.6"),
        "a spoofed address reached Django: {j}"
    );
    assert!(
        !text.contains("evil.example"),
        "a forged host reached Django: {j}"
    );
    assert!(
        !text.contains("/admin/"),
        "a URL override reached Django: {j}"
    );
}

/// A trusted proxy's client-IP headers pass; `_` spellings and URL overrides do not,
/// whoever sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_keep_client_ip_headers_but_not_underscores() {
    let _shared = shared().await;
    let up = recorder().await;
    let gw = start(None, &format!("http://{}", up.addr)).await;
    let head = "GET /x HTTP/1.1\r\nHost: localhost\r\n\
                CF-Connecting-IP: 203.0.113.7\r\n\
                X_Forwarded_Proto: https\r\n\
                X-Original-URL: /admin/\r\n\
                Proxy: http://evil.example:3128\r\n\
                X_Custom: 1"
        .to_owned();
    let r = exchange_async(gw.addr, head, Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = &r.json()["headers"];
    assert_eq!(h["cf-connecting-ip"], serde_json::json!(["203.0.113.7"]));
    for gone in ["x_forwarded_proto", "x-original-url", "proxy", "x_custom"] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]));
}

// ---------------------------------------------------------------- base path

/// No spelling of a dot segment gets a request to nginx outside the upstream's base
/// path `/public`: each is resolved inside it or refused with 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_upstream_is_never_reached_outside_its_base_path() {
    let _shared = shared().await;
    let (_nginx, nginx_addr) = nginx();
    // Directly, nginx serves the internal location: the paths below would reach it.
    let direct = exchange_async(
        nginx_addr,
        "GET /public/../internal/secret HTTP/1.1\r\nHost: localhost".to_owned(),
        Vec::new(),
    )
    .await;
    assert_eq!(direct.body, "INTERNAL /internal/secret\n");

    let gw = start(None, &format!("http://{nginx_addr}/public")).await;
    let ok = exchange_async(
        gw.addr,
        "GET /a/./b/../c?q=1 HTTP/1.1\r\nHost: localhost".to_owned(),
        Vec::new(),
    )
    .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "public /public/a/c\n"));

    for path in [
        "/../internal/secret",
        "/%2e%2e/internal/secret",
        "/%2E%2E/internal/secret",
        "/.%2E/internal/secret",
        "/%2e./internal/secret",
        "/public/../../internal/secret",
        "/a/../../internal/secret",
        "/%2E%2e%2finternal/secret",
        "/..%2finternal/secret",
        "/..%2Finternal/secret",
        "/..;/internal/secret",
        "/x/..;/..;/internal/secret",
        "/\\..\\internal\\secret",
        "/..\\internal/secret",
        "/%5c..%5cinternal/secret",
        "/..%5Cinternal/secret",
        "/x%2f..%2f..%2finternal/secret",
        "/.%2e/%2e%2e/internal/secret",
        "/..",
        "/../",
    ] {
        let r = exchange_async(
            gw.addr,
            format!("GET {path} HTTP/1.1\r\nHost: localhost"),
            Vec::new(),
        )
        .await;
        assert!(
            !r.body.contains("INTERNAL"),
            "{path} reached nginx outside /public: {} {}",
            r.status,
            r.body
        );
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(
            r.body.contains("dot segments resolved"),
            "{path}: no reason and fix: {}",
            r.body
        );
    }
}

// ---------------------------------------------------------------- HTTP/2 cookies

/// An HTTP/2 client's cookie crumbs (one field per cookie) reach the HTTP/1.1 upstream
/// as one `Cookie` line joined with `; ` (RFC 9113 §8.2.3): Django sees both cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_cookie_crumbs_are_one_cookie_header_for_django() {
    let _shared = shared().await;
    let (_gunicorn, django) = gunicorn();
    let gw = start(None, &format!("http://{django}")).await;
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    let req = Request::get("http://localhost/cookies")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, async {
        send.ready().await.unwrap();
        send.send_request(req).await.unwrap()
    })
    .await
    .expect("no answer in time");
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["cookies"], serde_json::json!({"a": "1", "b": "2"}), "{j}");
    assert_eq!(j["meta"]["HTTP_COOKIE"], "a=1; b=2", "{j}");
    conn_task.abort();
}

// ---------------------------------------------------------------- methods and framing

/// TRACE is answered 405 with `Allow` by the gateway (as nginx does) and never
/// forwarded: the upstream would echo the request's credentials back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_is_405_and_not_forwarded() {
    let _shared = shared().await;
    let up = recorder().await;
    let gw = start(None, &format!("http://{}", up.addr)).await;
    let r = exchange_async(
        gw.addr,
        "TRACE /x HTTP/1.1\r\nHost: localhost\r\nCookie: sessionid=secret".to_owned(),
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.body);
    let allow = r.header("allow").expect("no Allow header");
    assert!(allow.contains("GET") && !allow.contains("TRACE"), "{allow}");
    assert!(!r.body.contains("secret"), "{}", r.body);
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        0,
        "TRACE reached the upstream"
    );
}

/// `Expect: 100-continue` is answered by the gateway and not passed on; the upstream
/// gets the body at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_is_not_forwarded() {
    let _shared = shared().await;
    let up = recorder().await;
    let gw = start(None, &format!("http://{}", up.addr)).await;
    let r = exchange_async(
        gw.addr,
        "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue"
            .to_owned(),
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert!(j["headers"].get("expect").is_none(), "{j}");
    assert_eq!(j["body"], "hello");
}

/// A request with both `Content-Length` and `Transfer-Encoding` is framed by
/// `Transfer-Encoding` alone (RFC 9112 §6.3): the upstream gets the chunked body, no
/// stale `Content-Length`, and nothing smuggled after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_cannot_smuggle() {
    let _shared = shared().await;
    let up = recorder().await;
    let gw = start(None, &format!("http://{}", up.addr)).await;
    let smuggled = b"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let r = exchange_async(
        gw.addr,
        "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked"
            .to_owned(),
        smuggled.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["body"], "hello", "{j}");
    let cl = j["headers"].get("content-length");
    assert!(
        cl.is_none() || cl == Some(&serde_json::json!(["5"])),
        "a stale Content-Length was forwarded: {j}"
    );
    // The gateway closes such a connection: the tail is never a second request.
    // `exchange` has read the connection until the gateway closed it. A request made of
    // the tail would have been forwarded, and answered on this connection, before that
    // close: by now the upstream's count is final, and no second response was sent.
    assert!(
        r.after.is_empty(),
        "a second response followed: {}",
        r.after
    );
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        1,
        "a smuggled request arrived"
    );
}

/// A header value folded over two lines (obs-fold, RFC 9112 §5.2) is refused, never
/// forwarded for the upstream to unfold its own way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_header_values_are_refused() {
    let _shared = shared().await;
    let up = recorder().await;
    let gw = start(None, &format!("http://{}", up.addr)).await;
    let r = exchange_async(
        gw.addr,
        "GET /x HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n Transfer-Encoding: chunked"
            .to_owned(),
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        0,
        "a folded header was forwarded"
    );
}

// ---------------------------------------------------------------- the CSP nonce

/// The nonce in the response's CSP: the value of `'nonce-…'`.
fn csp_nonce(r: &Raw) -> String {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("no CSP: {:?}", r.headers));
    let start = csp.find("'nonce-").expect("a nonce source") + "'nonce-".len();
    let len = csp[start..].find('\'').expect("a closing quote");
    csp[start..start + len].to_owned()
}

/// With `{nonce}` in the CSP, Django reads the response's own nonce from `X-CSP-Nonce`
/// (or the configured name), a fresh one per request; whatever the client sent under
/// that name, in any spelling or number of copies, from a trusted proxy too, never
/// reaches it. Without `{nonce}`, the client's copies are still removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_reads_the_response_nonce_and_never_a_forged_one() {
    let _shared = shared().await;
    let (_gunicorn, django) = gunicorn();
    let upstream = format!("http://{django}");
    // 127.0.0.1 is a trusted proxy here (the default): its copies go too.
    let with_nonce = "environment: production\n\
                      security_domains: [example.com]\n\
                      headers:\n  content_security_policy: \"default-src 'self'; script-src 'nonce-{nonce}'\"\n";
    let forged_head = |head: &mut String| {
        // Underscore spellings first, so that they would win a first-value rule.
        for (name, value) in [
            ("X_CSP_Nonce", "forged-underscore"),
            ("X-CSP_Nonce", "forged-mixed"),
            ("X-CSP-Nonce", "forged-1"),
            ("x-csp-nonce", "forged-2"),
            ("X-Csp-NONCE", "forged-3"),
            ("X-Nonce", "forged-other"),
            // A hop-by-hop listing must not take the gateway's own nonce away.
            ("Connection", "x-csp-nonce, x-nonce"),
        ] {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
    };
    let run = |gw: SocketAddr| {
        let mut head = String::from("GET /page HTTP/1.1\r\nHost: example.com");
        forged_head(&mut head);
        exchange_async(gw, head, Vec::new())
    };

    let gw = start(Some(with_nonce), &upstream).await;
    let first = run(gw.addr).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let j = first.json();
    let nonce = csp_nonce(&first);
    assert_eq!(nonce.len(), 22, "{nonce}");
    assert_eq!(j["meta"]["HTTP_X_CSP_NONCE"], nonce.as_str(), "{j}");
    let second = run(gw.addr).await;
    assert_ne!(csp_nonce(&second), nonce, "one nonce per response");
    assert_eq!(
        second.json()["meta"]["HTTP_X_CSP_NONCE"],
        csp_nonce(&second).as_str()
    );
    for r in [&first, &second] {
        let text = r.json()["meta"].to_string();
        assert!(
            !text.contains("forged-underscore")
                && !text.contains("forged-mixed")
                && !text.contains("forged-1")
                && !text.contains("forged-2")
                && !text.contains("forged-3"),
            "a client's nonce reached Django: {text}"
        );
    }
    drop(gw);

    // Another header name: Django reads it there.
    let options = GatewayOptions::default()
        .with_upstream_timeout(TIMEOUT)
        .with_csp_nonce_header(http::HeaderName::from_static("x-nonce"));
    let gw = Running::serve(Gateway::new(
        security(Some(with_nonce)),
        parse_upstream(&upstream).unwrap(),
        options,
    ))
    .await;
    let r = run(gw.addr).await;
    assert_eq!(
        r.json()["meta"]["HTTP_X_NONCE"],
        csp_nonce(&r).as_str(),
        "{}",
        r.body
    );
    drop(gw);

    // No `{nonce}`: no nonce, and no client copy either.
    let gw = start(Some(UNTRUSTED_LOOPBACK), &upstream).await;
    let r = run(gw.addr).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert!(j["meta"].get("HTTP_X_CSP_NONCE").is_none(), "{j}");
    assert!(r.header("content-security-policy").is_none());
}
