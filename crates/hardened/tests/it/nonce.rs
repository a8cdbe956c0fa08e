//! The CSP nonce in an axum handler: the `CspNonce` extractor gets the nonce the header
//! carries; without `{nonce}` in the CSP, `Security::require_csp_nonce` refuses at
//! start-up, the extractor's rejection names the fix, and `Option<CspNonce>` is `None`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use axum::Router;
use axum::body::Body;
use axum::response::Html;
use axum::routing::get;
use hardened::Security;
use hardened::config::{Config, HeaderOverride};
use hardened::enforce::CspNonce;
use hardened::probe::RuntimeProbe;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A page whose inline script carries the nonce, as a template renders it.
async fn page(nonce: CspNonce) -> Html<String> {
    Html(format!(
        "<script nonce=\"{nonce}\">document.title = 'ok'</script>"
    ))
}

/// The same page, rendered with or without a nonce.
async fn maybe(nonce: Option<CspNonce>) -> String {
    nonce.map_or_else(|| "no nonce".to_owned(), |n| n.to_string())
}

fn security(csp: Option<&str>) -> Security {
    let mut cfg = Config::development();
    if let Some(csp) = csp {
        cfg.headers.content_security_policy = HeaderOverride::Set(csp.into());
    }
    Security::from_config(&cfg, &RuntimeProbe::none()).unwrap()
}

fn app(sec: &Security) -> Router {
    Router::new()
        .route("/page", get(page))
        .route("/maybe", get(maybe))
        .layer(sec.layer())
}

async fn get_page(app: &Router, path: &str) -> (StatusCode, Option<String>, String) {
    let req = Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, csp, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_extractor_gets_the_headers_nonce() {
    let sec = security(Some(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'",
    ))
    .require_csp_nonce()
    .unwrap();
    let app = app(&sec);
    let (status, csp, body) = get_page(&app, "/page").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let csp = csp.unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap();
    assert_eq!(nonce.len(), 22);
    assert!(
        body.contains(&format!("nonce=\"{nonce}\"")),
        "{body} / {csp}"
    );
    let (_, _, maybe) = get_page(&app, "/maybe").await;
    assert_eq!(maybe.len(), 22, "{maybe}");
}

#[tokio::test]
async fn without_nonce_in_the_csp_the_failure_is_explicit() {
    let sec = security(Some("default-src 'self'"));
    let err = sec.clone().require_csp_nonce().unwrap_err().to_string();
    assert!(err.contains("headers.content_security_policy"), "{err}");
    assert!(err.contains("'nonce-{nonce}'"), "{err}");
    // Development sends no CSP by default: the same refusal.
    assert!(security(None).require_csp_nonce().is_err());

    let app = app(&sec);
    let (status, _, body) = get_page(&app, "/page").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("{nonce}") && body.contains("require_csp_nonce"),
        "{body}"
    );
    let (status, _, body) = get_page(&app, "/maybe").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "no nonce"));
}
