//! gRPC answers: a rejected gRPC request gets a trailers-only response (HTTP 200 with
//! `grpc-status` and `grpc-message` in the headers) so clients see the reason.

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use super::decision::{Check, Rejection};

/// Turns a rejection response into a trailers-only gRPC response: status 200,
/// `grpc-status` 3 (`INVALID_ARGUMENT`) for host problems and 7
/// (`PERMISSION_DENIED`) for CSRF, the reason as `grpc-message`. The body must then
/// be empty.
pub(crate) fn trailers_only(status: &mut StatusCode, headers: &mut HeaderMap, r: &Rejection) {
    *status = StatusCode::OK;
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let code = match r.check() {
        Check::Csrf | Check::Websocket | Check::FetchMetadata => "7",
        _ => "3",
    };
    headers.insert("grpc-status", HeaderValue::from_static(code));
    if let Ok(msg) = HeaderValue::from_str(&percent_encode(&r.reason())) {
        headers.insert("grpc-message", msg);
    }
}

/// Percent-encodes a `grpc-message` (gRPC spec: printable ASCII except `%` as is).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{request, security};
    use super::percent_encode;
    use crate::config::Config;

    #[test]
    fn percent_encode_table() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("100%", "100%25"),
            ("caf\u{e9}", "caf%C3%A9"),
            ("a\nb", "a%0Ab"),
        ];
        for (input, expected) in cases {
            assert_eq!(percent_encode(input), *expected);
        }
    }

    #[test]
    fn grpc_rejections_table() {
        let sec = security(Config::production(["example.com"]));
        // (Host, Origin, grpc-status)
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("evil.com", None, "3"),
            ("example.com", Some("https://evil.com"), "7"),
        ];
        for (host, origin, status) in cases {
            let mut headers = vec![("host", *host), ("content-type", "application/grpc")];
            if let Some(o) = origin {
                headers.push(("origin", o));
            }
            let d = sec.decide(&request("POST", "/pkg.Svc/Call", &headers));
            assert!(d.facts().is_grpc());
            let resp = sec
                .respond::<bytes::Bytes>(d)
                .unwrap_or_else(|| panic!("{host}: passed"));
            assert_eq!(resp.status(), http::StatusCode::OK);
            assert_eq!(
                resp.headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()),
                Some(*status)
            );
            assert!(resp.body().is_empty());
        }
    }
}
