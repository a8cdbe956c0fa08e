//! Per-route policy: `routes:` read from a file (validation with the entry's line,
//! precedence, the refusals of production), then every override over HTTP through the
//! one security layer in front of axum, and the code builder's route layer inside and
//! outside the security layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hardened::Security;
use hardened::config::load::Loader;
use hardened::config::{Config, ConfigErrors};
use hardened::enforce::CspNonce;
use hardened::probe::RuntimeProbe;
use http::StatusCode;

use super::http::{Server, echo, outer, serve_router};

/// Loads `yaml` as `config.yaml` (no environment variables).
fn load(yaml: &str) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    Loader::new()
        .file(&path)
        .env(std::iter::empty::<(&str, &str)>())
        .load()
        .map(|l| l.config)
}

fn security(yaml: &str) -> Security {
    let cfg = load(yaml).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"));
    Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_or_else(|e| panic!("{e}"))
}

/// `(code, key, line)` of every problem of a file that must not load.
fn problems(yaml: &str) -> Vec<(String, String, u64)> {
    let errs = match load(yaml) {
        Ok(cfg) => match Security::from_config(&cfg, &RuntimeProbe::none()) {
            Ok(_) => panic!("loaded but should not:\n{yaml}"),
            Err(e) => e,
        },
        Err(e) => e,
    };
    errs.0
        .iter()
        .map(|p| {
            (
                p.kind().code().to_owned(),
                p.key().to_owned(),
                p.source().map_or(0, |s| s.line),
            )
        })
        .collect()
}

const BASE: &str = "environment: production\nsecurity_domains: [example.com, app.example.com]\nsecret_key: 9f2c1d7e4b8a6f03e5d9c2b7a1f4e8d6c3b9a2f7e1d5c8b4a6f9e2d7c1b3a5f8\n";

const ROUTES: &str = r#"csrf_exempt_paths: ["/legacy/*"]
health_check_paths: [/healthz]
headers:
  content_security_policy: "default-src 'self'"
