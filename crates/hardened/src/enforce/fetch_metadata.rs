//! Fetch Metadata: the resource isolation policy on the `Sec-Fetch-*` request headers
//! (`fetch_metadata: enforce | report | off`), and the reading of `Sec-Fetch-Site` the
//! CSRF check shares.
//!
//! Browsers say on every request where it comes from (`Sec-Fetch-Site`: `same-origin`,
//! `same-site`, `cross-site`, `none` for a typed URL or a bookmark), how it was made
//! (`Sec-Fetch-Mode`: `navigate`, `cors`, `no-cors`, `same-origin`, `websocket`) and
//! what for (`Sec-Fetch-Dest`: `document`, `image`, `script`, `empty`, ...). No page
//! can set or change them (`Sec-` names are forbidden to scripts). The policy refuses
//! a cross-site request unless it is a `GET`/`HEAD` navigation to a document (a link
//! followed from another site, not an `<object>` or `<embed>`), so another site can
//! neither call the application's endpoints with the user's cookies nor load its
//! resources (images, scripts, JSON) into its own page — the cross-site leaks
//! (XS-Leaks, XSSI, Spectre-style reads) that CORS does not cover, because no-cors
//! loads never ask CORS.
//!
//! What passes, in order: requests without `Sec-Fetch-Site` (older browsers,
//! non-browser clients: nothing to judge), those that are not `cross-site`, routes that
//! opt out ([`FetchMetadataRules::cross_site_paths`]), navigations, unsafe requests the
//! CSRF check exempts (`csrf_exempt_paths`, [`CsrfExempt`](crate::CsrfExempt)), and
//! requests whose `Origin` the policy allows (a CORS origin or a CSRF trusted origin: a
//! frontend on another site keeps working).
//!
//! [`FetchMetadataRules::cross_site_paths`]: crate::policy::FetchMetadataRules::cross_site_paths

use http::Method;
use http::header::HeaderMap;

use super::decision::{Rejection, RejectionKind};
use super::matcher::PathSet;
use super::request::RequestHead;
use crate::config::FetchMetadata;

/// `Sec-Fetch-Site`.
const SEC_FETCH_SITE: &str = "sec-fetch-site";
/// `Sec-Fetch-Mode`.
const SEC_FETCH_MODE: &str = "sec-fetch-mode";
/// `Sec-Fetch-Dest`.
const SEC_FETCH_DEST: &str = "sec-fetch-dest";

/// What `Sec-Fetch-Site` says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FetchSite {
    /// No `Sec-Fetch-Site` header.
    Absent,
    /// `same-origin`, or `none` (the user opened the URL: typed, bookmarked, reloaded).
    SameOriginOrUser,
    /// `same-site`: another origin of the same registrable domain.
    SameSite,
    /// `cross-site`, on any of the lines.
    CrossSite,
    /// Several lines, or a value no browser sends.
    Other,
}

/// What `Sec-Fetch-Site` says. Any line saying `cross-site` makes the request
/// cross-site; only a single line names one of the other values (a browser sends one).
pub(crate) fn fetch_site(headers: &HeaderMap) -> FetchSite {
    let mut lines = headers.get_all(SEC_FETCH_SITE).iter();
    let Some(first) = lines.next() else {
        return FetchSite::Absent;
    };
    let is =
        |v: &http::HeaderValue, token: &[u8]| v.as_bytes().trim_ascii().eq_ignore_ascii_case(token);
    if headers
        .get_all(SEC_FETCH_SITE)
        .iter()
        .any(|v| is(v, b"cross-site"))
    {
        return FetchSite::CrossSite;
    }
    if lines.next().is_some() {
        return FetchSite::Other;
    }
    if is(first, b"same-origin") || is(first, b"none") {
        FetchSite::SameOriginOrUser
    } else if is(first, b"same-site") {
        FetchSite::SameSite
    } else {
        FetchSite::Other
    }
}

/// The compiled resource isolation policy.
#[derive(Debug)]
pub(crate) struct FetchMetadataCheck {
    pub(crate) mode: FetchMetadata,
    /// Routes any site may load or call.
    pub(crate) cross_site: PathSet,
}

