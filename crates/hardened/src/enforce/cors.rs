//! CORS with django-cors-headers' semantics: the allowed `Origin` is echoed, a preflight
//! is an `OPTIONS` with `Access-Control-Request-Method`, and `Vary: origin` is appended
//! to every response.

use http::header::{self, HeaderMap, HeaderValue};

use super::decision::Facts;
use super::matcher::OriginMatcher;
use super::request::RequestHead;

/// The compiled CORS rules.
#[derive(Debug)]
pub(crate) struct CorsCheck {
    pub(crate) matcher: OriginMatcher,
    pub(crate) allow_credentials: bool,
    pub(crate) allow_headers: HeaderValue,
    pub(crate) allow_methods: HeaderValue,
    pub(crate) max_age: Option<HeaderValue>,
    /// `Access-Control-Expose-Headers`, when configured.
    pub(crate) expose_headers: Option<HeaderValue>,
}

impl CorsCheck {
    /// The request's `Origin` when it is allowed (and the only one).
    pub(crate) fn allowed_origin(&self, head: &RequestHead<'_>) -> Option<HeaderValue> {
        head.origin()
            .filter(|v| v.to_str().is_ok_and(|s| self.matcher.allows(s)))
            .cloned()
    }

    /// `Vary: origin`, and the CORS headers of an allowed origin.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, facts: &Facts) {
        add_vary_origin(headers);
        if let Some(origin) = &facts.cors_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if self.allow_credentials {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(expose) = &self.expose_headers {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
            if facts.options {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    self.allow_headers.clone(),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    self.allow_methods.clone(),
                );
                if let Some(age) = &self.max_age {
                    headers.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
                }
            }
        }
    }
}

/// Appends `origin` to `Vary` unless it is there (or `Vary: *`), like Django's
/// `patch_vary_headers`.
fn add_vary_origin(headers: &mut HeaderMap) {
    let mut present = false;
    for v in headers.get_all(header::VARY) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let t = token.trim_ascii();
            if t == b"*" || t.eq_ignore_ascii_case(b"origin") {
                present = true;
            }
        }
    }
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderMap, HeaderValue, VARY};

    use super::super::testing::{Expect, Headers, expect, request, security};
    use super::add_vary_origin;
    use crate::config::Config;

    #[test]
    fn cors_table() {
        let sec = security(Config::production(["example.com", "app.example.com"]));
        use Expect::{Pass, PassCors, Preflight, Reject};
        let host = ("host", "example.com");
        let acrm = ("access-control-request-method", "PUT");
        let cases: &[(&str, Headers<'_>, Expect)] = &[
            // allowed: echoed, whatever the case and default port
            (
                "GET",
                &[host, ("origin", "https://app.example.com")],
                PassCors("https://app.example.com"),
            ),
            (
                "GET",
                &[host, ("origin", "https://APP.example.com:443")],
                PassCors("https://APP.example.com:443"),
            ),
            // disallowed: no CORS headers, the request still passes
            ("GET", &[host, ("origin", "https://evil.com")], Pass),
            ("GET", &[host, ("origin", "http://app.example.com")], Pass),
            ("GET", &[host, ("origin", "null")], Pass),
            (
                "GET",
                &[
                    host,
                    ("origin", "https://app.example.com"),
                    ("origin", "https://app.example.com"),
                ],
                Pass,
            ),
            // preflight: answered here, with the headers only for allowed origins
            (
                "OPTIONS",
                &[host, ("origin", "https://app.example.com"), acrm],
                Preflight(true),
            ),
            (
                "OPTIONS",
                &[host, ("origin", "https://evil.com"), acrm],
                Preflight(false),
            ),
            ("OPTIONS", &[host, acrm], Preflight(false)),
            // OPTIONS without Access-Control-Request-Method reaches the service
            (
                "OPTIONS",
                &[host, ("origin", "https://app.example.com")],
                PassCors("https://app.example.com"),
            ),
            // the host check comes first
            (
                "OPTIONS",
                &[
                    ("host", "evil.com"),
                    ("origin", "https://app.example.com"),
                    acrm,
                ],
                Reject("host-not-allowed"),
            ),
        ];
        for (method, headers, expected) in cases {
            expect(&sec, &request(method, "/", headers), *expected);
        }
    }

    #[test]
    fn vary_table() {
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &["origin"]),
            (&["accept-encoding"], &["accept-encoding", "origin"]),
            (&["Accept, Origin"], &["Accept, Origin"]),
            (&["*"], &["*"]),
        ];
        for (before, after) in cases {
            let mut h = HeaderMap::new();
            for v in *before {
                h.append(VARY, HeaderValue::from_static(v));
            }
            add_vary_origin(&mut h);
            let got: Vec<_> = h
                .get_all(VARY)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            assert_eq!(got, *after);
        }
    }
}