routes:
  - path: /embed/*
    headers:
      frame_ancestors: [https://partner.example]
  - path: /admin/*
    headers:
      content_security_policy: "default-src 'self'; script-src 'nonce-{nonce}'"
  - path: /api/public/*
    cors:
      origins: ["*"]
      allow_methods: [GET]
  - path: /api/partner/*
    cors:
      origins: [https://partner.example]
      extend: true
  - path: /hooks/{id}
    methods: [POST]
    csrf: exempt
  - path: /legacy/strict
    csrf: enforce
  - path: /status
    host_check: skip_allowlist
    ssl_redirect: false
  - path: /report/*
    report_only: [csrf]
  - path: /files/*
    headers:
      cross_origin_resource_policy: cross-origin
      x_frame_options: null
"#;

fn router(security: &Security) -> Router {
    Router::new()
        .route("/", any(echo))
        .route("/embed/{*rest}", get(echo))
        .route("/admin/{*rest}", get(nonce_page))
        .route("/api/{*rest}", any(echo))
        .route("/hooks/{id}", post(echo).get(echo))
        .route("/legacy/{*rest}", post(echo))
        .route("/status", get(echo))
        .route("/report/{*rest}", post(echo))
        .route("/files/{*rest}", get(own_corp))
        .layer(security.layer())
        .layer(middleware::from_fn(outer))
}

/// A page that writes the request's nonce into its body.
async fn nonce_page(req: Request) -> Response {
    let nonce = req
        .extensions()
        .get::<CspNonce>()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    ([("x-reached", "1")], nonce).into_response()
}

/// A download whose own `Cross-Origin-Resource-Policy` must survive.
async fn own_corp(req: Request) -> Response {
    if req.uri().path().ends_with("own") {
        return (
            [
                ("cross-origin-resource-policy", "same-site"),
                ("x-reached", "1"),
            ],
            "own",
        )
            .into_response();
    }
    ([("x-reached", "1")], "file").into_response()
}

async fn serve_file_routes() -> Server {
    serve_router(router(&security(&format!("{BASE}{ROUTES}")))).await
}

const HOST: (&str, &str) = ("host", "example.com");
/// Requests count as https (a trusted proxy on loopback says so).
const TLS: (&str, &str) = ("x-forwarded-proto", "https");

#[test]
fn routes_are_typed_with_their_lines() {
    let cfg = load(&format!("{BASE}{ROUTES}")).unwrap();
    assert_eq!(cfg.routes.len(), 9);
    // `routes:` is on line 8 of the file; the first entry on line 9.
    assert_eq!(cfg.routes[0].source.as_ref().map(|s| s.line), Some(9));
    let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    // The global CSP has no `{nonce}`, the admin route's has: a nonce is needed.
    assert!(sec.clone().require_csp_nonce().is_ok());
    let p = &sec.policy().routes[0];
    let h = p.headers.as_ref().unwrap();
    assert_eq!(
        h.content_security_policy.as_deref(),
        Some("default-src 'self'; frame-ancestors https://partner.example")
    );
    assert_eq!(h.x_frame_options, None);
    // The public API: any origin, never with credentials.
    let cors = sec.policy().routes[2].cors.as_ref().unwrap();
    assert!(cors.any_origin && !cors.allow_credentials);
    // The partner API: the derived origins and the partner's.
    let cors = sec.policy().routes[3].cors.as_ref().unwrap();
    let origins: Vec<String> = cors.origins.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        origins,
        [
            "https://example.com",
            "https://app.example.com",
            "https://partner.example"
        ]
    );
}

#[test]
fn bad_routes_name_the_entry_and_line() {
    /// `(code, key, line)` of a problem.
    type Expected<'a> = &'a [(&'a str, &'a str, u64)];
    let cases: &[(&str, Expected<'_>)] = &[
        (
            "routes:\n  - path: embed\n",
            &[("invalid-path", "routes[0].path", 5)],
        ),
        (
            "routes:\n  - path: /a\n    framing: yes\n",
            &[("unknown-key", "routes[0].framing", 6)],
        ),
        (
            "routes:\n  - path: /a\n    csrf: off\n",
            &[("wrong-type", "routes[0].csrf", 6)],
        ),
        (
            "routes:\n  - path: /a\n    headers:\n      x_frame_options: ALLOWALL\n",
            &[(
                "invalid-header-value",
                "routes[0].headers.x_frame_options",
                7,
            )],
        ),
        (
            "routes:\n  - path: /a\n    headers:\n      frame_ancestors: [https://p.example]\n      x_frame_options: DENY\n",
            &[("route-conflict", "routes[0].headers", 5)],
        ),
        (
            "routes:\n  - path: /a\n    cors:\n      origins: ['*']\n      allow_credentials: true\n",
            &[("route-conflict", "routes[0].cors", 5)],
        ),
        (
            "routes:\n  - path: /a\n    cors:\n      origins: ['https://']\n",
            &[("invalid-domain", "routes[0].cors.origins[0]", 5)],
        ),
        (
            "routes:\n  - path: /hooks/{id}\n    csrf: exempt\n  - path: /hooks/{name}\n    csrf: enforce\n",
            &[("route-conflict", "routes[1].path", 7)],
        ),
        (
            "routes:\n  - path: /a\n    ssl_redirect: true\n",
            &[("wrong-type", "routes[0].ssl_redirect", 6)],
        ),
        (
            "routes:\n  - methods: [POST]\n",
            &[("missing-value", "routes[0]", 5)],
        ),
        ("routes: /a\n", &[("wrong-type", "routes", 4)]),
        // A catch-all may not weaken anything in production.
        (
            "routes:\n  - path: /*\n    csrf: exempt\n",
            &[("catch-all", "routes[0].csrf", 5)],
        ),
        (
            "routes:\n  - path: /{*rest}\n    headers:\n      frame_ancestors: ['*']\n",
            &[("catch-all", "routes[0].headers.frame_ancestors", 5)],
        ),
        (
            "routes:\n  - path: /{a}\n    ssl_redirect: false\n",
            &[("catch-all", "routes[0].ssl_redirect", 5)],
        ),
    ];
    for (routes, want) in cases {
        let yaml = format!("{BASE}{routes}");
        let got = problems(&yaml);
        let want: Vec<(String, String, u64)> = want
            .iter()
            .map(|(c, k, l)| ((*c).to_owned(), (*k).to_owned(), *l))
            .collect();
        assert_eq!(got, want, "{routes}");
    }
    // Same pattern, disjoint methods: no tie. A catch-all that only tightens: fine.
    security(&format!(
        "{BASE}routes:\n  - path: /hooks/{{id}}\n    methods: [POST]\n    csrf: exempt\n  - path: /hooks/{{name}}\n    methods: [GET]\n  - path: /*\n    csrf: enforce\n    headers:\n      content_security_policy: \"default-src 'self'\"\n"
    ));
    // The root alone, or one exact path, is no catch-all.
    security(&format!(
        "{BASE}routes:\n  - path: /\n    ssl_redirect: false\n  - path: /account/delete\n    csrf: exempt\n"
    ));
    // Development allows a catch-all weakening.
    let dev = "environment: development\nroutes:\n  - path: /*\n    csrf: exempt\n";
    security(dev);
}

#[test]
fn routes_set_in_code_are_validated_like_the_file() {
    use hardened::config::{RouteConfig, RouteCors};
    let mut cfg = Config::production(["example.com"]).unwrap();
    cfg.routes.push(RouteConfig::new("/*").csrf_exempt());
    cfg.routes
        .push(RouteConfig::new("/api/*").cors(RouteCors::origins(["*"]).allow_credentials(true)));
    cfg.routes.push(RouteConfig::new("api"));
    let errs = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_err();
    let got: Vec<(&str, &str)> = errs.0.iter().map(|p| (p.kind().code(), p.key())).collect();
    assert_eq!(
        got,
        [
            ("catch-all", "routes[0].csrf"),
            ("route-conflict", "routes[1].cors"),
            ("invalid-path", "routes[2].path"),
        ]
    );
}

#[tokio::test]
async fn frame_ancestors_and_header_overrides_per_route() {
    let s = serve_file_routes().await;
    // The embeddable route: framed by the partner, X-Frame-Options gone.
    let r = s.get("/embed/widget", &[HOST, TLS]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'; frame-ancestors https://partner.example")
    );
    assert_eq!(r.header("x-frame-options"), None);
    // Everywhere else: the global headers, no leak from the route.
    let r = s.get("/", &[HOST, TLS]).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // A route that weakens (here: framable by a partner) holds on the plain spelling of
    // its path only: another spelling, which an application routing the raw path may
    // hand to another handler, gets the global headers.
    for path in [
        "/%65mbed/widget",
        "/x/../embed/widget",
        "//embed//widget",
        "/embed;v=1/widget",
        "/embed%2fwidget",
    ] {
        let r = s.send("GET", path, &[HOST, TLS]).await;
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
    }
    // A route that only tightens (the admin's stricter CSP) cannot be skipped by any
    // spelling of its path.
    for path in [
        "/admin/page",
        "/%61dmin/page",
        "//admin/page",
        "/admin;x/page",
    ] {
        let r = s.send("GET", path, &[HOST, TLS]).await;
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(csp.contains("'nonce-"), "{path}: {csp}");
    }
    for path in ["/embedx", "/embed/../admin/x", "/embed%2f..%2fadmin/x"] {
        let r = s.send("GET", path, &[HOST, TLS]).await;
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
    }
    // A download: CORP cross-origin and no X-Frame-Options; the application's own
    // CORP is never overwritten.
    let r = s.get("/files/a.zip", &[HOST, TLS]).await;
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("cross-origin")
    );
    assert_eq!(r.header("x-frame-options"), None);
    let r = s.get("/files/own", &[HOST, TLS]).await;
    assert_eq!(r.header("cross-origin-resource-policy"), Some("same-site"));
}

#[tokio::test]
async fn csp_nonce_per_route() {
    let s = serve_file_routes().await;
    let a = s.get("/admin/page", &[HOST, TLS]).await;
    let b = s.get("/admin/page", &[HOST, TLS]).await;
    for r in [&a, &b] {
        assert_eq!(r.body.len(), 22, "the handler got the nonce: {r:?}");
        assert_eq!(
            r.header("content-security-policy").unwrap(),
            format!("default-src 'self'; script-src 'nonce-{}'", r.body)
        );
    }
    assert_ne!(a.body, b.body);
    // The global CSP has no nonce, and the handler gets none outside the route.
    let r = s.get("/", &[HOST, TLS]).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
}

#[tokio::test]
async fn cors_per_route_and_preflights_by_the_route_they_ask_about() {
    let s = serve_file_routes().await;
    let other = ("origin", "https://anyone.example");
    let partner = ("origin", "https://partner.example");
    // The public API: any origin, no credentials, Vary: origin.
    let r = s.get("/api/public/items", &[HOST, TLS, other]).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://anyone.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert!(
        r.all("vary")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("origin"))
    );
    // A preflight is judged by the route of the path it asks about.
    let acrm = ("access-control-request-method", "GET");
    let r = s
        .send("OPTIONS", "/api/public/items", &[HOST, TLS, other, acrm])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.reached());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://anyone.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
    // Elsewhere the origin gets nothing, with Vary: origin all the same.
    let r = s.get("/api/private", &[HOST, TLS, other]).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert!(
        r.all("vary")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("origin"))
    );
    let r = s
        .send("OPTIONS", "/api/private", &[HOST, TLS, other, acrm])
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    // The partner API extends the derived list: the partner and the app.
    for origin in ["https://partner.example", "https://app.example.com"] {
        let r = s
            .get("/api/partner/x", &[HOST, TLS, ("origin", origin)])
            .await;
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    }
    let r = s.get("/api/private", &[HOST, TLS, partner]).await;
    assert_eq!(r.header("access-control-allow-origin"), None);

    // A route for some methods opens CORS for those methods only, so a cached
    // preflight answer never covers the others.
    let yaml = format!(
        "{BASE}routes:\n  - path: /api/read/*\n    methods: [GET]\n    cors:\n      origins: [https://partner.example]\n"
    );
    let s = serve_router(router(&security(&yaml))).await;
    let r = s
        .send("OPTIONS", "/api/read/x", &[HOST, TLS, partner, acrm])
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://partner.example")
    );
    let methods = r.header("access-control-allow-methods").unwrap_or("");
    assert!(
        methods.contains("GET") && !methods.contains("DELETE"),
        "{methods}"
    );
}

/// Every CORS key of a route, over HTTP: origins replaced, credentials off, the
/// preflight's methods, headers and max-age, the exposed headers.
#[tokio::test]
async fn every_cors_key_per_route() {
    let yaml = format!(
        "{BASE}routes:\n  - path: /api/partner/*\n    cors:\n      origins: [https://partner.example]\n      allow_credentials: false\n      allow_methods: [GET, PUT]\n      allow_headers: [x-partner-key]\n      expose_headers: [x-total]\n      max_age: 600\n"
    );
    let s = serve_router(router(&security(&yaml))).await;
    let partner = ("origin", "https://partner.example");
    let acrm = ("access-control-request-method", "PUT");
    let r = s
        .send("OPTIONS", "/api/partner/x", &[HOST, TLS, partner, acrm])
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://partner.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-partner-key")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = s.get("/api/partner/x", &[HOST, TLS, partner]).await;
    assert!(r.reached());
    assert_eq!(r.header("access-control-expose-headers"), Some("x-total"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    // The derived origins are replaced on the route, and kept elsewhere.
    let app = ("origin", "https://app.example.com");
    let r = s.get("/api/partner/x", &[HOST, TLS, app]).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = s.get("/api/other", &[HOST, TLS, app]).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = s.get("/api/other", &[HOST, TLS, partner]).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn request_checks_per_route() {
    let s = serve_file_routes().await;
    let evil = ("origin", "https://evil.example");
    // The webhook: CSRF exempt for POST.
    let r = s.post("/hooks/42", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.reached());
    // A dot segment is no spelling a browser sends: the route's exemption does not
    // hold on it (as no exemption list matches it).
    let r = s.post("/hooks/./42", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // A spelling some server downstream reads as another path keeps the route's
    // headers but not its exemption: another handler must not inherit it.
    for ambiguous in [
        "/files/a%2f..%2f..%2fhooks%2f1",
        "/files/a%5c..%5chooks%5c1",
        "/hooks;/delete",
        "/hooks/1;x",
        "/api/../hooks/1",
    ] {
        let r = s.post(ambiguous, &[HOST, TLS, evil]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{ambiguous}: {r:?}");
    }
    // Another method of the same path is not the route's.
    let r = s.send("PUT", "/hooks/42", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Elsewhere the check stands.
    let r = s.post("/api/private", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // `csrf: enforce` wins over the shorthand `csrf_exempt_paths`.
    let r = s.post("/legacy/old", &[HOST, TLS, evil]).await;
    assert!(r.reached());
    let r = s.post("/legacy/strict", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // report_only: the request goes through (it is logged).
    let r = s.post("/report/x", &[HOST, TLS, evil]).await;
    assert!(r.reached());
    // host_check: skip_allowlist: a foreign Host is served, a malformed one is not.
    let r = s.get("/status", &[("host", "10.0.0.7:8000")]).await;
    assert!(r.reached(), "{r:?}");
    let r = s.get("/status", &[("host", "bad host")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s.get("/", &[("host", "10.0.0.7:8000")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ssl_redirect_off_per_route() {
    let yaml =
        format!("{BASE}ssl_redirect: true\nroutes:\n  - path: /status\n    ssl_redirect: false\n");
    let s = serve_router(router(&security(&yaml))).await;
    let r = s.get("/status", &[HOST]).await;
    assert!(r.reached(), "{r:?}");
    let r = s.get("/", &[HOST]).await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
}

/// A catch-all route may weaken nothing in production, however the value is spelt:
/// browsers read CSP keywords and policy values case-insensitively, and a route's CSP
/// replaces the global one.
#[test]
fn catch_all_weakenings_are_refused_in_any_spelling() {
    for headers in [
        "content_security_policy: \"default-src 'self'; script-src 'UNSAFE-INLINE'\"",
        "content_security_policy: \"frame-ancestors 'none'\"",
        "content_security_policy: \"default-src https:\"",
        "permissions_policy: \"camera=*\"",
        "referrer_policy: UNSAFE-URL",
        "x_frame_options: sameorigin",
    ] {
        let found = problems(&format!(
            "{BASE}routes:\n  - path: /{{*rest}}\n    headers:\n      {headers}\n"
        ));
        assert!(
            found.iter().any(|(_, key, _)| key.starts_with("routes[0]")),
            "{headers}: {found:?}"
        );
    }
    for wide in ["https://*", "*.com", "https:", "*", "https://*:443"] {
        let found = problems(&format!(
            "{BASE}routes:\n  - path: /{{*rest}}\n    headers:\n      frame_ancestors: [\"{wide}\"]\n"
        ));
        assert!(!found.is_empty(), "{wide}");
    }
}

/// `cross_site: allow`: Fetch Metadata's resource isolation is off on the route (a
/// public API, an embeddable resource), and only there; a catch-all may not turn it
/// off in production.
#[tokio::test]
async fn cross_site_allowed_per_route() {
    let yaml = format!(
        "{BASE}fetch_metadata: enforce\nroutes:\n  - path: /api/public/*\n    cross_site: allow\n  \
         - path: /api/public/private\n    cross_site: enforce\n"
    );
    let s = serve_router(router(&security(&yaml))).await;
    let cross = [
        HOST,
        TLS,
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-dest", "image"),
    ];
    let r = s.get("/api/public/logo", &cross).await;
    assert!(r.reached(), "{r:?}");
    // Another spelling of the path (an encoded letter, a dot segment) keeps the check.
    for path in [
        "/x/../api/public/logo",
        "/api/%70ublic/logo",
        "/api//public/logo",
    ] {
        let r = s.get(path, &cross).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {r:?}");
    }
    // A more specific route takes it back; elsewhere the check stands.
    let r = s.get("/api/public/private", &cross).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = s.get("/api/account", &cross).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // CSRF still applies on the allowed route.
    let r = s
        .post(
            "/api/public/form",
            &[HOST, TLS, ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");

    let found = problems(&format!(
        "{BASE}routes:\n  - path: /{{*rest}}\n    cross_site: allow\n"
    ));
    assert!(
        found
            .iter()
            .any(|(_, key, line)| key.starts_with("routes[0]") && *line > 0),
        "{found:?}"
    );
    let found = problems(&format!(
        "{BASE}routes:\n  - path: /a\n    cross_site: sometimes\n"
    ));
    assert!(
        found
            .iter()
            .any(|(_, key, _)| key == "routes[0].cross_site"),
        "{found:?}"
    );
}

/// The code builder: `route_layer` runs inside the security layer (after routing).
#[tokio::test]
async fn route_layer_inside_the_security_layer() {
    use hardened::config::RouteCors;
    let mut cfg = Config::production(["example.com"]).unwrap();
    cfg.csrf_exempt_paths = vec!["/strict-hook".into(), "/loose-hook".into()];
    let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    let embed = Router::new().route("/embed", get(echo)).route_layer(
        sec.route()
            .frame_ancestors(["https://partner.example"])
            .layer()
            .unwrap(),
    );
    let api = Router::new()
        .route("/public", get(echo))
        .route_layer(sec.route().cors(RouteCors::any_origin()).layer().unwrap());
    let hooks = Router::new()
        .route("/strict-hook", post(echo))
        .route_layer(sec.route().csrf_enforce().layer().unwrap())
        .route("/loose-hook", post(echo));
    let app = Router::new()
        .route("/", get(echo))
        .merge(embed)
        .merge(api)
        .merge(hooks)
        .layer(sec.layer())
        .layer(middleware::from_fn(outer));
    let s = serve_router(app).await;
    let r = s.get("/embed", &[HOST, TLS]).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors https://partner.example")
    );
    assert_eq!(r.header("x-frame-options"), None);
    let r = s.get("/", &[HOST, TLS]).await;
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("content-security-policy"), None);
    let other = ("origin", "https://anyone.example");
    let r = s.get("/public", &[HOST, TLS, other]).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://anyone.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = s.get("/", &[HOST, TLS, other]).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    // `csrf_exempt_paths` exempts both hooks; the route's `csrf_enforce` judges its
    // request again.
    let evil = ("origin", "https://evil.example");
    let r = s.post("/strict-hook", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert!(!r.reached());
    assert!(s.post("/loose-hook", &[HOST, TLS, evil]).await.reached());
}

/// The route layer applied outside the security layer: its mark is there when the
/// policy decides, so request checks are relaxed too.
#[tokio::test]
async fn route_layer_outside_the_security_layer() {
    let cfg = Config::production(["example.com"]).unwrap();
    let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    let hook = Router::new()
        .route("/hook", post(echo))
        .layer(sec.layer())
        .layer(
            sec.route()
                .csrf_exempt()
                .xframe_options_exempt()
                .layer()
                .unwrap(),
        )
        .layer(middleware::from_fn(outer));
    let plain = Router::new()
        .route("/other", post(echo))
        .layer(sec.layer())
        .layer(middleware::from_fn(outer));
    let s = serve_router(hook.merge(plain)).await;
    let evil = ("origin", "https://evil.example");
    let r = s.post("/hook", &[HOST, TLS, evil]).await;
    assert!(r.reached(), "{r:?}");
    assert_eq!(r.header("x-frame-options"), None);
    let r = s.post("/other", &[HOST, TLS, evil]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A route open to any origin does not open WebSocket handshakes to any origin: they
/// carry the visitor's cookies.
#[test]
fn any_origin_routes_keep_the_handshake_origin_check() {
    let sec = security(&format!(
        "{BASE}routes:\n  - path: /api/public/*\n    cors:\n      origins: [\"*\"]\n"
    ));
    let handshake = |origin: &str| {
        http::Request::get("/api/public/ws")
            .header("host", "example.com")
            .header("origin", origin)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let d = sec.decide(&handshake("https://anyone.example"));
    assert_eq!(
        d.rejection().map(|r| r.code()),
        Some("websocket-bad-origin"),
        "{d:?}"
    );
    assert!(sec.decide(&handshake("https://app.example.com")).is_pass());
    // A plain GET of the same route is readable by that origin.
    let (get, ()) = http::Request::get("/api/public/x")
        .header("host", "example.com")
        .header("origin", "https://anyone.example")
        .body(())
        .unwrap()
        .into_parts();
    assert!(sec.decide(&get).facts().cors_origin().is_some());
}

/// A route for GET is its HEAD requests' too; other methods are not its.
#[test]
fn a_get_route_covers_head() {
    use hardened::config::RouteConfig;
    let mut cfg = Config::production(["example.com"]).unwrap();
    cfg.routes.push(
        RouteConfig::new("/page")
            .methods(["GET"])
            .xframe_options_exempt(),
    );
    let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    for (method, routed) in [("GET", true), ("HEAD", true), ("POST", false)] {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri("/page")
            .header("host", "example.com")
            .body(())
            .unwrap()
            .into_parts();
        let d = sec.decide(&parts);
        assert_eq!(d.facts().route().is_some(), routed, "{method}");
    }
}

#[test]
fn route_layers_are_validated_like_the_file() {
    let cfg = Config::production(["example.com"]).unwrap();
    let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    let errs = sec
        .route()
        .frame_ancestors(["https://a.example; script-src *"])
        .layer()
        .unwrap_err();
    assert_eq!(errs.0[0].kind().code(), "invalid-header-value");
    assert_eq!(errs.0[0].key(), "route.headers.frame_ancestors[0]");
}

mod properties {
    use hardened::enforce::RoutePattern;
    use proptest::prelude::*;

    /// Path text of the characters that change what a path means to a matcher.
    fn path() -> impl Strategy<Value = String> {
        "/[a-c./;%25fF2eE\\\\]{0,24}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Matching never panics; `/*` matches every path; a path and the same path
        /// behind a resolved `x/..` prefix match the same patterns.
        #[test]
        fn spellings_reach_the_same_routes(p in path()) {
            let patterns = ["/*", "/a/*", "/a/{x}", "/a*", "/b", "/", "/a/b/c"]
                .map(|s| RoutePattern::parse(s).unwrap());
            let detour = format!("/x/..{p}");
            for pat in &patterns {
                prop_assert!(pat.as_str() != "/*" || pat.matches(&p), "{p:?}");
                prop_assert_eq!(pat.matches(&p), pat.matches(&detour), "{:?} on {:?}", pat, p);
            }
        }
    }
}
