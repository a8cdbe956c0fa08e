//! The admin listener and what it reports: `/healthz`, `/readyz` (upstream up or down),
//! `/metrics` after allowed, rejected and failed requests; and the `X-Request-Id` the
//! gateway passes to the upstream and back.
//!
//! Only 127.0.0.1 is used; every wait is bounded; every task is stopped or aborted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardened_gateway::{Admin, Gateway, GatewayOptions, Metrics, parse_upstream};
use http::HeaderMap;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::common::{Running, Upstream, free_port, security, shared, text, upstream};

const TIMEOUT: Duration = Duration::from_secs(15);

/// An upstream answering `ok` with the `X-Request-Id` it received in `x-seen-id`.
async fn id_upstream() -> (SocketAddr, Upstream) {
    let up = upstream(|req| async move {
        let mut resp = text("ok");
        if let Some(v) = req.headers().get("x-request-id") {
            resp.headers_mut().insert("x-seen-id", v.clone());
        }
        resp
    })
    .await;
    (up.addr, up)
}

/// A gateway with metrics in front of `upstream`, and its admin listener.
async fn start(config: &str, upstream: SocketAddr) -> (SocketAddr, SocketAddr, Running, Running) {
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::new(
        security(Some(config)),
        parse_upstream(&format!("http://{upstream}")).unwrap(),
        GatewayOptions::default().with_connect_timeout(Duration::from_secs(2)),
    )
    .with_metrics(metrics.clone())
    .with_access_log(true);
    let admin = Admin::new(
        gateway.policy().clone(),
        metrics,
        Some(upstream.to_string()),
    );
    let gw = Running::serve(gateway).await;
    let ad = serve_admin(admin).await;
    (gw.addr, ad.addr, gw, ad)
}

/// `admin` on 127.0.0.1:0.
async fn serve_admin(admin: Admin) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    Running::spawn(addr, |stopped| {
        admin.serve(listener, async {
            let _ = stopped.await;
        })
    })
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, String) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = tokio::time::timeout(TIMEOUT, client.request(req.body(Empty::new()).unwrap()))
        .await
        .expect("no answer in time")
        .expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

const CONFIG: &str = "environment: development\nsecurity_domains: [a.test]\n";

#[tokio::test]
async fn health_readiness_and_metrics() {
    let _shared = shared().await;
    let (up, _up_task) = id_upstream().await;
    let (gw, admin, _g, _a) = start(CONFIG, up).await;

    assert_eq!(get(admin, "/healthz", &[]).await.0, 200);
    assert_eq!(get(admin, "/readyz", &[]).await.0, 200);
    assert_eq!(get(admin, "/nope", &[]).await.0, 404);
    // Never on the public listener: there it is the upstream's path.
    assert_eq!(get(gw, "/metrics", &[("host", "a.test")]).await.2, "ok");

    assert_eq!(get(gw, "/", &[("host", "a.test")]).await.0, 200);
    assert_eq!(get(gw, "/", &[("host", "evil.test")]).await.0, 400);
    let (status, headers, body) = get(admin, "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for line in [
        "hardened_requests_total{outcome=\"allow\"} 2",
        "hardened_requests_total{outcome=\"reject\"} 1",
        "hardened_rejections_total{check=\"host\",code=\"host-not-allowed\"} 1",
        "hardened_rejections_total{check=\"csrf\",code=\"csrf-bad-origin\"} 0",
        "hardened_request_duration_seconds_count 3",
        "hardened_config_generation 1",
        "hardened_open_connections ",
    ] {
        assert!(body.contains(line), "{line} missing from\n{body}");
    }
    // Nothing of the requests themselves (hosts, paths) reaches the metrics.
    assert!(!body.contains("evil.test"));
}

