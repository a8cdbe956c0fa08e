//! # example-axum-app
//!
//! A small axum 0.8 service whose whole web-security policy — allowed hosts, CORS, CSRF,
//! TLS/HSTS behind a reverse proxy, cookie flags and security headers — comes from one
//! `security_domains` list in [`config.yaml`](../config.yaml), enforced by
//! `hardened::Security::layer()`.
//!
//! ## Run it
//!
//! ```text
//! cargo run -p example-axum-app                       # development, 127.0.0.1:8001
//!
//! curl -i http://localhost:8001/                                         # 200
//! curl -i -H 'Host: evil.com' http://localhost:8001/                     # 400: host not allowed
//! curl -i -X POST -H 'Origin: https://evil.com' -H 'Content-Type: application/json' \
//!      -d '{"text":"hi"}' http://localhost:8001/api/notes                # 403: CSRF
//! curl -i -X POST -H 'Origin: http://localhost:3000' -H 'Content-Type: application/json' \
//!      -d '{"text":"hi"}' http://localhost:8001/api/notes                # 201: a dev front end
//! curl -i -X POST -H 'Origin: https://evil.com' \
//!      http://localhost:8001/webhooks/stripe                             # 200: a route, csrf: exempt
//! curl -i -H 'Origin: https://anyone.example' \
//!      http://localhost:8001/api/public/status       # Access-Control-Allow-Origin: any origin
//! curl -i http://localhost:8001/embed/widget     # frame-ancestors https://partner.example
//! curl -i -H 'Host: 10.0.0.7' http://localhost:8001/healthz              # 200: health_check_paths
//! curl -i -X POST http://localhost:8001/login                            # Set-Cookie: sessionid=...
//! curl -i http://localhost:8001/page             # CSP nonce-…, and <script nonce="…"> in the page
//!
//! ENVIRONMENT=production cargo run -p example-axum-app    # strict: only the listed domains
//! curl -i -X POST -H 'Host: example.com' -H 'X-Forwarded-Proto: https' \
//!      -H 'Origin: https://example.com' http://localhost:8001/login
//! #   Set-Cookie: sessionid=...; Path=/; Secure; HttpOnly; SameSite=Lax
//! #   Strict-Transport-Security: max-age=31536000; includeSubDomains; preload
//! ```
//!
//! `HARDENED_CONFIG=path` reads another config file; `LISTEN=addr` changes the address.
//! `.env` beside the config file and the process environment (`ENVIRONMENT`,
//! `SECURITY_DOMAINS`, `DOCKER`, ...) override the file, as everywhere in `hardened`.
//!
//! ## What to copy
//!
//! - Load once at startup with [`Security::load_from`] (or [`Security::load`] for
//!   `./config.yaml`): a bad or unsafe config is an error before the port opens.
//! - Put the layer around the whole router (`ServiceBuilder` with `security.layer()`
//!   and `.service(router)`), not inside it with `Router::layer`: axum adds `Allow` to
//!   every response of a route's method fallback, so a `403` for `POST /` would carry
//!   `allow: GET,HEAD`. Around the router, every route and the fallback are covered and
//!   the rejection is the layer's alone.
//! - Initialise a `tracing` subscriber: every rejection is logged there with its reason
//!   and fix, and nowhere else.
//! - Serve with `into_make_service_with_connect_info::<SocketAddr>()` and the `axum`
//!   feature of `hardened`: forwarded headers are then believed only from trusted proxies.
//! - Per-route policy: the webhook (`csrf: exempt` for POST) and the public API (CORS
//!   for any origin, without credentials) are `routes:` of config.yaml; the embeddable
//!   widget gets its `frame-ancestors` in code, from `security.route()` as axum's
//!   `route_layer`: it marks the response, and the security layer around the router
//!   sets the route's headers.
//! - A page with inline scripts takes the per-response nonce with the `CspNonce`
//!   extractor (`{nonce}` in `headers.content_security_policy`), and `main` calls
//!   `Security::require_csp_nonce` so a config without `{nonce}` fails at start-up
//!   instead of answering `500` on the page.
#![allow(clippy::print_stdout, reason = "the example says where it listens")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::ServiceExt as _;
use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::http::{StatusCode, header};
use axum::response::Html;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hardened::Security;
use hardened::config::ConfigErrors;
use hardened::enforce::CspNonce;
use serde_json::{Value, json};

