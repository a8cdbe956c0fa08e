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