#[tokio::test]
async fn not_ready_and_counted_when_the_upstream_is_down() {
    let _shared = shared().await;
    let down = free_port();
    let (gw, admin, _g, _a) = start(CONFIG, down).await;
    assert_eq!(get(admin, "/healthz", &[]).await.0, 200);
    let (status, _, body) = get(admin, "/readyz", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(gw, "/", &[("host", "a.test")]).await.0, 502);
    let body = get(admin, "/metrics", &[]).await.2;
    assert!(
        body.contains("hardened_upstream_errors_total{kind=\"connect\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("hardened_requests_total{outcome=\"upstream_error\"} 1"),
        "{body}"
    );
}

#[tokio::test]
async fn request_ids_are_made_passed_on_and_returned() {
    let _shared = shared().await;
    let (up, _up_task) = id_upstream().await;
    let (gw, _, _g, _a) = start(CONFIG, up).await;

    // None given: one is made, the upstream sees it, the client gets it back.
    let (_, h, _) = get(gw, "/", &[("host", "a.test")]).await;
    let id = h["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(h["x-seen-id"], id.as_str());
    let (_, h2, _) = get(gw, "/", &[("host", "a.test")]).await;
    assert_ne!(h2["x-request-id"], id.as_str());

    // From a trusted proxy (loopback is trusted by default): kept when valid.
    let (_, h, _) = get(
        gw,
        "/",
        &[("host", "a.test"), ("x-request-id", "edge-1234")],
    )
    .await;
    assert_eq!(h["x-request-id"], "edge-1234");
    assert_eq!(h["x-seen-id"], "edge-1234");
    // Invalid: replaced.
    let (_, h, _) = get(
        gw,
        "/",
        &[("host", "a.test"), ("x-request-id", "a<script>")],
    )
    .await;
    assert_ne!(h["x-seen-id"], "a<script>");
    assert_eq!(h["x-seen-id"], h["x-request-id"]);
    // Rejections carry one too.
    let (status, h, _) = get(gw, "/", &[("host", "evil.test")]).await;
    assert_eq!(status, 400);
    assert_eq!(h["x-request-id"].len(), 32);
}

#[tokio::test]
async fn request_ids_from_untrusted_peers_are_replaced() {
    let _shared = shared().await;
    let (up, _up_task) = id_upstream().await;
    let (gw, _, _g, _a) = start(
        "environment: development\nsecurity_domains: [a.test]\ntrusted_proxies: []\n",
        up,
    )
    .await;
    let (_, h, _) = get(
        gw,
        "/",
        &[("host", "a.test"), ("x-request-id", "edge-1234")],
    )
    .await;
    assert_ne!(h["x-seen-id"], "edge-1234");
    assert_eq!(h["x-seen-id"], h["x-request-id"]);
}

#[tokio::test]
async fn not_ready_once_draining() {
    let _shared = shared().await;
    let (up, _up_task) = id_upstream().await;
    let policy = hardened_gateway::Policy::new(security(Some(CONFIG)));
    let admin = Admin::new(policy, Arc::new(Metrics::new()), Some(up.to_string()));
    let _task = serve_admin(admin.clone()).await;
    let addr = _task.addr;
    assert_eq!(get(addr, "/readyz", &[]).await.0, 200);
    admin.draining();
    let (status, _, body) = get(addr, "/readyz", &[]).await;
    assert_eq!(status, 503);
    assert!(body.contains("shutting down"), "{body}");
    // Still alive: liveness must not restart a draining process.
    assert_eq!(get(addr, "/healthz", &[]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_at_the_connection_cap_are_counted() {
    let _shared = shared().await;
    // An upstream that never answers holds the gateway's only upstream connection; it
    // reports each request it receives.
    let (reached, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _up = upstream(move |_req| {
        let _ = reached.send(());
        async {
            std::future::pending::<()>().await;
            text(Bytes::new())
        }
    })
    .await;
    let up = _up.addr;
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::new(
        security(Some(CONFIG)),
        parse_upstream(&format!("http://{up}")).unwrap(),
        GatewayOptions::default()
            .with_upstream_max_connections(1)
            .with_upstream_queue_size(0)
            .with_upstream_timeout(Duration::from_secs(5)),
    )
    .with_metrics(metrics.clone());
    let _gw = Running::serve(gateway).await;
    let addr = _gw.addr;
    let hanging = tokio::spawn(async move { get(addr, "/", &[("host", "a.test")]).await.0 });
    // Once the first request holds the connection (it has reached the upstream), the
    // next one is refused at once.
    tokio::time::timeout(TIMEOUT, arrivals.recv())
        .await
        .expect("the first request never reached the upstream");
    let start = std::time::Instant::now();
    loop {
        let (status, _, _) = get(addr, "/", &[("host", "a.test")]).await;
        if status == 503 {
            break;
        }
        assert!(start.elapsed() < TIMEOUT, "never refused: {status}");
    }
    let text = metrics.encode();
    assert!(
        text.contains("hardened_upstream_errors_total{kind=\"refused\"} 1"),
        "{text}"
    );
    hanging.abort();
}
