//! The Domains rules: `security_domains` and the CORS origin regexes.

use super::configuration::problem_hits;
use super::{Ctx, Hit, hit};
use crate::checklist::{Location, RuleId, Severity};
use crate::config::Config;
use crate::domain::{DomainEntry, Origin, Scheme};
use crate::policy::validate::{
    CORS_REGEX_FIX, CSRF_EXEMPT_FIX, HEALTH_FIX, path_matches_foreign, regex_admits_foreign,
};

pub(super) fn domains_invalid(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, RuleId::DomainsInvalid)
}

const DOMAINS_FIX: &str =
    "add your domains to security_domains, e.g. `security_domains: [example.com, api.example.com]`";

pub(super) fn domains_empty(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if cx.cfg.security_domains.is_empty() && cx.cfg.api_url.is_none() && cx.cfg.site_url.is_none() {
        hits.push(hit(
            Severity::Error,
            format!(
                "security_domains is empty in {}: no request could be served",
                cx.target()
            ),
            DOMAINS_FIX,
            cx.loc("security_domains"),
        ));
    }
    Some(hits)
}

/// Where `security_domains` entry `i` was written, else where the list was.
fn entry_loc(cx: &Ctx<'_>, i: usize) -> Option<Location> {
    cx.loc(&format!("security_domains[{i}]"))
        .or_else(|| cx.loc("security_domains"))
}

pub(super) fn domains_wildcard(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if let Some(i) = cx
        .cfg
        .security_domains
        .iter()
        .position(|d| *d == DomainEntry::Any)
    {
        hits.push(hit(
            Severity::Error,
            format!(
                "security_domains contains the wildcard `*` in {}: every host would be accepted",
                cx.target()
            ),
            "list your real domains instead of `*`; for a domain and its subdomains write `.example.com`",
            entry_loc(cx, i),
        ));
    }
    Some(hits)
}

/// Every configured origin with the key it was configured under and where it was
/// written (each `security_domains` entry at its own line).
fn named_origins<'a>(cx: &Ctx<'a>) -> Vec<(&'static str, &'a Origin, Option<Location>)> {
    let cfg: &'a Config = cx.cfg;
    let mut v: Vec<(&'static str, &'a Origin, Option<Location>)> = cfg
        .security_domains
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match d {
            DomainEntry::Origin(o) => Some(("security_domains", o, entry_loc(cx, i))),
            _ => None,
        })
        .collect();
    v.extend(
        cfg.site_url
            .iter()
            .map(|o| ("site_url", o, cx.loc("site_url"))),
    );
    v.extend(
        cfg.api_url
            .iter()
            .map(|o| ("api_url", o, cx.loc("api_url"))),
    );
    v
}

pub(super) fn domains_http(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for (key, o, loc) in named_origins(cx) {
        if o.scheme == Scheme::Http && !o.host.is_loopback() {
            let https = Origin::new(Scheme::Https, o.host.clone(), o.port);
            hits.push(hit(
                Severity::Error,
                format!("{key} entry {o} is plain HTTP in {}", cx.target()),
                format!("serve it over HTTPS and write `{https}`; the guide requires HTTPS on all domains"),
                loc,
            ));
        }
    }
    for (i, d) in cx.cfg.security_domains.iter().enumerate() {
        if let DomainEntry::Subdomains {
            scheme: Scheme::Http,
            domain,
            ..
        } = d
        {
            hits.push(hit(
                Severity::Error,
                format!("security_domains entry {d} is plain HTTP in {}", cx.target()),
                format!("serve it over HTTPS and write `.{domain}`; the guide requires HTTPS on all domains"),
                entry_loc(cx, i),
            ));
        }
    }
    Some(hits)
}

pub(super) fn domains_localhost(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for (key, o, loc) in named_origins(cx) {
        if o.host.is_loopback() {
            hits.push(hit(
                Severity::Warning,
                format!("{key} lists the loopback origin {o} in {}", cx.target()),
                "remove it: production browsers never reach the service as localhost (health checks by IP work through health_check_paths)",
                loc,
            ));
        }
    }
    Some(hits)
}

