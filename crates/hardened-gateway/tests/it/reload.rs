//! Policy reload while serving: a [`Reloader`] swaps the [`Policy`] of a running
//! [`Gateway`]; requests in a loop never fail across 20 reloads, a bad configuration
//! keeps the old policy, a Kubernetes-style ConfigMap symlink swap is picked up by the
//! file watch, and restart-only settings are reported, not applied.
//!
//! Only 127.0.0.1 is used; every wait is bounded; every task is stopped or aborted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use hardened::config::load::Loader;
use hardened::probe::RuntimeProbe;
use hardened_gateway::reload::{ReloadResult, Reloaded};
use hardened_gateway::{Gateway, GatewayOptions, Metrics, Policy, Reloader, parse_upstream};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

use crate::common::{Running, Upstream, shared, text, upstream};

const TIMEOUT: Duration = Duration::from_secs(15);

const ONLY_A: &str = "environment: development\nsecurity_domains: [a.test]\n";
const A_AND_B: &str = "environment: development\nsecurity_domains: [a.test, b.test]\n";

/// An upstream answering `ok` to everything; aborted when dropped.
async fn ok_upstream() -> Upstream {
    upstream(|_req| async { text("ok") }).await
}

/// `gateway` on 127.0.0.1; stopped and aborted when dropped.
async fn start(gateway: Gateway) -> Running {
    Running::serve(gateway).await
}

fn load(path: &Path) -> Result<Security, hardened::config::ConfigErrors> {
    let loaded = Loader::new().file(path).load()?;
    Security::from_config(&loaded.config, &RuntimeProbe::none())
}