/// The config file: `$HARDENED_CONFIG`, else the `config.yaml` beside this example.
fn config_path() -> PathBuf {
    std::env::var_os("HARDENED_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")))
}

/// The origin that may frame the widget.
const PARTNER: &str = "https://partner.example";

/// The application: its routes, and the security layer around the whole router (its
/// responses turned back into axum's, which `axum::serve` takes). Fails when a route
/// layer's overrides are invalid, as a `routes:` entry of the file would.
fn app(
    security: &Security,
) -> Result<
    impl tower::Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static,
    ConfigErrors,
> {
    // The embeddable widget: framable by the partner (CSP frame-ancestors), in code.
    let embed = Router::new()
        .route("/embed/{widget}", get(widget))
        .route_layer(security.route().frame_ancestors([PARTNER]).layer()?);
    let router = Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/page", get(page))
        .route("/login", post(login))
        .route("/api/notes", post(create_note))
        .route("/api/public/status", get(public_status))
        .route("/webhooks/{provider}", post(webhook))
        .merge(embed);
    Ok(tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(security.layer())
        .service(router))
}

async fn index() -> Json<Value> {
    Json(json!({
        "hello": "this request passed the host check",
        "routes": ["POST /login", "POST /api/notes", "POST /webhooks/{provider}", "GET /healthz"],
    }))
}

/// An HTML page whose inline script runs under a strict CSP: it carries the nonce the
/// layer drew for this response, the one in the `Content-Security-Policy` header. An
/// injected `<script>` without it does not run.
async fn page(nonce: CspNonce) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<title>hardened</title>\n<p id=\"out\">no script ran</p>\n\
         <script nonce=\"{nonce}\">document.getElementById('out').textContent = 'the nonced script ran';</script>\n"
    ))
}

/// Signs the user in. The handler writes a plain cookie; in production the layer adds
/// `Secure`, and `HttpOnly; SameSite=Lax` to the session cookie.
async fn login() -> impl IntoResponse {
    // A real application issues a random session id and stores the session.
    (
        [(header::SET_COOKIE, "sessionid=example-session; Path=/")],
        Json(json!({"signed_in": true})),
    )
}

/// A state-changing API call: protected by the CSRF origin check.
async fn create_note(Json(note): Json<Value>) -> impl IntoResponse {
    (StatusCode::CREATED, Json(json!({"created": note})))
}

/// The embeddable widget: a page the partner's site puts in an iframe.
async fn widget(Path(widget): Path<String>) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<title>widget</title>\n<p>widget {}</p>\n",
        widget.replace(['<', '>', '&', '"'], "")
    ))
}