pub(super) fn domains_ip_literal(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for (key, o, loc) in named_origins(cx) {
        if o.host.is_ip() && !o.host.is_loopback() {
            hits.push(hit(
                Severity::Warning,
                format!("{key} lists the IP address {} in {}", o.host, cx.target()),
                "list domain names; in Docker the internal networks are allowed automatically (export DOCKER=true if detection fails) and health_check_paths skip the host check",
                loc,
            ));
        }
    }
    Some(hits)
}

pub(super) fn cors_regex_any(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for re in &cx.policy.cors.origin_regexes {
        // Anchored: the narrowest reading. Matching a foreign origin even so means the
        // regex is too broad however it is applied.
        if let Some(o) = regex_admits_foreign(re) {
            hits.push(hit(
                cx.severity(),
                format!(
                    "cors_allowed_origin_regexes entry {:?} matches any origin, e.g. {o}",
                    re.as_str()
                ),
                CORS_REGEX_FIX,
                cx.loc("cors_allowed_origin_regexes"),
            ));
        }
    }
    Some(hits)
}

fn paths_all(cx: &Ctx<'_>, key: &str, list: &[String], what: &str, fix: &str) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for p in list {
        if let Some(m) = path_matches_foreign(p) {
            hits.push(hit(
                cx.severity(),
                format!("{key} entry {p:?} matches every path, e.g. {m:?}: {what}"),
                fix,
                cx.loc(key),
            ));
        }
    }
    Some(hits)
}

pub(super) fn csrf_exempt_all(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    paths_all(
        cx,
        "csrf_exempt_paths",
        &cx.cfg.csrf_exempt_paths,
        "every form post and API call skips the CSRF check",
        CSRF_EXEMPT_FIX,
    )
}

pub(super) fn health_check_all(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    paths_all(
        cx,
        "health_check_paths",
        &cx.cfg.health_check_paths,
        "the host check and the TLS redirect are off for every path",
        HEALTH_FIX,
    )
}

/// The fix of a missing or stale Django settings fragment.
const DJANGO_SETTINGS_FIX: &str = "generate the fragment with `hardened show --format django > app/security_settings.py`, import it in settings.py (`from .security_settings import *`), name it in the config (`gateway: {django_settings: app/security_settings.py}`), and regenerate it whenever the config changes";

/// `gateway.csrf: upstream` hands CSRF to the application: the gateway then checks
/// nothing, so the application must enforce the origins this file derives (the
/// fragment of `show --format django`, current), and `csrf_exempt_paths` is dead
/// weight that would mislead a reader.
pub(super) fn csrf_upstream_unverified(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    use crate::checklist::DjangoSettingsFacts;
    if !cx.policy.csrf.upstream {
        // The gateway checks CSRF itself: nothing is left unverified.
        return Some(Vec::new());
    }
    let mut hits = Vec::new();
    let loc = cx
        .loc("gateway.django_settings")
        .or_else(|| cx.loc("gateway.csrf"));
    match (&cx.cfg.gateway.django_settings, &cx.facts.django_settings) {
        (None, _) => hits.push(hit(
            cx.severity(),
            "`gateway.csrf: upstream` leaves CSRF to the application, but no `gateway.django_settings` names the settings it enforces",
            DJANGO_SETTINGS_FIX,
            loc,
        )),
        (Some(_), None | Some(DjangoSettingsFacts::Current)) => {}
        (Some(path), Some(DjangoSettingsFacts::Unreadable(e))) => hits.push(hit(
            cx.severity(),
            format!(
                "`gateway.django_settings` {} cannot be read ({e}): nothing shows the application checks CSRF with the derived origins",
                path.display()
            ),
            DJANGO_SETTINGS_FIX,
            loc,
        )),
        (Some(path), Some(DjangoSettingsFacts::Stale { line, expected })) => hits.push(hit(
            cx.severity(),
            format!(
                "{} is not what this config derives now (line {line}: expected {expected:?}): the application checks CSRF with other origins than the gateway allows",
                path.display()
            ),
            DJANGO_SETTINGS_FIX,
            loc,
        )),
    }
    if !cx.cfg.csrf_exempt_paths.is_empty() {
        hits.push(hit(
            Severity::Warning,
            "csrf_exempt_paths has no effect while the application checks CSRF (`gateway.csrf: upstream`): the exemptions are its `@csrf_exempt` views",
            "remove csrf_exempt_paths; mark the views `@csrf_exempt` in Django, where they are declared once",
            cx.loc("csrf_exempt_paths"),
        ));
    }
    Some(hits)
}
