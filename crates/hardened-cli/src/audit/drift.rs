//! Drift against `--config`: what the running site does that the configuration's
//! policy (derived by the library, as `hardened serve` derives it) says it must not.

use hardened::Security;
use http::{HeaderValue, Request};

use super::client::Resp;
use super::observatory::{Retrieval, parse_hsts};
use super::probes::{CorsSeen, Evidence, Finding, Severity};

fn drift(title: String, severity: Severity, evidence: Evidence, fix: String) -> Finding {
    Finding {
        id: "policy-drift",
        severity,
        title,
        evidence,
        fix,
    }
}

/// Whether the policy refuses `Host: host` (its Host check alone).
fn refuses_host(security: &Security, host: &str) -> bool {
    let Ok(req) = Request::get("/").header("host", host).body(()) else {
        return false;
    };
    let (parts, ()) = req.into_parts();
    let checks = hardened::Checks::NONE.with_host(true);
    security.decide_with(&parts, checks).rejection().is_some()
}

/// The headers the policy sets on every https response, with their expected value
/// (`None`: any value).
fn policy_headers(security: &Security) -> Vec<(&'static str, Option<String>)> {
    let h = &security.policy().headers;
    let mut out: Vec<(&'static str, Option<String>)> = Vec::new();
    if h.content_type_nosniff {
        out.push(("x-content-type-options", Some("nosniff".to_owned())));
    }
    if let Some(f) = h.x_frame_options {
        out.push(("x-frame-options", Some(f.as_str().to_owned())));
    }
    if let Some(r) = h.referrer_policy {
        out.push(("referrer-policy", Some(r.as_str().to_owned())));
    }
    if let Some(c) = h.cross_origin_opener_policy {
        out.push(("cross-origin-opener-policy", Some(c.as_str().to_owned())));
    }
    if let Some(c) = h.cross_origin_resource_policy {
        out.push(("cross-origin-resource-policy", Some(c.as_str().to_owned())));
    }
    if let Some(c) = h.cross_origin_embedder_policy {
        out.push(("cross-origin-embedder-policy", Some(c.as_str().to_owned())));
    }
    if let Some(x) = h.xss_protection {
        out.push(("x-xss-protection", Some(x.as_str().to_owned())));
    }
    if h.content_security_policy.is_some() {
        out.push(("content-security-policy", None));
    }
    if h.permissions_policy.is_some() {
        out.push(("permissions-policy", None));
    }
    out
}

/// The drift findings.
pub(crate) fn findings(
    security: &Security,
    r: &Retrieval,
    cors: &[CorsSeen],
    host_probe: Option<&(u16, Evidence)>,
    config: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let fix_of = |what: &str| {
        format!(
            "make the deployment serve what {config} derives ({what}), or change the configuration if the site is right"
        )
    };

    // Origins the site allowed that the policy does not.
    for s in cors.iter().filter(|s| s.allowed) {
        let Ok(v) = HeaderValue::from_str(&s.origin) else {
            continue;
        };
        if !security.allows_cors_origin(&v) {
            out.push(drift(
                format!(
                    "the site allows the origin {} by CORS; the policy does not",
                    s.origin
                ),
                Severity::High,
                s.evidence.clone(),
                fix_of("CORS origins from `security_domains`"),
            ));
        }
    }

    // A host the policy refuses, answered 2xx.
    if let Some((status, e)) = host_probe
        && (200..300).contains(status)
        && refuses_host(security, "evil.test")
    {
        out.push(drift(
            format!("Host: evil.test was answered {status}; the policy refuses that host"),
            Severity::High,
            e.clone(),
            fix_of("allowed hosts from `security_domains`"),
        ));
    }

    // HSTS and headers on the https response.
    let Some(https) = r.https.response() else {
        return out;
    };
    let request = format!("GET {}", https.url);
    let on_https = |resp: &Resp, names: &[&str]| Evidence {
        request: request.clone(),
        response: resp.describe(names),
    };
    if let Some(want) = &security.policy().tls.hsts {
        let got = https
            .resp
            .first("strict-transport-security")
            .and_then(parse_hsts);
        let weaker = match &got {
            None => Some("missing".to_owned()),
            Some(h) if h.max_age.unwrap_or(0) < i64::try_from(want.seconds).unwrap_or(i64::MAX) => {
                Some(format!(
                    "max-age {} below the policy's {}",
                    h.max_age.unwrap_or(0),
                    want.seconds
                ))
            }
            Some(h) if want.include_subdomains && !h.include_subdomains => {
                Some("without the policy's includeSubDomains".to_owned())
            }
            Some(h) if want.preload && !h.preload => {
                Some("without the policy's preload".to_owned())
            }
            Some(_) => None,
        };
        if let Some(w) = weaker {
            out.push(drift(
                format!("HSTS is weaker than the policy's: {w}"),
                Severity::High,
                on_https(&https.resp, &["strict-transport-security"]),
                fix_of("`hsts: {seconds, include_subdomains, preload}`"),
            ));
        }
    }
    for (name, value) in policy_headers(security) {
        let got = https.resp.first(name);
        let wrong = match (&value, got) {
            (_, None) => true,
            (Some(v), Some(g)) => !g.trim().eq_ignore_ascii_case(v),
            (None, Some(_)) => false,
        };
        if wrong {
            out.push(drift(
                match got {
                    None => format!("the policy sets {name}; the site does not send it"),
                    Some(g) => format!(
                        "{name} is `{g}`; the policy sets `{}`",
                        value.as_deref().unwrap_or("")
                    ),
                },
                Severity::Medium,
                on_https(&https.resp, &[name]),
                fix_of("the `headers:` section"),
            ));
        }
    }
    out
}
