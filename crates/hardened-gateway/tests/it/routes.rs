//! Per-route policy through the gateway: the `routes:` of the file, enforced by the
//! same security layer as in an application, in front of a real upstream on
//! 127.0.0.1; matched on the client's path however it is spelled; an upstream's CORS
//! grants judged by the route; routes reloaded with the rest of the policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use hardened::config::load::Loader;
use hardened::probe::RuntimeProbe;
use hardened_gateway::reload::{ReloadResult, Reloaded};
use hardened_gateway::{Gateway, GatewayOptions, Policy, Reloader, parse_upstream};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::common::{Running, careless_upstream, security, shared};

const TIMEOUT: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"environment: production
role: gateway
security_domains: [example.com, https://app.example.com]
routes:
  - path: /embed/*
    headers:
      frame_ancestors: [https://partner.example]
  - path: /api/public/*
    cors:
      origins: ["*"]
  - path: /hooks/{id}
    methods: [POST]
    csrf: exempt
"#;

async fn start(up: SocketAddr, security: Security) -> Running {
    let gateway = Gateway::new(
        security,
        parse_upstream(&format!("http://{up}")).unwrap(),
        GatewayOptions::default().with_upstream_timeout(TIMEOUT),
    );
    Running::serve(gateway).await
}

/// Status and headers of `method path` with these headers, Host example.com unless
/// they name one.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        b = b.header("host", "example.com");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let fut = async {
        let resp = client
            .request(b.body(Full::default()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let _ = body.collect().await;
        (parts.status.as_u16(), parts.headers)
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("no answer in time")
}

fn get<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_of_the_file_apply_through_the_gateway() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let hits = &up.hits;
    let gw = start(up.addr, security(Some(CONFIG))).await;
    // The embeddable route on the plain spelling of its path; a route that weakens
    // (framable by a partner) does not hold on another spelling, which gets the
    // global headers. The gateway sends the resolved path upstream.
    let (status, h) = send(gw.addr, "GET", "/embed/w", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&h, "content-security-policy"),
        Some("frame-ancestors https://partner.example")
    );
    assert_eq!(get(&h, "x-frame-options"), None);
    for path in ["/x/../embed/w", "/%65mbed/w", "//embed/w"] {
        let (status, h) = send(gw.addr, "GET", path, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(get(&h, "x-frame-options"), Some("DENY"), "{path}");
    }
    let (_, h) = send(gw.addr, "GET", "/x/../embed/w", &[]).await;
    assert_eq!(get(&h, "x-upstream-path"), Some("/embed/w"));
    let (_, h) = send(gw.addr, "GET", "/page", &[]).await;
    assert_eq!(get(&h, "x-frame-options"), Some("DENY"));
    assert_eq!(get(&h, "content-security-policy"), None);

    // The public API: any origin, and the upstream's credentials grant is not passed on.
    let other = ("origin", "https://anyone.example");
    let (_, h) = send(gw.addr, "GET", "/api/public/x", &[other]).await;
    assert_eq!(
        get(&h, "access-control-allow-origin"),
        Some("https://anyone.example")
    );
    assert_eq!(get(&h, "access-control-allow-credentials"), None);
    assert_eq!(get(&h, "vary"), Some("origin"));
    // Its preflight is answered by the gateway, by the route.
    let before = hits.load(Ordering::SeqCst);
    let acrm = ("access-control-request-method", "GET");
    let (status, h) = send(gw.addr, "OPTIONS", "/api/public/x", &[other, acrm]).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&h, "access-control-allow-origin"),
        Some("https://anyone.example")
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "a preflight was forwarded"
    );
    // Elsewhere the upstream's grant to a foreign origin is stripped.
    let (_, h) = send(gw.addr, "GET", "/api/private", &[other]).await;
    assert_eq!(get(&h, "access-control-allow-origin"), None);
    assert_eq!(get(&h, "access-control-allow-credentials"), None);

    // The webhook: a cross-site POST reaches the upstream on its route only.
    let evil = ("origin", "https://evil.example");
    let (status, _) = send(gw.addr, "POST", "/hooks/7", &[evil]).await;
    assert_eq!(status, 200);
    let before = hits.load(Ordering::SeqCst);
    let (status, _) = send(gw.addr, "POST", "/hooks/7/x", &[evil]).await;
    assert_eq!(status, 403);
    let (status, _) = send(gw.addr, "PUT", "/hooks/7", &[evil]).await;
    assert_eq!(status, 403);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "a refused request was forwarded"
    );
}

/// The request checks a route turns off, through the gateway: the TLS redirect and the
/// host allow-list of a probe, and CSRF reported only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_checks_per_route_through_the_gateway() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let config = "environment: production\nrole: gateway\nsecurity_domains: [example.com]\n\
                  ssl_redirect: true\nroutes:\n  - path: /status\n    ssl_redirect: false\n\
                  \x20   host_check: skip_allowlist\n  - path: /report/*\n    report_only: [csrf]\n";
    let gw = start(up.addr, security(Some(config))).await;
    let (status, _) = send(gw.addr, "GET", "/page", &[]).await;
    assert_eq!(status, 301, "the redirect stands elsewhere");
    let (status, h) = send(gw.addr, "GET", "/status", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(get(&h, "x-upstream-path"), Some("/status"));
    let before = up.hits.load(Ordering::SeqCst);
    let foreign = ("host", "10.0.0.9:8000");
    let (status, _) = send(gw.addr, "GET", "/status", &[foreign]).await;
    assert_eq!(status, 200, "a probe by IP");
    let (status, _) = send(gw.addr, "GET", "/page", &[foreign]).await;
    assert_eq!(status, 400);
    assert_eq!(up.hits.load(Ordering::SeqCst), before + 1);
    let tls = ("x-forwarded-proto", "https");
    let evil = ("origin", "https://evil.example");
    let (status, _) = send(gw.addr, "POST", "/report/x", &[tls, evil]).await;
    assert_eq!(status, 200, "reported, let through");
    let (status, _) = send(gw.addr, "POST", "/page", &[tls, evil]).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_are_reloaded_with_the_policy() {
    let _shared = shared().await;
    let up = careless_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let base = "environment: production\nrole: gateway\nsecurity_domains: [example.com]\n";
    std::fs::write(&path, base).unwrap();
    let load = {
        let path = path.clone();
        move || -> Result<Security, hardened::config::ConfigErrors> {
            let loaded = Loader::new().file(&path).load()?;
            Security::gateway_from_config(&loaded.config, &RuntimeProbe::none())
        }
    };
    let policy = Policy::new(load().unwrap());
    let gateway = Gateway::with_policy(
        policy.clone(),
        parse_upstream(&format!("http://{}", up.addr)).unwrap(),
        GatewayOptions::default().with_upstream_timeout(TIMEOUT),
    );
    let gw = Running::serve(gateway).await;
    let reloader = Reloader::new(policy.clone(), Vec::new(), move || {
        Ok(Reloaded {
            security: load()?,
            restart_only: Vec::new(),
        })
    });
    let (_, h) = send(gw.addr, "GET", "/embed", &[]).await;
    assert_eq!(get(&h, "x-frame-options"), Some("DENY"));
    std::fs::write(
        &path,
        format!(
            "{base}routes:\n  - path: /embed\n    headers:\n      x_frame_options: SAMEORIGIN\n"
        ),
    )
    .unwrap();
    let result = tokio::task::block_in_place(|| reloader.reload());
    assert!(matches!(result, ReloadResult::Applied { .. }), "{result:?}");
    let (_, h) = send(gw.addr, "GET", "/embed", &[]).await;
    assert_eq!(get(&h, "x-frame-options"), Some("SAMEORIGIN"));
    // A route production refuses keeps the policy in force.
    std::fs::write(
        &path,
        format!("{base}routes:\n  - path: /*\n    csrf: exempt\n"),
    )
    .unwrap();
    let result = tokio::task::block_in_place(|| reloader.reload());
    assert!(
        !matches!(result, ReloadResult::Applied { .. }),
        "{result:?}"
    );
    let (_, h) = send(gw.addr, "GET", "/embed", &[]).await;
    assert_eq!(get(&h, "x-frame-options"), Some("SAMEORIGIN"));
}
