//! The table: aligned, human-readable sections.

use std::io::{self, Write};

use hardened::policy::ProxyTrust;

use super::model::{LOOPBACK_HOSTS, Model, strings};
use crate::term::{DockerSetting, Table, yes_no};

/// Width of the key column.
const KEY_WIDTH: usize = 28;

/// The loopback hosts on http and https, as one value.
fn loopback_hosts() -> String {
    format!("http(s)://{}", LOOPBACK_HOSTS.join(", "))
}

pub(super) fn render(m: &Model<'_>, out: &mut dyn Write) -> io::Result<()> {
    let p = m.policy;
    let mut t = Table::new(out, KEY_WIDTH);
    writeln!(
        t.out,
        "hardened security policy: {} ({})",
        p.environment,
        if m.strict() { "strict" } else { "relaxed" }
    )?;
    let files = if m.files.is_empty() {
        vec!["built-in development defaults".to_owned()]
    } else {
        m.files.clone()
    };
    t.row("environment from", &m.environment_reason)?;
    t.list("config", &files)?;
    t.row(".env", m.dotenv.as_deref().unwrap_or("-"))?;
    let debug = match (p.debug, m.strict()) {
        (true, true) => "on in config, ignored (never weakens production)",
        (true, false) => "on",
        (false, _) => "off",
    };
    t.row("debug", debug)?;
    t.row(
        "secret key",
        if m.secret_key_set { "set" } else { "not set" },
    )?;
    if p.report_only.any() {
        t.row(
            "report-only",
            &format!(
                "{} (would-be rejections are logged and let through)",
                p.report_only.names().join(", ")
            ),
        )?;
    }

    t.section("Runtime")?;
    t.row(
        "container rules",
        &format!(
            "{} (docker: {})",
            if p.runtime.container { "on" } else { "off" },
            DockerSetting(p.runtime.docker_mode)
        ),
    )?;
    t.row("docker detected", yes_no(p.runtime.docker))?;
    t.row("kubernetes detected", yes_no(p.runtime.kubernetes))?;
    t.row("hostname", p.runtime.hostname.as_deref().unwrap_or("-"))?;
    t.row("DOCKER=false override", yes_no(m.docker_disabled_by_env))?;
    t.list("signals", &p.runtime.signals)?;

    t.section("Hosts (ALLOWED_HOSTS)")?;
    t.row("any host (*)", yes_no(p.hosts.any))?;
    t.list("exact", &p.hosts.exact)?;
    t.list("domain and subdomains", &p.hosts.suffixes)?;
    t.list("IP hosts in networks", &strings(&p.hosts.networks))?;

    t.section("CORS")?;
    t.list("allowed origins", &strings(&p.cors.origins))?;
    t.list("allowed subdomains", &strings(&p.cors.subdomains))?;
    t.row(
        "loopback, any port",
        &if p.cors.loopback_any_port {
            loopback_hosts()
        } else {
            "-".to_owned()
        },
    )?;
    let regexes: Vec<String> = p
        .cors
        .origin_regexes
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    t.list("origin regexes", &regexes)?;
    t.row("credentials", yes_no(p.cors.allow_credentials))?;
    t.row("allow headers", &p.cors.allow_headers.join(", "))?;
    t.row("allow methods", &p.cors.allow_methods.join(", "))?;
    t.row("preflight max-age", &format!("{} s", p.cors.max_age))?;

    t.section("CSRF (CSRF_TRUSTED_ORIGINS)")?;
    t.list("trusted origins", &strings(&p.csrf.trusted_origins))?;
    t.list("trusted subdomains", &strings(&p.csrf.subdomains))?;
    let mut loopback: Vec<String> = p
        .csrf
        .loopback_port_ranges
        .iter()
        .map(|(a, b)| format!("ports {a}-{b}"))
        .collect();
    if !p.csrf.loopback_ports.is_empty() {
        loopback.push(format!(
            "ports {}",
            strings(&p.csrf.loopback_ports).join(", ")
        ));
    }
    if !loopback.is_empty() {
        loopback.push(format!("on {}", loopback_hosts()));
    }
    t.list("loopback", &loopback)?;
    t.list("exempt paths", &p.csrf.exempt_paths)?;
    t.row(
        "fetch metadata",
        match p.fetch_metadata.mode {
            hardened::config::FetchMetadata::Enforce => {
                "enforce (cross-site requests other than navigations are refused, unless from an allowed origin)"
            }
            hardened::config::FetchMetadata::Report => {
                "report (cross-site requests other than navigations are logged, unless from an allowed origin)"
            }
            _ => "off",
        },
    )?;

    t.section("TLS")?;
    t.row(
        "redirect to https",
        if p.tls.ssl_redirect {
            "yes (301)"
        } else if m.strict() {
            "no (a reverse proxy terminates TLS)"
        } else {
            "no"
        },
    )?;
    match &p.tls.proxy_ssl_header {
        Some(h) => t.row("secure when", &h.to_string())?,
        None => t.row("secure when", "the connection is TLS")?,
    }
    let proxies = match &p.tls.trusted_proxies {
        ProxyTrust::Any => vec!["* (any peer)".to_owned()],
        ProxyTrust::Networks(n) => strings(n),
    };
    t.list("trusted proxies", &proxies)?;
    t.row(
        "HSTS",
        &p.tls
            .hsts
            .as_ref()
            .map_or_else(|| "off".to_owned(), |h| h.header_value()),
    )?;

    t.section("Cookies")?;
    t.row(
        "Secure",
        if p.cookies.secure {
            "added to every Set-Cookie"
        } else {
            "as set by the application"
        },
    )?;
    t.row(
        &format!("session ({})", p.cookies.session_cookie_name),
        if p.cookies.harden_session_cookie {
            "HttpOnly, SameSite=Lax"
        } else {
            "as set by the application"
        },
    )?;

    t.section("Response headers")?;
    for (name, value) in m.response_headers() {
        t.row(name, &value)?;
    }

    t.section("Health checks (no host check, no TLS redirect)")?;
    t.list("paths", &p.health_check_paths)?;

    t.section("Gateway (hardened serve)")?;
    for (key, value) in m.gateway.rows() {
        t.row(&key, &value)?;
    }

    let routes = super::routes::routes(p);
    if !routes.is_empty() {
        t.section("Routes (the most specific pattern wins)")?;
        for r in &routes {
            t.row(&r.path, &r.defined_at)?;
            for (k, v) in &r.overrides {
                t.row(&format!("  {k}"), v)?;
            }
            if let Some(headers) = &r.headers {
                let list: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                t.list("  response headers", &list)?;
            }
            if let Some(c) = &r.cors {
                t.row("  CORS", &c.line())?;
            }
        }
    }
    Ok(())
}
