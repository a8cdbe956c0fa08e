//! CORS with django-cors-headers' semantics: the allowed `Origin` is echoed, a preflight
//! is an `OPTIONS` with `Access-Control-Request-Method`, and `Vary: origin` is appended
//! to every response.

use http::header::{self, HeaderMap, HeaderValue};

use super::decision::Facts;
use super::headers::header_value;
use super::matcher::OriginMatcher;
use super::request::RequestHead;
use crate::config::Problem;
use crate::policy::CorsRules;

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
    /// Any origin is allowed (a route's `origins: ["*"]`, never with credentials).
    pub(crate) any: bool,
}

impl CorsCheck {
    /// Compiles `rules`; an invalid header value is pushed to `problems` (its header
    /// is then left empty: the caller refuses the policy).
    pub(crate) fn new(rules: &CorsRules, problems: &mut Vec<Problem>) -> CorsCheck {
        let mut hv = |key: &str, s: &str| match header_value(key, s) {
            Ok(v) => Some(v),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let allow_headers = hv("cors_allow_headers", &rules.allow_headers.join(", "));
        let allow_methods = hv("cors_allow_methods", &rules.allow_methods.join(", "));
        let expose_headers = (!rules.expose_headers.is_empty())
            .then(|| hv("cors_expose_headers", &rules.expose_headers.join(", ")))
            .flatten();
        let empty = || HeaderValue::from_static("");
        CorsCheck {
            // The policy's origin regexes are compiled already (by validation).
            matcher: OriginMatcher::cors(rules),
            allow_credentials: rules.allow_credentials && !rules.any_origin,
            allow_headers: allow_headers.unwrap_or_else(empty),
            allow_methods: allow_methods.unwrap_or_else(empty),
            max_age: (rules.max_age > 0).then(|| HeaderValue::from(rules.max_age)),
            expose_headers,
            any: rules.any_origin,
        }
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        self.any || self.matcher.allows(origin)
    }

    /// Whether the request's only `Origin` is one the rules name (exactly, by pattern or
    /// regex), whatever `any` says.
    pub(crate) fn names_origin(&self, head: &RequestHead<'_>) -> bool {
        head.origin()
            .is_some_and(|v| v.to_str().is_ok_and(|s| self.matcher.allows(s)))
    }

    /// The request's `Origin` when it is allowed (and the only one).
    pub(crate) fn allowed_origin(&self, head: &RequestHead<'_>) -> Option<HeaderValue> {
        head.origin()
            .filter(|v| v.to_str().is_ok_and(|s| self.allows(s)))
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
            } else {
                // A route without credentials (`origins: ["*"]`): no grant of them,
                // whoever set one.
                headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
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
