//! The route rule: each weakening of a `routes:` entry, with its line and why, at the
//! severity it deserves (validation already refuses catch-all routes that weaken).

use super::{Ctx, Hit, hit};
use crate::checklist::{Location, Severity};
use crate::policy::RoutePolicy;

/// The effective CORS of `r` lets credentialed requests from a wide set of origins:
/// any origin pattern, or more than three origins.
fn wide_credentials(r: &RoutePolicy) -> bool {
    r.cors.as_ref().is_some_and(|c| {
        c.allow_credentials
            && (c.any_origin
                || !c.subdomains.is_empty()
                || !c.origin_regexes.is_empty()
                || c.origins.len() > 3)
    })
}

pub(super) fn route_weakens(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for (i, r) in cx.policy.routes.iter().enumerate() {
        let loc = r.overrides.source.as_ref().and_then(Location::from_source);
        for w in r.weakenings() {
            let (severity, fix) = match w.key {
                "csrf" => (
                    Severity::Warning,
                    "exempt only what authenticates otherwise (a signed webhook, a token API without cookies); a path a browser reaches with the session cookie needs the check",
                ),
                "host_check" => (
                    Severity::Warning,
                    "keep `host_check: skip_allowlist` for probes by IP (health checks); pages must not be served to any Host",
                ),
                "ssl_redirect" => (
                    Severity::Warning,
                    "keep `ssl_redirect: false` for probes and ACME challenges; pages and APIs belong on https",
                ),
                "cross_site" => (
                    Severity::Info,
                    "allow cross-site use only on public APIs and embeddable resources; pages and authenticated endpoints keep the resource isolation",
                ),
                "report_only" => (
                    Severity::Error,
                    "after the rollout, remove the route's `report_only`",
                ),
                "headers.frame_ancestors"
                    if r.overrides.frame_ancestors.as_ref().is_some_and(|s| {
                        s.iter().any(|s| crate::policy::frame_source_is_wide(s))
                    }) =>
                {
                    (
                        Severity::Error,
                        "list the partner origins that may frame the route, e.g. [https://partner.example]",
                    )
                }
                "headers.frame_ancestors" => (
                    Severity::Info,
                    "keep the list to the partners that embed the route",
                ),
                "headers.x_frame_options" if r.overrides.frame_ancestors.is_none() => (
                    Severity::Warning,
                    "an HTML page without X-Frame-Options or `frame_ancestors` can be framed by any site (clickjacking): name the origins with `frame_ancestors`, or keep the header",
                ),
                "cors.origins" | "cors.allow_credentials" if wide_credentials(r) => (
                    Severity::Error,
                    "credentialed CORS to many origins lets each of them act as the visitor: list the few origins that need credentials, or set `allow_credentials: false`",
                ),
                "cors.origins" | "cors.allow_credentials" => (
                    Severity::Info,
                    "keep the route's CORS to the origins that call it",
                ),
                _ => (
                    Severity::Warning,
                    "keep the header, or set it only where a page needs it",
                ),
            };
            hits.push(hit(
                severity,
                format!("routes[{i}] {} ({}): {}", r.path, w.key, w.what),
                fix,
                loc.clone(),
            ));
        }
    }
    Some(hits)
}
