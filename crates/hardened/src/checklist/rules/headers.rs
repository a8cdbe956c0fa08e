//! The Headers rules: the security response headers of production, and the
//! report-only rollout.

use super::{Ctx, Hit, hit};
use crate::checklist::Severity;

/// The CSP that fits a service answering only API requests (JSON, no pages).
pub(crate) const API_ONLY_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

pub(super) fn csp_missing(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if cx.policy.headers.content_security_policy.is_none() {
        hits.push(hit(
            Severity::Warning,
            format!(
                "no Content-Security-Policy in {}: an injected script runs with the page's full rights",
                cx.target()
            ),
            format!(
                "set `headers: {{content_security_policy: \"...\"}}`; an API-only service needs one line: `content_security_policy: \"{API_ONLY_CSP}\"`; pages can start from `default-src 'self'; script-src 'self' 'nonce-{{nonce}}'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`"
            ),
            cx.loc("headers"),
        ));
    }
    Some(hits)
}

pub(super) fn report_only(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    let r = cx.cfg.report_only;
    if r.any() {
        hits.push(hit(
            Severity::Error,
            format!(
                "report_only is on for {} in {}: those checks log what they would reject and let it through",
                r.names().join(", "),
                cx.target()
            ),
            "a report-only rollout is for trying a policy out: read the `report-only:` log lines, fix the configuration, then remove `report_only`",
            cx.loc("report_only"),
        ));
    }
    Some(hits)
}

/// `report-only-no-collector`: a report-only CSP in a strict environment with neither
/// `reports:` nor a `report-uri`/`report-to` of its own.
pub(super) fn report_only_no_collector(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    let Some(csp) = &cx.policy.headers.content_security_policy_report_only else {
        return Some(hits);
    };
    let names_collector = csp.split(';').any(|d| {
        let name = d.split_ascii_whitespace().next().unwrap_or("");
        name.eq_ignore_ascii_case("report-uri") || name.eq_ignore_ascii_case("report-to")
    });
    if cx.policy.reports.is_none() && !names_collector {
        hits.push(hit(
            Severity::Warning,
            format!(
                "{} sends Content-Security-Policy-Report-Only, but nothing collects its reports: browsers report what it would block to no one, so nothing tells when it is safe to enforce",
                cx.target()
            ),
            "add `reports: true` (a collector at /.well-known/hardened/reports; `hardened reports LOG` then says when the policy is ready to enforce), or name your own collector with `report-uri`/`report-to` in the policy",
            cx.loc("headers"),
        ));
    }
    Some(hits)
}
