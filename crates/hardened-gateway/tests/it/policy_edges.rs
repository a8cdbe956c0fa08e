//! Where the gateway meets the policy: health-check paths keep the Host syntax checks,
//! the upstream's own CORS headers never reach an origin the policy does not allow,
//! and request text in the rejection log is escaped. Through the in-process gateway on
//! 127.0.0.1, with a small in-process upstream; every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hardened::Security;
use hardened_gateway::{Gateway, GatewayOptions, parse_upstream};

use crate::common::{Running, careless_upstream, logs, security, shared};

const TIMEOUT: Duration = Duration::from_secs(20);

const CONFIG: &str = "environment: production\n\
                      security_domains: [example.com, https://app.example.com]\n\
                      health_check_paths: [/healthz]\n";

/// A gateway with the policy of [`CONFIG`] in front of `up`.
async fn start(up: SocketAddr) -> Running {
    start_with(up, security(Some(CONFIG))).await
}

async fn start_with(up: SocketAddr, security: Security) -> Running {
    let options = GatewayOptions::default().with_upstream_timeout(TIMEOUT);
    let gateway = Gateway::new(
        security,
        parse_upstream(&format!("http://{up}")).unwrap(),
        options,
    );
    Running::serve(gateway).await
}

/// The status and lowercased header lines of the answer to `request` (sent as is).
async fn exchange(addr: SocketAddr, request: &'static [u8]) -> (u16, Vec<(String, String)>) {
    let work = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(request).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers)
    });
    tokio::time::timeout(TIMEOUT * 2, work)
        .await
        .expect("no answer in time")
        .unwrap()
}

/// A health-check path waives the host allow-list, never the Host syntax checks of
/// decision 28: a duplicate, malformed or missing Host, or a conflicting absolute-form
/// target, is refused there too and never forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_paths_keep_host_syntax_checks() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let gw = start(up.addr).await;
    let (status, _) = exchange(
        gw.addr,
        b"GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:8000\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "a probe by IP is still served");
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);
    let refused: &[&'static [u8]] = &[
        b"GET /healthz HTTP/1.1\r\nHost: 10.1.2.3\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: evil.com/x\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        b"GET http://evil.com/healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    ];
    for request in refused {
        let (status, _) = exchange(gw.addr, request).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(request));
    }
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        1,
        "a refused request was forwarded"
    );
}

/// The gateway owns the CORS policy: an upstream answering CORS headers for a foreign
/// origin (with credentials) is not believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cors_headers_never_reach_a_foreign_origin() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let gw = start(up.addr).await;
    for request in [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\nOrigin: https://evil.com\r\nConnection: close\r\n\r\n"[..],
        &b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"[..],
    ] {
        let (status, headers) = exchange(gw.addr, request).await;
        assert_eq!(status, 200);
        let cors: Vec<_> = headers
            .iter()
            .filter(|(n, _)| n.starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }
    // An allowed origin keeps the upstream's extra CORS headers, under the policy's own.
    let (_, headers) = exchange(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: example.com\r\nOrigin: https://app.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    let get = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("access-control-allow-origin"),
        ["https://app.example.com"]
    );
    assert_eq!(get("access-control-expose-headers"), ["x-secret"]);
}

/// Control, C1 and bidi characters from `Origin` and `Host` reach the rejection log
/// escaped, never raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_log_escapes_request_text() {
    let _shared = shared().await;
    let logs = logs();
    let up = careless_upstream().await;
    let gw = start(up.addr).await;
    // A cross-site POST whose Origin carries U+009B (CSI) and U+202E (RTL override),
    // and a foreign Host with U+202E.
    let (status, _) = exchange(
        gw.addr,
        "POST / HTTP/1.1\r\nHost: example.com\r\nOrigin: https://ev\u{9b}31mil.com\u{202e}moc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .as_bytes()
            .to_vec()
            .leak(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = exchange(
        gw.addr,
        "GET / HTTP/1.1\r\nHost: evil\u{202e}.com\r\nConnection: close\r\n\r\n"
            .as_bytes()
            .to_vec()
            .leak(),
    )
    .await;
    assert_eq!(status, 400);
    // Events are written synchronously by the time the response is out.
    let text = logs.text();
    assert!(text.contains("request rejected"), "{text}");
    for raw in ['\u{9b}', '\u{202e}', '\u{1b}'] {
        assert!(!text.contains(raw), "raw {raw:?} in the log: {text}");
    }
    assert!(
        text.contains("ev\\u{9b}31mil") && text.contains("evil\\u{202e}.com"),
        "{text}"
    );
}

/// The gateway applies the whole layer: report-only checks let a would-be rejection
/// through, and a CSP `{nonce}` is a fresh nonce per response, never the placeholder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_only_and_csp_nonces_apply_through_the_gateway() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let config = "environment: production\n\
                  security_domains: [example.com]\n\
                  report_only: [host]\n\
                  headers:\n  content_security_policy: \"script-src 'nonce-{nonce}'\"\n";
    let gw = start_with(up.addr, security(Some(config))).await;
    let (status, _) = exchange(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        status, 200,
        "report-only host check must let the request through"
    );
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let (_, headers) = exchange(
            gw.addr,
            b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        )
        .await;
        let csp = headers
            .iter()
            .find(|(n, _)| n == "content-security-policy")
            .map(|(_, v)| v.clone())
            .expect("no CSP");
        assert!(
            !csp.contains("{nonce}") && csp.starts_with("script-src 'nonce-"),
            "{csp}"
        );
        nonces.push(csp);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce is per response");
}
