//! CSRF: Django's `CsrfViewMiddleware` origin and referer rules (the token check is the
//! application's business), plus `Sec-Fetch-Site: cross-site` without `Origin`, and
//! `Sec-Fetch-Site: same-origin | none` in place of a missing Referer over https.

use super::decision::{Rejection, RejectionKind};
use super::fetch_metadata::{FetchSite, fetch_site};
use super::matcher::{OriginMatcher, OriginParts, PathSet};
use super::request::{CsrfExempt, RequestHead, RequestHost};
use crate::domain::Scheme;

/// The compiled CSRF rules.
#[derive(Debug)]
pub(crate) struct CsrfCheck {
    pub(crate) matcher: OriginMatcher,
    pub(crate) exempt: PathSet,
    /// Left to the upstream application (`gateway.csrf: upstream`): every request
    /// passes.
    pub(crate) upstream: bool,
}

impl CsrfCheck {
    /// Whether the request is exempt from the check: the [`CsrfExempt`] extension, its
    /// route's `csrf:` (`Some(true)` exempt, `Some(false)` enforced even where
    /// `csrf_exempt_paths` exempts the path), else a path of `csrf_exempt_paths`.
    pub(crate) fn exempts(&self, head: &RequestHead<'_>, route_exempt: Option<bool>) -> bool {
        head.parts().extensions.get::<CsrfExempt>().is_some()
            || route_exempt.unwrap_or_else(|| self.exempt.matches(head.path()))
    }

    /// Checks an unsafe, non-exempt request; `host` is the allowed host, if any;
    /// `route_exempt` is the request's route's `csrf:` (see [`exempts`](Self::exempts)).
    pub(crate) fn check(
        &self,
        head: &RequestHead<'_>,
        host: Option<&RequestHost<'_>>,
        route_exempt: Option<bool>,
    ) -> Result<(), Rejection> {
        if self.upstream || head.method().is_safe() || self.exempts(head, route_exempt) {
            return Ok(());
        }
        self.origin_and_referer(head, host)
    }

    fn origin_and_referer(
        &self,
        head: &RequestHead<'_>,
        host: Option<&RequestHost<'_>>,
    ) -> Result<(), Rejection> {
        if head.duplicate_origin() {
            return Err(Rejection::fixed(
                RejectionKind::CsrfBadOrigin,
                "Origin checking failed - multiple Origin headers.",
                "send one Origin header",
            ));
        }
        let secure = head.secure();
        if let Some(origin) = head.first_origin() {
            let value = String::from_utf8_lossy(origin.as_bytes());
            if origin_is_request_origin(&value, secure, host) || self.matcher.allows(&value) {
                return Ok(());
            }
            let scheme = Scheme::parse(value.split("://").next().unwrap_or("")).is_some();
            return Err(Rejection::csrf_origin(&value, scheme));
        }
        if head
            .parts()
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(Rejection::fixed(
                RejectionKind::CsrfCrossSite,
                "Cross-site request without Origin (Sec-Fetch-Site: cross-site).",
                "browsers send Origin on cross-site requests; if this is your frontend, add its domain to security_domains",
            ));
        }
        if !secure || head.grpc() {
            // gRPC: a browser cannot send `application/grpc` cross-site without a CORS
            // preflight (which foreign origins fail), and would send Origin; gRPC
            // clients send neither Origin nor Referer.
            return Ok(());
        }
        let Some(referer) = head.referer() else {
            // No Origin and no Referer, but the browser says the request comes from this
            // origin (`same-origin`) or from the user (`none`: typed, bookmarked,
            // reloaded): the header stands in for the Referer Django wants, which a
            // `Referrer-Policy: no-referrer` page never sends. It only fills the gap: a
            // present Origin or Referer is judged above and below, whatever it says.
            if fetch_site(&head.parts().headers) == FetchSite::SameOriginOrUser {
                return Ok(());
            }
            // No Origin, no Referer, no Sec-Fetch-Site and no Cookie: not a browser,
            // and nothing ambient (a session cookie) for a forged request to ride on:
            // a token-authenticated API client. Go 1.25's CrossOriginProtection and
            // tower-http's CsrfLayer let it through; Django's Referer rule stays for
            // everything else.
            let headers = &head.parts().headers;
            if !headers.contains_key(http::header::COOKIE)
                && !headers.contains_key("sec-fetch-site")
            {
                return Ok(());
            }
            return Err(Rejection::fixed(
                RejectionKind::CsrfNoReferer,
                "Referer checking failed - no Referer.",
                "browsers send Referer on https form posts: check Referrer-Policy (no-referrer breaks it), or send an Origin header; an API client that authenticates with cookies belongs under csrf_exempt_paths (clients without cookies need no exemption)",
            ));
        };
        let referer = String::from_utf8_lossy(referer.as_bytes());
        let Some((scheme, netloc)) = split_url(&referer) else {
            return Err(Rejection::fixed(
                RejectionKind::CsrfMalformedReferer,
                "Referer checking failed - Referer is malformed.",
                "send an absolute Referer URL",
            ));
        };
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(Rejection::fixed(
                RejectionKind::CsrfInsecureReferer,
                "Referer checking failed - Referer is insecure while host is secure.",
                "serve the page that submits the form over https",
            ));
        }
        let netloc = netloc.to_ascii_lowercase();
        if self.matcher.allows_referer_netloc(&netloc) {
            return Ok(());
        }
        if let Some(host) = host
            && host.raw().eq_ignore_ascii_case(&netloc)
        {
            return Ok(());
        }
        Err(Rejection::csrf_referer(&referer, &netloc))
    }
}

