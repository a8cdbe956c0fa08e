//! The Database rules: database password strength and exposure.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Ctx, Hit, hit};
use crate::checklist::Severity;
use crate::checklist::dburl::{DbUrl, parse_db_url};
use crate::checklist::password;

/// The database URL, parsed, when set.
pub(super) fn db_url(cx: &Ctx<'_>) -> Option<DbUrl> {
    let url = cx.cfg.database.as_ref()?.url.as_ref()?;
    Some(parse_db_url(url.expose()))
}

/// File-backed databases have no host and no password.
fn is_file_database(url: &DbUrl) -> bool {
    url.scheme.starts_with("sqlite")
}

const DB_PASSWORD_FIX: &str = "generate a strong, unique password (e.g. `hardened secret-key`), set it on the database server and pass it through the environment (`password: ${DB_PASSWORD}` or `url: ${DATABASE_URL}`)";

pub(super) fn database_password_weak(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref()?;
    let url = db_url(cx);
    let mut hits = Vec::new();
    let user = db
        .user
        .clone()
        .or_else(|| url.as_ref().and_then(|u| u.user.clone()));
    let mut candidates: Vec<(&str, &str, String)> = Vec::new();
    if let Some(pw) = db.password.as_ref().map(|p| p.expose().to_owned()) {
        candidates.push(("database.password", "database.password", pw));
    }
    if let Some(pw) = url.as_ref().and_then(|u| u.password.clone()) {
        candidates.push(("the password in database.url", "database.url", pw));
    }
    for (what, key, pw) in candidates {
        if let Some(why) = password::weakness(&pw, user.as_deref(), db.name.as_deref()) {
            hits.push(hit(
                Severity::Error,
                format!("{what} is weak: {why}"),
                DB_PASSWORD_FIX,
                cx.loc(key).or_else(|| cx.loc("database")),
            ));
        }
    }
    Some(hits)
}

/// Whether an address is reachable from the internet (not private, loopback, link-local,
/// shared or one of the configured internal networks).
fn is_public(ip: IpAddr, internal: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    // Link-local (IPv4 and IPv6) and shared address space (RFC 6598, CGNAT).
    let special = ["169.254.0.0/16", "100.64.0.0/10", "fe80::/10"]
        .iter()
        .filter_map(|n| n.parse::<IpNet>().ok());
    !internal
        .iter()
        .copied()
        .chain(special)
        .any(|n| n.contains(&ip))
}

pub(super) fn database_host_public(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref()?;
    let internal = &cx.policy.internal_networks;
    let mut hosts: Vec<(&str, String)> = db
        .host
        .iter()
        .map(|h| ("database.host", h.clone()))
        .collect();
    if let Some(url) = db_url(cx) {
        hosts.extend(url.hosts.into_iter().map(|h| ("database.url", h)));
    }
    let mut hits = Vec::new();
    for (key, host) in hosts {
        let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = bare.parse::<IpAddr>() else {
            continue;
        };
        let what = if ip.is_unspecified() {
            "the wildcard address (every interface)"
        } else if is_public(ip, internal) {
            "a public IP address"
        } else {
            continue;
        };
        hits.push(hit(
            Severity::Warning,
            format!("{key}: the database host {bare} is {what}"),
            "keep the database on a private network (a Docker network, a VPC, 10.0.0.0/8) and connect by its private address or service name; never publish its port to the internet",
            cx.loc(key).or_else(|| cx.loc("database")),
        ));
    }
    Some(hits)
}

pub(super) fn database_no_password(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref()?;
    let url = db_url(cx);
    if url.as_ref().is_some_and(is_file_database) {
        return None;
    }
    let has_password = db.password.as_ref().is_some_and(|p| !p.expose().is_empty())
        || url.as_ref().is_some_and(|u| u.password.is_some());
    let mut hits = Vec::new();
    if !has_password {
        hits.push(hit(
            Severity::Info,
            "the database connection has no password (neither database.password nor one in database.url)",
            "make sure the database requires authentication: a password through the environment (`password: ${DB_PASSWORD}`), IAM or client certificates",
            cx.loc("database"),
        ));
    }
    Some(hits)
}

#[cfg(test)]
pub(crate) fn host_is_public(s: &str) -> bool {
    s.parse::<IpAddr>()
        .is_ok_and(|ip| is_public(ip, &crate::policy::default_internal_networks()))
}
