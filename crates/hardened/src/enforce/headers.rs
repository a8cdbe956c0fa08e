//! The security response headers (`X-Content-Type-Options`, `X-Frame-Options`,
//! `Referrer-Policy`, `Cross-Origin-Opener-Policy`, `X-XSS-Protection`), rendered once
//! at build time; a header the handler set is never overwritten.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::{Problem, ProblemKind};
use crate::policy::{
    CrossOriginOpenerPolicy, FrameOptions, HeaderRules, ReferrerPolicy, XssProtection,
};

/// The rendered security headers.
#[derive(Debug, Default)]
pub(crate) struct SecurityHeaders(Box<[(HeaderName, HeaderValue)]>);

impl SecurityHeaders {
    /// Renders the headers of `rules` (typed values: rendering cannot fail).
    pub(crate) fn new(rules: &HeaderRules) -> SecurityHeaders {
        let mut headers = Vec::new();
        if rules.content_type_nosniff {
            headers.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        let named = [
            (
                header::X_FRAME_OPTIONS,
                rules.x_frame_options.map(FrameOptions::header_value),
            ),
            (
                header::REFERRER_POLICY,
                rules.referrer_policy.map(ReferrerPolicy::header_value),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                rules
                    .cross_origin_opener_policy
                    .map(CrossOriginOpenerPolicy::header_value),
            ),
            (
                header::X_XSS_PROTECTION,
                rules.xss_protection.map(XssProtection::header_value),
            ),
        ];
        for (name, value) in named {
            if let Some(v) = value {
                headers.push((name, v));
            }
        }
        SecurityHeaders(headers.into_boxed_slice())
    }

    /// Adds every header the response lacks.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.0.iter() {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// A configured header value, or the problem naming `key`.
#[allow(clippy::result_large_err)] // build time only
pub(crate) fn header_value(key: &str, s: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(s).map_err(|_| {
        Problem::new(
            ProblemKind::InvalidHeaderValue,
            key,
            "not a valid HTTP header value",
            "use visible ASCII characters only",
        )
        .with_value(format!("{s:?}"))
    })
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderMap, HeaderValue, X_FRAME_OPTIONS};

    use super::super::testing::{request, security};
    use crate::config::Config;

    #[test]
    fn headers_table() {
        // (environment, handler's X-Frame-Options, expected X-Frame-Options)
        let cases: &[(bool, Option<&str>, Option<&str>)] = &[
            (true, None, Some("DENY")),
            (true, Some("SAMEORIGIN"), Some("SAMEORIGIN")),
            (false, Some("SAMEORIGIN"), Some("SAMEORIGIN")),
        ];
        for (production, own, expected) in cases {
            let sec = security(if *production {
                Config::production(["example.com"])
            } else {
                Ok(Config::development())
            });
            let d = sec.decide(&request("GET", "/", &[("host", "example.com")]));
            let mut h = HeaderMap::new();
            if let Some(v) = own {
                h.insert(X_FRAME_OPTIONS, HeaderValue::from_static(v));
            }
            sec.finish(&mut h, d.facts());
            assert_eq!(
                h.get(X_FRAME_OPTIONS).and_then(|v| v.to_str().ok()),
                *expected,
                "{production} {own:?}"
            );
            assert_eq!(
                h.get("x-content-type-options")
                    .and_then(|v| v.to_str().ok()),
                Some("nosniff")
            );
        }
    }
}
