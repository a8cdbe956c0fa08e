//! The SSL/HTTPS rules: TLS redirect, HSTS, secure cookies and trusted proxies.

use super::{Ctx, Hit, hit};
use crate::checklist::Severity;
use crate::config::DockerMode;
use crate::policy::{HSTS_ONE_YEAR, ProxyTrust};

pub(super) fn hsts_disabled(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if cx.policy.tls.hsts.is_none() {
        // When this service handles TLS itself (ssl_redirect: true) nothing else can send
        // HSTS; behind a reverse proxy the proxy may.
        let (severity, fix) = if cx.cfg.ssl_redirect == Some(true) {
            (
                Severity::Error,
                "remove `hsts.seconds: 0` (default 31536000, one year): with ssl_redirect: true this service handles SSL, so HSTS must be on",
            )
        } else {
            (
                Severity::Warning,
                "remove `hsts.seconds: 0` (default 31536000, one year), unless your reverse proxy already sends Strict-Transport-Security",
            )
        };
        hits.push(hit(
            severity,
            format!("hsts.seconds is 0: HSTS is off in {}", cx.target()),
            fix,
            cx.loc("hsts"),
        ));
    }
    Some(hits)
}

pub(super) fn hsts_preload_without_subdomains(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let hsts = cx.policy.tls.hsts.as_ref()?;
    let mut hits = Vec::new();
    if hsts.preload && !hsts.include_subdomains {
        hits.push(hit(
            Severity::Warning,
            "hsts.preload is true but hsts.include_subdomains is false: preload lists reject such a header",
            "set `hsts.include_subdomains: true`, or `hsts.preload: false`",
            cx.loc("hsts"),
        ));
    }
    Some(hits)
}

pub(super) fn hsts_preload_short_max_age(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let hsts = cx.policy.tls.hsts.as_ref()?;
    let seconds = hsts.seconds;
    let mut hits = Vec::new();
    if hsts.preload && seconds < HSTS_ONE_YEAR {
        hits.push(hit(
            Severity::Warning,
            format!(
                "hsts.preload is true with hsts.seconds {seconds}: preload lists require at least {HSTS_ONE_YEAR} (one year)"
            ),
            format!("set `hsts.seconds: {HSTS_ONE_YEAR}`, or `hsts.preload: false`"),
            cx.loc("hsts"),
        ));
    }
    Some(hits)
}

/// No peer is trusted (`trusted_proxies: []`: the default trusts the internal networks).
fn trusts_no_proxy(cx: &Ctx<'_>) -> bool {
    matches!(&cx.policy.tls.trusted_proxies, ProxyTrust::Networks(n) if n.is_empty())
}

/// Why container rules apply, for messages.
pub(super) fn container_reason(cx: &Ctx<'_>) -> String {
    match (cx.cfg.docker, cx.facts.probe.signals.first()) {
        (DockerMode::On, _) => "docker: true".into(),
        (_, Some(s)) => format!("container detected: {s}"),
        (_, None) => "container detected".into(),
    }
}

pub(super) fn ssl_redirect_untrusted_proxy(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if cx.cfg.ssl_redirect != Some(true) {
        return None;
    }
    let mut hits = Vec::new();
    if cx.policy.runtime.container && trusts_no_proxy(cx) {
        hits.push(hit(
            Severity::Error,
            format!(
                "ssl_redirect is true behind a reverse proxy ({}) that trusted_proxies: [] does not trust: every request looks like plain HTTP and is redirected forever",
                container_reason(cx)
            ),
            "when a reverse proxy terminates SSL, keep `ssl_redirect: null` (the guide's default); otherwise list the proxy's network in trusted_proxies, e.g. [172.16.0.0/12]",
            cx.loc("ssl_redirect"),
        ));
    }
    Some(hits)
}

pub(super) fn cookies_insecure(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if !cx.policy.cookies.secure {
        hits.push(hit(
            Severity::Error,
            format!(
                "secure_cookies is false in {}: session and CSRF cookies would travel over plain HTTP",
                cx.target()
            ),
            "remove `secure_cookies: false`: production marks every cookie Secure",
            cx.loc("secure_cookies"),
        ));
    }
    Some(hits)
}

pub(super) fn container_no_trusted_proxies(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.policy.runtime.container {
        return None;
    }
    let mut hits = Vec::new();
    if trusts_no_proxy(cx) {
        hits.push(hit(
            Severity::Warning,
            format!(
                "trusted_proxies is empty in a container ({}): X-Forwarded-Proto from the reverse proxy is never believed, so no request counts as HTTPS",
                container_reason(cx)
            ),
            "remove `trusted_proxies: []` (default: loopback + internal networks) or list your proxy's network, e.g. [172.16.0.0/12]",
            cx.loc("trusted_proxies"),
        ));
    }
    Some(hits)
}

pub(super) fn trusted_proxies_any(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if cx.policy.tls.trusted_proxies == ProxyTrust::Any {
        hits.push(hit(
            Severity::Warning,
            "trusted_proxies is \"*\": any peer can claim HTTPS with X-Forwarded-Proto",
            "list your reverse proxy's addresses, e.g. `trusted_proxies: [10.0.0.0/8]`; keep `*` only when nothing but the proxy can reach the service",
            cx.loc("trusted_proxies"),
        ));
    }
    Some(hits)
}