/// Whether the (single) header `name` equals `token`, ignoring ASCII case.
fn header_is(headers: &HeaderMap, name: &str, token: &[u8]) -> bool {
    let mut lines = headers.get_all(name).iter();
    match (lines.next(), lines.next()) {
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(token),
        _ => false,
    }
}

/// Whether the request is a navigation a link or a typed URL could make: `GET` or
/// `HEAD`, `Sec-Fetch-Mode: navigate`, to a document or frame (not `<object>` or
/// `<embed>`, which load resources into another site's page).
fn is_navigation(head: &RequestHead<'_>) -> bool {
    let parts = head.parts();
    let headers = &parts.headers;
    (parts.method == Method::GET || parts.method == Method::HEAD)
        && header_is(headers, SEC_FETCH_MODE, b"navigate")
        && !header_is(headers, SEC_FETCH_DEST, b"object")
        && !header_is(headers, SEC_FETCH_DEST, b"embed")
}

impl FetchMetadataCheck {
    /// Whether the check judges anything at all.
    pub(crate) fn on(&self) -> bool {
        self.mode != FetchMetadata::Off
    }

    /// Whether the check only logs.
    pub(crate) fn reports(&self) -> bool {
        self.mode == FetchMetadata::Report
    }

    /// Judges a request; `origin_allowed(origin)`: whether the policy allows this
    /// `Origin` value (CORS or CSRF trusted origins); `csrf_exempt()`: whether the
    /// request is exempt from CSRF (an unsafe request to such a route is a write the
    /// configuration already accepts from any site, e.g. an identity provider's form
    /// post). Cheap for what is not cross-site: one header lookup.
    pub(crate) fn check(
        &self,
        head: &RequestHead<'_>,
        origin_allowed: impl FnOnce(&str) -> bool,
        csrf_exempt: impl FnOnce() -> bool,
    ) -> Result<(), Rejection> {
        if !self.on() || fetch_site(&head.parts().headers) != FetchSite::CrossSite {
            return Ok(());
        }
        if self.cross_site.matches(head.path()) || is_navigation(head) {
            return Ok(());
        }
        if !head.method().is_safe() && csrf_exempt() {
            return Ok(());
        }
        if let Some(origin) = head.origin().and_then(|o| o.to_str().ok())
            && origin_allowed(origin)
        {
            return Ok(());
        }
        Err(Rejection::fixed(
            RejectionKind::FetchMetadataCrossSite,
            "Cross-site request refused by the resource isolation policy (Sec-Fetch-Site: cross-site, and not a navigation).",
            "if the requesting page is your frontend on another site, add its origin to security_domains (its requests carry that Origin); a public API or an embeddable resource: give its route `cross_site: allow` in `routes:`; `fetch_metadata: report` only logs",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Expect, Headers, expect, request, security};
    use super::{FetchSite, fetch_site};
    use crate::config::{Config, FetchMetadata};
    use crate::policy::{FetchMetadataRules, derive};
    use crate::probe::RuntimeProbe;
    use crate::{Decision, Security};

    fn enforcing() -> Security {
        security(
            Config::production(["example.com", "https://app.other.com"]).map(|mut c| {
                c.fetch_metadata = Some(FetchMetadata::Enforce);
                c
            }),
        )
    }

    #[test]
    fn resource_isolation_table() {
        let sec = enforcing();
        use Expect::{Pass, PassCors, Reject};
        let host = ("host", "example.com");
        let cross = ("sec-fetch-site", "cross-site");
        let nav = ("sec-fetch-mode", "navigate");
        let doc = ("sec-fetch-dest", "document");
        let refused = Reject("fetch-metadata-cross-site");
        let cases: &[(&str, Headers<'_>, Expect)] = &[
            // No headers: an older browser or a non-browser client.
            ("GET", &[host], Pass),
            // Not cross-site.
            (
                "GET",
                &[
                    host,
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-mode", "no-cors"),
                ],
                Pass,
            ),
            (
                "GET",
                &[
                    host,
                    ("sec-fetch-site", "same-site"),
                    ("sec-fetch-mode", "cors"),
                ],
                Pass,
            ),
            ("GET", &[host, ("sec-fetch-site", "none"), nav, doc], Pass),
            // Cross-site navigations to documents and frames pass.
            ("GET", &[host, cross, nav, doc], Pass),
            ("HEAD", &[host, cross, nav, doc], Pass),
            (
                "GET",
                &[host, cross, nav, ("sec-fetch-dest", "iframe")],
                Pass,
            ),
            (
                "GET",
                &[
                    host,
                    ("Sec-Fetch-Site", "Cross-Site"),
                    ("sec-fetch-mode", "NAVIGATE"),
                ],
                Pass,
            ),
            // ... but not into <object>/<embed>, and not with another method.
            (
                "GET",
                &[host, cross, nav, ("sec-fetch-dest", "object")],
                refused,
            ),
            (
                "GET",
                &[host, cross, nav, ("sec-fetch-dest", "embed")],
                refused,
            ),
            ("POST", &[host, cross, nav, doc], refused),
            // Subresources and fetches from another site.
            (
                "GET",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "no-cors"),
                    ("sec-fetch-dest", "image"),
                ],
                refused,
            ),
            (
                "GET",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "no-cors"),
                    ("sec-fetch-dest", "script"),
                ],
                refused,
            ),
            (
                "GET",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "cors"),
                    ("origin", "https://evil.com"),
                ],
                refused,
            ),
            ("GET", &[host, cross], refused),
            // Two Sec-Fetch-Mode lines are no navigation.
            (
                "GET",
                &[host, cross, nav, ("sec-fetch-mode", "navigate")],
                refused,
            ),
            // A cross-site line among others is cross-site.
            (
                "GET",
                &[
                    host,
                    ("sec-fetch-site", "same-origin"),
                    cross,
                    ("sec-fetch-mode", "cors"),
                ],
                refused,
            ),
            // An Origin the policy allows (CORS) keeps a frontend on another site working.
            (
                "GET",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "cors"),
                    ("origin", "https://app.other.com"),
                ],
                PassCors("https://app.other.com"),
            ),
            (
                "POST",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "cors"),
                    ("origin", "https://app.other.com"),
                ],
                PassCors("https://app.other.com"),
            ),
            // Two Origin lines are no allowed origin.
            (
                "GET",
                &[
                    host,
                    cross,
                    ("sec-fetch-mode", "cors"),
                    ("origin", "https://app.other.com"),
                    ("origin", "https://app.other.com"),
                ],
                refused,
            ),
        ];
        for (method, headers, expected) in cases {
            expect(&sec, &request(method, "/r", headers), *expected);
        }
    }

    /// A CORS preflight is answered before the policy judges it (its Origin decides).
    #[test]
    fn preflights_are_answered_first() {
        let sec = enforcing();
        let headers = [
            ("host", "example.com"),
            ("origin", "https://evil.com"),
            ("access-control-request-method", "PUT"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "cors"),
        ];
        expect(
            &sec,
            &request("OPTIONS", "/r", &headers),
            Expect::Preflight(false),
        );
    }

    #[test]
    fn modes_and_opted_out_routes() {
        let image = [
            ("host", "example.com"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "image"),
        ];
        let mut policy = derive(
            &Config::production(["example.com"]).unwrap_or_else(|e| panic!("{e}")),
            &RuntimeProbe::none(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Production reports by default: passes, with what it would have answered.
        assert_eq!(policy.fetch_metadata.mode, FetchMetadata::Report);
        let sec = Security::new(policy.clone()).unwrap_or_else(|e| panic!("{e}"));
        let d = sec.decide(&request("GET", "/avatar.png", &image));
        let Decision::Pass(facts) = &d else {
            panic!("report mode passes: {d:?}")
        };
        assert!(
            matches!(facts.reported(), [crate::enforce::Answer::Reject(r)] if r.code() == "fetch-metadata-cross-site"),
            "{d:?}"
        );
        // Enforced, with one route open to every site.
        policy.fetch_metadata = FetchMetadataRules {
            cross_site_paths: vec!["/embed/*".into()],
            ..FetchMetadataRules::new(FetchMetadata::Enforce)
        };
        let sec = Security::new(policy.clone()).unwrap_or_else(|e| panic!("{e}"));
        expect(
            &sec,
            &request("GET", "/embed/widget.js", &image),
            Expect::Pass,
        );
        expect(
            &sec,
            &request("GET", "/avatar.png", &image),
            Expect::Reject("fetch-metadata-cross-site"),
        );
        // A CSRF-exempt route takes cross-site writes (an identity provider's form
        // post), not cross-site reads of its resources.
        policy.csrf.exempt_paths = vec!["/oauth/callback".into()];
        let sec = Security::new(policy.clone()).unwrap_or_else(|e| panic!("{e}"));
        let form_post = [
            ("host", "example.com"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("origin", "https://idp.example.net"),
        ];
        expect(
            &sec,
            &request("POST", "/oauth/callback", &form_post),
            Expect::Pass,
        );
        expect(
            &sec,
            &request("POST", "/transfer", &form_post),
            Expect::Reject("fetch-metadata-cross-site"),
        );
        expect(
            &sec,
            &request("GET", "/oauth/callback", &image),
            Expect::Reject("fetch-metadata-cross-site"),
        );
        let mut exempt = request("POST", "/transfer", &form_post);
        exempt.extensions.insert(crate::CsrfExempt);
        expect(&sec, &exempt, Expect::Pass);
        // Encoded or dotted paths never match an opt-out.
        expect(
            &sec,
            &request("GET", "/embed/../avatar.png", &image),
            Expect::Reject("fetch-metadata-cross-site"),
        );
        // Not among the checks of a layer: passes.
        let d = sec.decide_with(
            &request("GET", "/avatar.png", &image),
            crate::Checks::ALL.with_fetch_metadata(false),
        );
        assert!(d.is_pass(), "{d:?}");
        // An opt-out of every path is refused in production, as a CSRF exemption is.
        policy.fetch_metadata.cross_site_paths = vec!["/*".into()];
        let Err(errs) = Security::new(policy) else {
            panic!("a catch-all opt-out must be refused")
        };
        assert_eq!(
            errs.0.first().map(|p| p.key()),
            Some("fetch_metadata.cross_site_paths[0]")
        );
        // Off, and development's default.
        let off = security(Config::production(["example.com"]).map(|mut c| {
            c.fetch_metadata = Some(FetchMetadata::Off);
            c
        }));
        let d = off.decide(&request("GET", "/avatar.png", &image));
        assert!(d.is_pass() && d.facts().reported().is_empty(), "{d:?}");
        let dev = security(Ok(Config::development()));
        assert_eq!(dev.policy().fetch_metadata.mode, FetchMetadata::Off);
    }

    #[test]
    fn fetch_site_values() {
        let cases: &[(Headers<'_>, FetchSite)] = &[
            (&[], FetchSite::Absent),
            (
                &[("sec-fetch-site", "same-origin")],
                FetchSite::SameOriginOrUser,
            ),
            (&[("sec-fetch-site", "none")], FetchSite::SameOriginOrUser),
            (
                &[("sec-fetch-site", "Same-Origin")],
                FetchSite::SameOriginOrUser,
            ),
            (&[("sec-fetch-site", "same-site")], FetchSite::SameSite),
            (&[("sec-fetch-site", "cross-site")], FetchSite::CrossSite),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "cross-site"),
                ],
                FetchSite::CrossSite,
            ),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "same-origin"),
                ],
                FetchSite::Other,
            ),
            (&[("sec-fetch-site", "same-origin, none")], FetchSite::Other),
            (&[("sec-fetch-site", "")], FetchSite::Other),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                fetch_site(&request("GET", "/", headers).headers),
                *expected,
                "{headers:?}"
            );
        }
    }
}
