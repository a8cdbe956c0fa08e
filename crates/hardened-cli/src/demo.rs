//! The built-in demo app of `hardened serve`: it
//! echoes what reached it, so every rule can be seen with curl.

use std::convert::Infallible;

use bytes::Bytes;
use hardened::Security;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;

/// Answers one request.
pub(crate) fn respond<B>(security: &Security, req: Request<B>) -> Response<Full<Bytes>> {
    let (parts, _body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let path = parts.uri.path();
    let body = serde_json::json!({
        "ok": true,
        "message": "this request passed every check and reached the app",
        "method": parts.method.as_str(),
        "host": host,
        "path": path,
        "query": parts.uri.query(),
        "origin": origin,
        "secure": security.is_secure(&parts),
        "peer": hardened::peer_ip(&parts).map(|p| p.to_string()),
        "environment": security.policy().environment.as_str(),
        "try": [
            "curl -i -H 'Host: evil.com' http://HOST/             # 400: host not allowed",
            "curl -i -X POST -H 'Origin: https://evil.com' http://HOST/   # 403: CSRF",
            "curl -i -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: POST' http://HOST/   # preflight",
            "curl -i http://HOST/login   # session cookie"
        ],
    });
    let mut text = serde_json::to_string_pretty(&body).unwrap_or_default();
    text.push('\n');
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if path == "/login" {
        h.append(
            header::SET_COOKIE,
            http::HeaderValue::from_static("sessionid=demo-session; Path=/"),
        );
        h.append(
            header::SET_COOKIE,
            http::HeaderValue::from_static("csrftoken=demo-token; Path=/"),
        );
    }
    resp
}

/// What the demo app answers with.
type DemoResult = Result<Response<Full<Bytes>>, Infallible>;

/// The demo app, with the violation report collector at its path when the policy has a
/// `reports:` section (as the gateway answers it in front of an upstream).
pub(crate) fn with_reports(
    security: Security,
    reports: Option<hardened::reports::ReportsService>,
) -> impl tower::Service<
    Request<hyper::body::Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = std::pin::Pin<Box<dyn std::future::Future<Output = DemoResult> + Send>>,
> + Clone {
    use tower::ServiceExt as _;
    tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let reports = reports
            .clone()
            .filter(|r| req.uri().path() == r.settings().path);
        let security = security.clone();
        Box::pin(async move {
            match reports {
                Some(svc) => {
                    let resp = svc.oneshot(req).await?;
                    Ok(resp.map(|text| Full::new(Bytes::from(text))))
                }
                None => Ok(respond(&security, req)),
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = DemoResult> + Send>>
    })
}
