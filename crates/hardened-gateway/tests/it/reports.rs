//! The violation report collector in the gateway: `reports.path` is answered by the
//! gateway and never forwarded; each refusal has its status; the counts reach
//! `/metrics`; the pages' headers point at the collector.
//!
//! Only 127.0.0.1 is used; every wait is bounded; every task is stopped or aborted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, Metrics, parse_upstream};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Running, logs, security, shared, text, upstream};

const TIMEOUT: Duration = Duration::from_secs(15);
const PATH: &str = "/.well-known/hardened/reports";

const CONFIG: &str = "environment: development
headers:
  content_security_policy_report_only: \"default-src 'self'\"
  cross_origin_opener_policy: same-origin
reports:
  rate_limit: 8
  max_body_size: 2KiB
";

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, http::HeaderMap, String) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = tokio::time::timeout(
        TIMEOUT,
        client.request(req.body(Full::new(body.into())).unwrap()),
    )
    .await
    .expect("no answer in time")
    .expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A request to the collector: method, headers, body, the status it must get.
type Case = (&'static str, Vec<(&'static str, &'static str)>, Bytes, u16);

const REPORT: &str = r#"{"csp-report":{"document-uri":"http://127.0.0.1/page?secret=1","effective-directive":"img-src","blocked-uri":"https://tracker.example/p.gif","disposition":"report"}}"#;

#[tokio::test]
async fn the_gateway_answers_reports_itself_and_counts_them() {
    let _shared = shared().await;
    let logs = logs();
    let forwarded = Arc::new(AtomicUsize::new(0));
    let seen = forwarded.clone();
    let up = upstream(move |_req| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            text("page")
        }
    })
    .await;
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::new(
        security(Some(CONFIG)),
        parse_upstream(&up.url()).unwrap(),
        GatewayOptions::default(),
    )
    .with_metrics(metrics.clone());
    let gw = Running::serve(gateway).await;
    let addr = gw.addr;

    // The page points at the collector; in development (plain http, where Chromium
    // honours no Reporting API endpoint and, with `report-to` present, drops
    // `report-uri` too), through `report-uri` alone.
    let (status, headers, _) = send(addr, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-security-policy-report-only"],
        "default-src 'self'; report-uri /.well-known/hardened/reports"
    );
    assert!(!headers.contains_key("reporting-endpoints"));
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert_eq!(forwarded.load(Ordering::SeqCst), 1);

    let csp = [("content-type", "application/csp-report")];
    let (status, _, body) = send(addr, "POST", PATH, &csp, REPORT).await;
    assert_eq!((status, body.as_str()), (204, ""));
    logs.wait_for_lines(
        1,
        &["violation report", "img-src", "https://tracker.example"],
    )
    .await;
    assert!(
        !logs.text().contains("secret=1"),
        "the query never reaches the log"
    );

    let cases: Vec<Case> = vec![
        ("GET", vec![], Bytes::new(), 405),
        (
            "POST",
            vec![("content-type", "text/plain")],
            Bytes::from(REPORT),
            415,
        ),
        (
            "POST",
            csp.to_vec(),
            Bytes::from_static(b"{\"csp-report\":"),
            400,
        ),
        (
            "POST",
            csp.to_vec(),
            Bytes::from(format!("{}1{}", "[".repeat(50), "]".repeat(50))),
            400,
        ),
        ("POST", csp.to_vec(), Bytes::from(vec![b' '; 4096]), 413),
        (
            "POST",
            vec![
                ("content-type", "application/csp-report"),
                ("origin", "https://evil.test"),
            ],
            Bytes::from(REPORT),
            403,
        ),
    ];
    for (method, headers, body, want) in cases {
        let (status, _, text) = send(addr, method, PATH, &headers, body).await;
        assert_eq!(status, want, "{method} {headers:?}: {text}");
    }
    // A body larger than the limit without Content-Length (chunked) is cut at the limit.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let chunk = "x".repeat(1000);
    let mut req = format!(
        "POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for _ in 0..4 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    raw.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(TIMEOUT, raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Eight uploads a minute from this client (a GET is refused before it counts): the
    // eighth passes, the ninth is refused.
    assert_eq!(send(addr, "POST", PATH, &csp, REPORT).await.0, 204);
    let (status, headers, _) = send(addr, "POST", PATH, &csp, REPORT).await;
    assert_eq!(status, 429, "the allowance of 8 is spent");
    assert_eq!(headers["retry-after"], "60");

    // None of it reached the upstream.
    assert_eq!(forwarded.load(Ordering::SeqCst), 1);

    let text = metrics.encode();
    for line in [
        "hardened_reports_total{type=\"csp\",directive=\"img-src\"} 2",
        "hardened_reports_rejected_total{reason=\"method\"} 1",
        "hardened_reports_rejected_total{reason=\"content_type\"} 1",
        "hardened_reports_rejected_total{reason=\"malformed\"} 1",
        "hardened_reports_rejected_total{reason=\"too_deep\"} 1",
        "hardened_reports_rejected_total{reason=\"too_large\"} 2",
        "hardened_reports_rejected_total{reason=\"cross_origin\"} 1",
        "hardened_reports_rejected_total{reason=\"rate_limited\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("tracker.example"), "never a URL in a label");
}