/// Whether `origin` is the request's own `scheme://host[:port]`.
pub(crate) fn origin_is_request_origin(
    origin: &str,
    secure: bool,
    host: Option<&RequestHost<'_>>,
) -> bool {
    let Some(host) = host else {
        return false;
    };
    let (raw, domain) = (host.raw(), host.domain());
    let scheme = if secure { Scheme::Https } else { Scheme::Http };
    let port = match raw.rsplit_once(':') {
        Some((_, p)) if !raw.ends_with(']') => p.parse::<u16>().ok(),
        _ => None,
    };
    let port = port.unwrap_or(scheme.default_port());
    let check = |o: &OriginParts<'_>| o.scheme == scheme && o.host == domain && o.port == port;
    if let Some(o) = OriginParts::parse_canonical(origin) {
        return check(&o);
    }
    match crate::domain::Origin::parse_header(origin) {
        Some(o) => {
            let h = o.host.to_string();
            check(&OriginParts {
                scheme: o.scheme,
                host: &h,
                port: o.effective_port(),
                explicit_port: o.port.is_some(),
            })
        }
        None => false,
    }
}

/// `urlsplit`'s scheme and netloc, for Referer values: `None` when either is empty.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    let scheme = url.get(..colon)?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = url.get(colon + 1..)?.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let netloc = rest.get(..end)?;
    if netloc.is_empty() {
        return None;
    }
    Some((scheme, netloc))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Expect, Headers, expect, from_peer, request, security};
    use super::split_url;
    use crate::config::Config;

    #[test]
    fn origin_table() {
        let sec = security(Config::production(["example.com", "app.example.com"]));
        use Expect::{Pass, PassCors, Reject};
        let host = ("host", "example.com");
        let cases: &[(&str, Headers<'_>, Expect)] = &[
            // same origin (plain HTTP here: no trusted proxy says https)
            ("POST", &[host, ("origin", "http://example.com")], Pass),
            ("POST", &[host, ("origin", "http://EXAMPLE.com:80")], Pass),
            (
                "POST",
                &[host, ("origin", "https://example.com")],
                PassCors("https://example.com"),
            ),
            // trusted
            (
                "POST",
                &[host, ("origin", "https://app.example.com")],
                PassCors("https://app.example.com"),
            ),
            // foreign, null, duplicate
            (
                "POST",
                &[host, ("origin", "https://evil.com")],
                Reject("csrf-bad-origin"),
            ),
            (
                "POST",
                &[host, ("origin", "null")],
                Reject("csrf-bad-origin"),
            ),
            (
                "PUT",
                &[host, ("origin", "http://example.com:8080")],
                Reject("csrf-bad-origin"),
            ),
            (
                "POST",
                &[
                    host,
                    ("origin", "http://example.com"),
                    ("origin", "http://example.com"),
                ],
                Reject("csrf-bad-origin"),
            ),
            // safe methods are never checked
            ("GET", &[host, ("origin", "https://evil.com")], Pass),
            ("HEAD", &[host, ("origin", "https://evil.com")], Pass),
            // no Origin
            (
                "POST",
                &[host, ("sec-fetch-site", "cross-site")],
                Reject("csrf-cross-site"),
            ),
            ("POST", &[host, ("sec-fetch-site", "same-origin")], Pass),
            ("DELETE", &[host], Pass),
        ];
        for (method, headers, expected) in cases {
            expect(&sec, &request(method, "/", headers), *expected);
        }
    }

    #[test]
    fn referer_table_on_secure_requests() {
        let sec = security(Config::production(["example.com", "app.example.com"]));
        use Expect::{Pass, Reject};
        let host = ("host", "example.com");
        let xfp = ("x-forwarded-proto", "https");
        let cases: &[(Headers<'_>, Expect)] = &[
            // No Origin, Referer, Sec-Fetch-Site or Cookie: an API client.
            (&[host, xfp], Pass),
            (&[host, xfp, ("authorization", "Bearer t")], Pass),
            // A cookie, or a browser's Sec-Fetch-Site: Django's rule.
            (
                &[host, xfp, ("cookie", "sessionid=x")],
                Reject("csrf-no-referer"),
            ),
            (
                &[host, xfp, ("authorization", "Bearer t"), ("cookie", "a=b")],
                Reject("csrf-no-referer"),
            ),
            // Sec-Fetch-Site: same-origin or none stands in for the missing Referer
            // (cookies or not); same-site, an unknown value or two lines do not.
            (&[host, xfp, ("sec-fetch-site", "same-origin")], Pass),
            (&[host, xfp, ("sec-fetch-site", "none")], Pass),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("cookie", "sessionid=x"),
                ],
                Pass,
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-site"),
                    ("cookie", "sessionid=x"),
                ],
                Reject("csrf-no-referer"),
            ),
            (
                &[host, xfp, ("sec-fetch-site", "same-origni")],
                Reject("csrf-no-referer"),
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "same-origin"),
                ],
                Reject("csrf-no-referer"),
            ),
            // It never overrides a present Referer or Origin that fails.
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("referer", "https://evil.com/"),
                ],
                Reject("csrf-bad-referer"),
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "none"),
                    ("referer", "http://example.com/"),
                ],
                Reject("csrf-insecure-referer"),
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("referer", "/form"),
                ],
                Reject("csrf-malformed-referer"),
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://evil.com"),
                ],
                Reject("csrf-bad-origin"),
            ),
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "null"),
                ],
                Reject("csrf-bad-origin"),
            ),
            // A trusted Origin stays trusted whatever Sec-Fetch-Site says.
            (
                &[
                    host,
                    xfp,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://app.example.com"),
                ],
                Expect::PassCors("https://app.example.com"),
            ),
            (&[host, xfp, ("referer", "https://example.com/form")], Pass),
            (
                &[host, xfp, ("referer", "https://app.example.com/x?y")],
                Pass,
            ),
            (
                &[host, xfp, ("referer", "https://evil.com/")],
                Reject("csrf-bad-referer"),
            ),
            (
                &[host, xfp, ("referer", "http://example.com/")],
                Reject("csrf-insecure-referer"),
            ),
            (
                &[host, xfp, ("referer", "/relative")],
                Reject("csrf-malformed-referer"),
            ),
            (
                &[host, xfp, ("referer", "https://")],
                Reject("csrf-malformed-referer"),
            ),
            // Origin wins over Referer.
            (
                &[
                    host,
                    xfp,
                    ("origin", "https://example.com"),
                    ("referer", "https://evil.com/"),
                ],
                Expect::PassCors("https://example.com"),
            ),
            // gRPC clients send neither.
            (&[host, xfp, ("content-type", "application/grpc")], Pass),
            (
                &[
                    host,
                    xfp,
                    ("content-type", "application/grpc-web"),
                    ("cookie", "a=b"),
                ],
                Reject("csrf-no-referer"),
            ),
        ];
        for (headers, expected) in cases {
            let parts = from_peer(request("POST", "/", headers), "127.0.0.1");
            expect(&sec, &parts, *expected);
        }
        // Plain HTTP: no Referer rules.
        expect(&sec, &request("POST", "/", &[host]), Pass);
    }

    #[test]
    fn exemptions() {
        let sec = security(Config::production(["example.com"]).map(|mut c| {
            c.csrf_exempt_paths = vec!["/hooks/{id}".into()];
            c
        }));
        let evil = [("host", "example.com"), ("origin", "https://evil.com")];
        expect(&sec, &request("POST", "/hooks/7", &evil), Expect::Pass);
        expect(
            &sec,
            &request("POST", "/hooks", &evil),
            Expect::Reject("csrf-bad-origin"),
        );
        let mut parts = request("POST", "/", &evil);
        parts.extensions.insert(crate::CsrfExempt);
        expect(&sec, &parts, Expect::Pass);
    }

    #[test]
    fn split_url_table() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("https://a.com/x", Some(("https", "a.com"))),
            ("https://a.com:8443?q", Some(("https", "a.com:8443"))),
            ("HTTP://A.com#f", Some(("HTTP", "A.com"))),
            ("https:/a.com", None),
            ("1https://a.com", None),
            ("://a.com", None),
            ("https://", None),
        ];
        for (url, expected) in cases {
            assert_eq!(split_url(url), *expected, "{url}");
        }
    }
}