fn reloader_of(policy: &Policy, path: PathBuf, metrics: &Arc<Metrics>) -> Reloader {
    Reloader::new(policy.clone(), Vec::new(), move || {
        Ok(Reloaded {
            security: load(&path)?,
            restart_only: Vec::new(),
        })
    })
    .with_metrics(metrics.clone())
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The status of `GET /` with this Host.
async fn status(client: &Client<HttpConnector, Empty<Bytes>>, addr: SocketAddr, host: &str) -> u16 {
    let req = http::Request::get(format!("http://{addr}/"))
        .header(http::header::HOST, host)
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .expect("no answer in time")
        .expect("request failed");
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_drop_no_request() {
    let _shared = shared().await;
    let up = ok_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, ONLY_A).unwrap();
    let policy = Policy::new(load(&path).unwrap());
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::with_policy(
        policy.clone(),
        parse_upstream(&format!("http://{}", up.addr)).unwrap(),
        GatewayOptions::default(),
    )
    .with_metrics(metrics.clone());
    let gw = start(gateway).await;
    let reloader = reloader_of(&policy, path.clone(), &metrics);

    // Four clients, each on its own keep-alive connection, in a loop.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (done, ok, addr) = (done.clone(), ok.clone(), gw.addr);
        loops.push(tokio::spawn(async move {
            let c = client();
            let mut failures = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let s = status(&c, addr, "a.test").await;
                if s == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(s);
                }
            }
            failures
        }));
    }

    let c = client();
    for i in 0..20 {
        let (text, b_status) = if i % 2 == 0 {
            (A_AND_B, 200)
        } else {
            (ONLY_A, 400)
        };
        std::fs::write(&path, text).unwrap();
        let result = tokio::task::block_in_place(|| reloader.reload());
        assert!(
            matches!(result, ReloadResult::Applied { generation, .. } if generation == i + 2),
            "{result:?}"
        );
        // The next request follows the new policy at once.
        assert_eq!(status(&c, gw.addr, "b.test").await, b_status, "reload {i}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Relaxed);
    for l in loops {
        let failures = tokio::time::timeout(TIMEOUT, l).await.unwrap().unwrap();
        assert!(
            failures.is_empty(),
            "requests failed during reloads: {failures:?}"
        );
    }
    assert!(ok.load(Ordering::Relaxed) >= 20, "too few requests: {ok:?}");
    assert_eq!(policy.generation(), 21);
    let text = metrics.encode();
    assert!(
        text.contains("hardened_config_reloads_total{result=\"success\"} 20"),
        "{text}"
    );
    assert!(text.contains("hardened_config_generation 21"), "{text}");
    assert!(
        text.contains("hardened_rejections_total{check=\"host\",code=\"host-not-allowed\"} 10"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_keeps_the_policy_in_force() {
    let _shared = shared().await;
    let up = ok_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, A_AND_B).unwrap();
    let policy = Policy::new(load(&path).unwrap());
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::with_policy(
        policy.clone(),
        parse_upstream(&format!("http://{}", up.addr)).unwrap(),
        GatewayOptions::default(),
    );
    let gw = start(gateway).await;
    let reloader = reloader_of(&policy, path.clone(), &metrics);

    for bad in [
        "environment: development\nsecurity_domains: [a.test]\nno_such_key: 1\n",
        "security_domains: [a.test\n",
        "environment: development\nsecurity_domains: ['not a domain!']\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        match tokio::task::block_in_place(|| reloader.reload()) {
            ReloadResult::Failed(errors) => assert!(!errors.0.is_empty()),
            other => panic!("{bad:?} applied: {other:?}"),
        }
        assert_eq!(policy.generation(), 1);
        assert_eq!(status(&client(), gw.addr, "b.test").await, 200);
    }
    let text = metrics.encode();
    assert!(
        text.contains("hardened_config_reloads_total{result=\"failure\"} 3"),
        "{text}"
    );
    assert!(text.contains("hardened_config_generation 1"), "{text}");
}

/// Lays out `dir` as a Kubernetes ConfigMap volume does: `config.yaml ->
/// ..data/config.yaml`, `..data -> ..<version>`; a new version is a new directory and
/// an atomic rename of the `..data` link.
#[cfg(unix)]
fn configmap_version(dir: &Path, version: &str, text: &str) {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir(&versioned).unwrap();
    std::fs::write(versioned.join("config.yaml"), text).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    let link = dir.join("config.yaml");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/config.yaml", &link).unwrap();
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_is_picked_up() {
    let _shared = shared().await;
    let up = ok_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    configmap_version(dir.path(), "2026_01_01_v1", ONLY_A);
    let path = dir.path().join("config.yaml");
    let policy = Policy::new(load(&path).unwrap());
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::with_policy(
        policy.clone(),
        parse_upstream(&format!("http://{}", up.addr)).unwrap(),
        GatewayOptions::default(),
    );
    let gw = start(gateway).await;
    let c = client();
    assert_eq!(status(&c, gw.addr, "b.test").await, 400);

    let reloader = reloader_of(&policy, path.clone(), &metrics)
        .watch_dir(dir.path())
        .with_interval(Duration::from_millis(100));
    let (stop, stopped) = oneshot::channel::<()>();
    let watching = tokio::spawn(reloader.run(async {
        let _ = stopped.await;
    }));
    // Let the watch take its first look before the swap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    configmap_version(dir.path(), "2026_01_01_v2", A_AND_B);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while policy.generation() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the swap was not seen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&c, gw.addr, "b.test").await, 200);
    let _ = stop.send(());
    tokio::time::timeout(TIMEOUT, watching)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn restart_only_changes_are_reported_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, ONLY_A).unwrap();
    let policy = Policy::new(load(&path).unwrap());
    let listen = Arc::new(std::sync::Mutex::new("127.0.0.1:8000".to_owned()));
    let l = listen.clone();
    let reloader = Reloader::new(
        policy.clone(),
        vec![("listen".to_owned(), "127.0.0.1:8000".to_owned())],
        move || {
            Ok(Reloaded {
                security: load(&path)?,
                restart_only: vec![("listen".to_owned(), l.lock().unwrap().clone())],
            })
        },
    );
    match reloader.reload() {
        ReloadResult::Applied { needs_restart, .. } => assert!(needs_restart.is_empty()),
        other => panic!("{other:?}"),
    }
    *listen.lock().unwrap() = "127.0.0.1:9000".to_owned();
    match reloader.reload() {
        ReloadResult::Applied {
            needs_restart,
            generation,
        } => {
            assert_eq!(needs_restart, ["listen"]);
            assert_eq!(generation, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_under_its_policy() {
    let _shared = shared().await;
    // An upstream that answers only when told to.
    let (release, released) = tokio::sync::watch::channel(false);
    let (reached_tx, mut reached) = tokio::sync::mpsc::unbounded_channel::<()>();
    let r = released;
    let _up = upstream(move |_req| {
        let mut r = r.clone();
        let _ = reached_tx.send(());
        async move {
            let _ = r.wait_for(|go| *go).await;
            text("late")
        }
    })
    .await;
    let up_addr = _up.addr;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, A_AND_B).unwrap();
    let policy = Policy::new(load(&path).unwrap());
    let metrics = Arc::new(Metrics::new());
    let gateway = Gateway::with_policy(
        policy.clone(),
        parse_upstream(&format!("http://{up_addr}")).unwrap(),
        GatewayOptions::default(),
    );
    let gw = start(gateway).await;
    let reloader = reloader_of(&policy, path.clone(), &metrics);

    let addr = gw.addr;
    let in_flight = tokio::spawn(async move { status(&client(), addr, "b.test").await });
    // Once it has reached the upstream, take b.test out of the policy.
    tokio::time::timeout(TIMEOUT, reached.recv())
        .await
        .unwrap()
        .unwrap();
    std::fs::write(&path, ONLY_A).unwrap();
    assert!(matches!(
        tokio::task::block_in_place(|| reloader.reload()),
        ReloadResult::Applied { .. }
    ));
    release.send(true).unwrap();
    let s = tokio::time::timeout(TIMEOUT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s, 200, "the request in flight was judged again");
    // A new one is refused at once (the upstream is not reached).
    assert_eq!(status(&client(), gw.addr, "b.test").await, 400);
}

/// A file changed after the reloader was set up but before it first looked (a busy
/// machine starts its task late) is still a change: the reload happens.
#[tokio::test]
async fn a_change_before_the_first_look_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "environment: development\nsecurity_domains: [a.test]\n",
    )
    .unwrap();
    let policy = Policy::new(load(&path).unwrap());
    let metrics = Arc::new(Metrics::new());
    let reloader = reloader_of(&policy, path.clone(), &metrics)
        .watch_dir(dir.path())
        .with_interval(Duration::from_millis(50));
    // The change, before `run` has been polled once.
    std::fs::write(
        &path,
        "environment: development\nsecurity_domains: [a.test, b.test]\n",
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reloader.run(async {
        let _ = stopped.await;
    }));
    let start = std::time::Instant::now();
    while policy.generation() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the change was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    task.await.unwrap();
}
