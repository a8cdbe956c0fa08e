//! Operating `hardened serve`: the admin listener (`--admin-listen`), JSON logs and the
//! access log (`--log-format json --access-log`), policy reload on SIGHUP and on file
//! change (a bad file keeps the policy in force), and `hardened healthcheck`.
//!
//! The binary is started by `common::Served` (clean environment, 127.0.0.1 only, killed
//! by its id when its test ends); every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::time::{Duration, Instant};

use crate::common::{Served, Upstream, command, free_port, text, upstream};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const TIMEOUT: Duration = Duration::from_secs(15);

const ONLY_A: &str = "environment: development\nsecurity_domains: [a.test]\n";
const A_AND_B: &str = "environment: development\nsecurity_domains: [a.test, b.test]\n";

/// An upstream answering `ok`; aborted when dropped.
async fn ok_upstream() -> Upstream {
    upstream(|_req| async { Ok::<_, Infallible>(text("ok")) }).await
}

/// Status and body of `GET url` with this Host (none: the URL's).
async fn get(url: &str, host: Option<&str>) -> (u16, String) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(url);
    if let Some(h) = host {
        req = req.header(http::header::HOST, h);
    }
    let resp = tokio::time::timeout(TIMEOUT, client.request(req.body(Empty::new()).unwrap()))
        .await
        .unwrap_or_else(|_| panic!("GET {url}: no answer in time"))
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Waits (up to 10 s) until `Host: host` gets `want`.
async fn wait_status(srv: &Served, host: &str, want: u16) {
    let start = Instant::now();
    loop {
        let (got, _) = get(&srv.url("/"), Some(host)).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{host}: still {got}, not {want}; stderr:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_json_logs_and_access_log() {
    let up = ok_upstream().await;
    let admin = free_port();
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("config.yaml");
    std::fs::write(&path, ONLY_A).unwrap();
    let srv = Served::start(
        None,
        &[
            "--config",
            path.to_str().unwrap(),
            "--upstream",
            &format!("http://{}", up.addr),
            "--admin-listen",
            &admin.to_string(),
            "--log-format",
            "json",
            "--access-log",
        ],
    );
    let admin_url = |p: &str| format!("http://{admin}{p}");
    // The admin listener comes up with the gateway.
    let start = Instant::now();
    while std::net::TcpStream::connect(admin).is_err() {
        assert!(
            start.elapsed() < TIMEOUT,
            "no admin listener; {}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&admin_url("/healthz"), None).await.0, 200);
    assert_eq!(get(&admin_url("/readyz"), None).await.0, 200);

    assert_eq!(get(&srv.url("/"), Some("a.test")).await.0, 200);
    assert_eq!(get(&srv.url("/x\"y"), Some("evil\".test")).await.0, 400);
    let (status, metrics) = get(&admin_url("/metrics"), None).await;
    assert_eq!(status, 200);
    for line in [
        "hardened_requests_total{outcome=\"allow\"} 1",
        "hardened_requests_total{outcome=\"reject\"} 1",
        "hardened_rejections_total{check=\"host\",code=\"host-malformed\"} 1",
        "hardened_config_generation 1",
        "hardened_open_connections",
        "hardened_request_duration_seconds_bucket",
        "hardened_upstream_errors_total{kind=\"connect\"} 0",
        "hardened_config_reloads_total{result=\"success\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }

    // Every stderr line is one JSON object; the rejection and the access lines carry
    // their fields; no terminal colours.
    let start = Instant::now();
    let (rejection, access) = loop {
        let err = srv.stderr();
        assert!(!err.contains('\u{1b}'), "colours in\n{err}");
        let lines: Vec<serde_json::Value> = err
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let rejection = lines
            .iter()
            .find(|v| v["message"] == "request rejected")
            .cloned();
        let access = lines
            .iter()
            .filter(|v| v["target"] == "hardened::access")
            .count();
        if let (Some(r), 2..) = (rejection, access) {
            break (r, access);
        }
        assert!(start.elapsed() < TIMEOUT, "log lines missing:\n{err}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(access >= 2);
    for key in [
        "timestamp",
        "level",
        "check",
        "code",
        "reason",
        "fix",
        "method",
        "host",
        "path",
        "origin",
        "peer",
        "request_id",
    ] {
        assert!(
            rejection.get(key).is_some(),
            "{key} missing from {rejection}"
        );
    }
    assert_eq!(rejection["code"], "host-malformed");
    assert_eq!(rejection["peer"], "127.0.0.1");
    assert_eq!(rejection["request_id"].as_str().unwrap().len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_file_changes_reload_the_policy() {
    let up = ok_upstream().await;
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("config.yaml");
    std::fs::write(&path, ONLY_A).unwrap();
    let srv = Served::start(
        None,
        &[
            "--config",
            path.to_str().unwrap(),
            "--upstream",
            &format!("http://{}", up.addr),
        ],
    );
    assert_eq!(get(&srv.url("/"), Some("b.test")).await.0, 400);

    // SIGHUP.
    std::fs::write(&path, A_AND_B).unwrap();
    srv.signal("-HUP");
    wait_status(&srv, "b.test", 200).await;

    // A bad file: the policy in force stays, the problems are logged.
    std::fs::write(
        &path,
        "environment: development\nsecurity_domains: [a.test]\nnot_a_key: 1\n",
    )
    .unwrap();
    srv.signal("-HUP");
    let start = Instant::now();
    while !srv.stderr().contains("configuration reload failed") {
        assert!(
            start.elapsed() < TIMEOUT,
            "no failure logged:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(srv.stderr().contains("not_a_key"), "{}", srv.stderr());
    assert_eq!(get(&srv.url("/"), Some("b.test")).await.0, 200);

    // A file change without a signal (polled every 2 s).
    std::fs::write(&path, ONLY_A).unwrap();
    wait_status(&srv, "b.test", 400).await;
    assert_eq!(get(&srv.url("/"), Some("a.test")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_probes_the_admin_listener() {
    let admin = free_port();
    let srv = Served::start(None, &["--admin-listen", &admin.to_string()]);
    let start = Instant::now();
    while std::net::TcpStream::connect(admin).is_err() {
        assert!(
            start.elapsed() < TIMEOUT,
            "no admin listener; {}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |url: String| {
        let out = command(dir.path(), &["healthcheck", "--url", &url])
            .output()
            .unwrap();
        out.status.code()
    };
    assert_eq!(run(format!("http://{admin}/healthz")), Some(0));
    assert_eq!(run(format!("http://{admin}/nope")), Some(1));
    assert_eq!(run(format!("http://{}/healthz", free_port())), Some(1));
    assert_eq!(run("https://127.0.0.1/healthz".to_owned()), Some(2));
    drop(srv);
}

/// A reload applies the policy but not the `gateway:` settings, which are set up once:
/// a changed one is logged as needing a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_gateway_setting_is_reported_as_needing_a_restart() {
    let up = ok_upstream().await;
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("config.yaml");
    std::fs::write(&path, format!("{ONLY_A}gateway:\n  idle_timeout: 75s\n")).unwrap();
    let srv = Served::start(
        None,
        &[
            "--config",
            path.to_str().unwrap(),
            "--upstream",
            &format!("http://{}", up.addr),
        ],
    );
    assert_eq!(get(&srv.url("/"), Some("b.test")).await.0, 400);
    std::fs::write(&path, format!("{A_AND_B}gateway:\n  idle_timeout: 30s\n")).unwrap();
    srv.signal("-HUP");
    wait_status(&srv, "b.test", 200).await;
    let start = Instant::now();
    while !srv.stderr().contains("needs a restart") {
        assert!(
            start.elapsed() < TIMEOUT,
            "no restart notice:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = srv.stderr();
    assert!(stderr.contains("gateway.idle_timeout"), "{stderr}");
    assert!(!stderr.contains("gateway.listen "), "{stderr}");
}