/// Public, read-only data: any origin may read it (the `/api/public/*` route).
async fn public_status() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// A server-to-server callback: exempt from CSRF by its route in config.yaml (POST
/// only, still host-checked). Verify the provider's signature here.
async fn webhook(Path(provider): Path<String>) -> Json<Value> {
    Json(json!({"received": provider}))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Rejections are logged through `tracing` (WARN, with the reason and the fix).
    tracing_subscriber::fmt::init();
    let path = config_path();
    // The page's handler reads the CSP nonce: a policy without `{nonce}` is refused here.
    let security = match Security::load_from(&path).and_then(Security::require_csp_nonce) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}:\n{e}", path.display());
            return ExitCode::from(2);
        }
    };
    let app = match app(&security) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("route layers:\n{e}");
            return ExitCode::from(2);
        }
    };
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8001".to_owned());
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let local = listener.local_addr().map_or(listen, |a| a.to_string());
    println!(
        "example-axum-app: listening on http://{local} ({})",
        security.policy().environment
    );
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hardened::config::load::Loader;
    use hardened::probe::RuntimeProbe;
    use tower::ServiceExt;

    use super::*;

    /// This example's config.yaml with the given environment (never the real one), on a
    /// plain host.
    fn security(env: &[(&str, &str)]) -> Security {
        let loaded = Loader::new()
            .file(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml"))
            .env(env.iter().copied())
            .load()
            .unwrap_or_else(|e| panic!("{e}"));
        Security::from_config(&loaded.config, &RuntimeProbe::none()).unwrap()
    }

    async fn call(
        security: &Security,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> axum::response::Response {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = if method == "POST" {
            b = b.header("content-type", "application/json");
            Body::from(r#"{"text":"hi"}"#)
        } else {
            Body::empty()
        };
        app(security)
            .unwrap()
            .oneshot(b.body(body).unwrap())
            .await
            .unwrap()
    }

    fn cookies(resp: &axum::response::Response) -> Vec<&str> {
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn development() {
        let s = security(&[]);
        let local = [("host", "localhost:8000")];
        assert_eq!(call(&s, "GET", "/", &local).await.status(), 200);
        assert_eq!(
            call(&s, "GET", "/", &[("host", "evil.com")]).await.status(),
            400
        );
        let evil = [("host", "localhost:8000"), ("origin", "https://evil.com")];
        assert_eq!(call(&s, "POST", "/api/notes", &evil).await.status(), 403);
        // A rejection on a route without that method is the layer's alone: no `Allow`
        // from axum's method fallback.
        let r = call(&s, "POST", "/", &evil).await;
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("allow").is_none(), "{:?}", r.headers());
        let dev_frontend = [
            ("host", "localhost:8000"),
            ("origin", "http://localhost:3000"),
        ];
        let r = call(&s, "POST", "/api/notes", &dev_frontend).await;
        assert_eq!(r.status(), 201);
        assert_eq!(
            r.headers().get("access-control-allow-origin").unwrap(),
            "http://localhost:3000"
        );
        // Exempt by config: a cross-site POST reaches the webhook.
        assert_eq!(
            call(&s, "POST", "/webhooks/stripe", &evil).await.status(),
            200
        );
        assert_eq!(
            call(&s, "POST", "/webhooks/stripe", &[("host", "evil.com")])
                .await
                .status(),
            400
        );
        assert_eq!(
            call(&s, "GET", "/healthz", &[("host", "10.0.0.7")])
                .await
                .status(),
            200
        );
        let r = call(&s, "POST", "/login", &local).await;
        assert_eq!(r.status(), 200);
        assert_eq!(cookies(&r), ["sessionid=example-session; Path=/"]);
        // The page's script carries the nonce of this response's CSP.
        let r = call(&s, "GET", "/page", &local).await;
        assert_eq!(r.status(), 200);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let nonce = body
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp} / {body}");
        assert!(s.clone().require_csp_nonce().is_ok());
    }

    #[tokio::test]
    async fn production() {
        let s = security(&[("ENVIRONMENT", "production")]);
        assert_eq!(
            call(&s, "GET", "/", &[("host", "localhost")])
                .await
                .status(),
            400
        );
        let site = [
            ("host", "example.com"),
            ("origin", "https://app.example.com"),
        ];
        assert_eq!(call(&s, "POST", "/api/notes", &site).await.status(), 201);
        let dev_frontend = [("host", "example.com"), ("origin", "http://localhost:3000")];
        assert_eq!(
            call(&s, "POST", "/api/notes", &dev_frontend).await.status(),
            403
        );
        let r = call(&s, "POST", "/login", &site).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            cookies(&r),
            ["sessionid=example-session; Path=/; Secure; HttpOnly; SameSite=Lax"]
        );
        assert_eq!(r.headers().get("x-frame-options").unwrap(), "DENY");
    }

    /// The three routes: the webhook (file), the public API (file), the embeddable
    /// widget (route layer in code).
    #[tokio::test]
    async fn routes() {
        let s = security(&[("ENVIRONMENT", "production")]);
        let evil = [("host", "example.com"), ("origin", "https://evil.com")];
        assert_eq!(
            call(&s, "POST", "/webhooks/stripe", &evil).await.status(),
            200
        );
        assert_eq!(call(&s, "POST", "/api/notes", &evil).await.status(), 403);
        let anyone = [
            ("host", "example.com"),
            ("origin", "https://anyone.example"),
        ];
        let r = call(&s, "GET", "/api/public/status", &anyone).await;
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://anyone.example"
        );
        assert!(
            r.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        let r = call(&s, "GET", "/", &anyone).await;
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let host = [("host", "example.com")];
        let r = call(&s, "GET", "/embed/w1", &host).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-frame-options").is_none());
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.ends_with(&format!("frame-ancestors {PARTNER}")) && !csp.contains("{nonce}"),
            "{csp}"
        );
        let r = call(&s, "GET", "/page", &host).await;
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}
