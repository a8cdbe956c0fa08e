//! Typing merged YAML nodes into a [`Config`], collecting every problem.
//!
//! This module holds the top-level keys; `values` types single values and lists,
//! `sections` the nested mappings (`hsts`, `headers`, `database`, `app`), `suggest`
//! the close matches offered for misspelt keys and values.

mod fetch;
mod sections;
pub(crate) use sections::{DATABASE_KEYS, HEADER_KEYS, HSTS_KEYS};
mod routes;
pub(crate) use routes::{ROUTE_CORS_KEYS, ROUTE_KEYS};
mod reports;
pub(crate) use reports::REPORTS_KEYS;
mod suggest;
mod values;

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::node::{Node, Value};
use super::problem::{Problem, ProblemKind};
use super::{
    Config, DockerMode, Environment, OriginRegex, ReportOnly, Role, Secret, TrustedProxies,
    parse_bool, url_origin,
};
use crate::domain;
pub(crate) use suggest::{ENVIRONMENT_FIX, edit_distance};
use suggest::{closest_key, derived_setting};

/// Keys a config file may hold.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "environment",
    "debug",
    "role",
    "secret_key",
    "security_domains",
    "ssl_redirect",
    "cors_allow_headers",
    "cors_allow_methods",
    "cors_preflight_max_age",
    "cors_expose_headers",
    "cors_allowed_origin_regexes",
    "api_url",
    "site_url",
    "service_urls",
    "docker",
    "internal_networks",
    "trusted_proxies",
    "health_check_paths",
    "csrf_exempt_paths",
    "hsts",
    "secure_cookies",
    "session_cookie_name",
    "cookies",
    "headers",
    "report_only",
    "fetch_metadata",
    "database",
    "app",
    "gateway",
    "routes",
    "reports",
];

/// The keys of `cookies:`.
pub(crate) const COOKIE_KEYS: &[&str] = &["session_name", "csrf_name"];

/// Types merged nodes into a [`Config`], collecting every problem.
pub(crate) struct Typer {
    pub(crate) problems: Vec<Problem>,
    /// Top-level keys set by an environment variable (in the process environment or
    /// `.env`), with the variable's name: their fixes say `set NAME=...`.
    pub(crate) vars: BTreeMap<String, String>,
}

impl Typer {
    /// Types a merged top-level mapping. Unknown keys and wrong types become problems.
    pub(crate) fn config(&mut self, map: &BTreeMap<String, (Node, Node)>) -> Config {
        let mut cfg = Config::default();
        let mut env_explicit = None;
        let mut debug = None;
        for (key, (key_node, n)) in map {
            cfg.sources.insert(key.clone(), n.source.clone());
            if matches!(
                key.as_str(),
                "database" | "app" | "hsts" | "headers" | "cookies" | "reports"
            ) && let Value::Map(entries) = &n.value
            {
                for (k, v) in entries {
                    if let Value::Str(name) = &k.value {
                        cfg.sources
                            .insert(format!("{key}.{name}"), v.source.clone());
                    }
                }
            }
            match key.as_str() {
                "environment" => {
                    if let Some(s) = self.string(n, key, "production") {
                        match Environment::parse(&s) {
                            Some(e) => env_explicit = Some(e),
                            None => self.problem(
                                ProblemKind::UnknownEnvironment,
                                n,
                                key,
                                format!("unknown environment {s:?}"),
                                ENVIRONMENT_FIX,
                            ),
                        }
                    }
                }
                "debug" => debug = self.bool(n, key),
                "role" => match &n.value {
                    Value::Null => {}
                    Value::Str(s) if Role::parse(s).is_some() => {
                        cfg.role = Role::parse(s).unwrap_or_default();
                    }
                    _ => self.not_one_of(n, key, "app or gateway", &["app", "gateway"]),
                },
                "secret_key" => match &n.value {
                    Value::Null => {}
                    Value::Str(s) => cfg.secret_key = Some(Secret::new(s.clone())),
                    _ => self.wrong_type(n, key, "a string", "${SECRET_KEY}"),
                },
                "security_domains" => {
                    let mut seen = std::collections::HashSet::new();
                    for (i, (s, item)) in self
                        .strings(n, key, "[example.com, api.example.com]")
                        .into_iter()
                        .enumerate()
                    {
                        match domain::parse_entry(&s) {
                            Ok(e) => {
                                if seen.insert(e.clone()) {
                                    // Where each kept entry was written, for findings
                                    // about that entry: `security_domains[<index>]`.
                                    cfg.sources.insert(
                                        format!("{key}[{}]", cfg.security_domains.len()),
                                        item.source.clone(),
                                    );
                                    cfg.security_domains.push(e);
                                }
                            }
                            Err(e) => {
                                let k = format!("{key}[{i}]");
                                self.problems.push(Problem::domain(
                                    &k,
                                    &s,
                                    &e,
                                    Some(item.source.clone()),
                                ));
                            }
                        }
                    }
                }
                "ssl_redirect" => {
                    cfg.ssl_redirect = self.bool_or_null(n, key, "a reverse proxy terminates TLS")
                }
                "cors_allow_headers" => {
                    let mut v = Vec::new();
                    for (i, (s, item)) in self
                        .strings(n, key, "[accept, content-type]")
                        .into_iter()
                        .enumerate()
                    {
                        if http::HeaderName::from_bytes(s.trim().as_bytes()).is_ok() {
                            v.push(s.trim().to_ascii_lowercase());
                        } else {
                            self.problem(
                                ProblemKind::InvalidHeaderName,
                                &item,
                                &format!("{key}[{i}]"),
                                format!("{s:?} is not a valid header name"),
                                "use header names such as `content-type` or `x-api-key`",
                            );
                        }
                    }
                    cfg.cors_allow_headers = v;
                }
                "cors_expose_headers" => {
                    let mut v = Vec::new();
                    for (i, (s, item)) in self
                        .strings(n, key, "[x-request-id, content-disposition]")
                        .into_iter()
                        .enumerate()
                    {
                        if http::HeaderName::from_bytes(s.trim().as_bytes()).is_ok() {
                            v.push(s.trim().to_ascii_lowercase());
                        } else {
                            self.problem(
                                ProblemKind::InvalidHeaderName,
                                &item,
                                &format!("{key}[{i}]"),
                                format!("{s:?} is not a valid header name"),
                                "use header names such as `x-request-id` or `content-disposition`",
                            );
                        }
                    }
                    cfg.cors_expose_headers = v;
                }
                "cors_allow_methods" => {
                    let mut v = Vec::new();
                    for (i, (s, item)) in
                        self.strings(n, key, "[GET, POST]").into_iter().enumerate()
                    {
                        if http::Method::from_bytes(s.trim().as_bytes()).is_ok() {
                            v.push(s.trim().to_ascii_uppercase());
                        } else {
                            self.problem(
                                ProblemKind::InvalidMethod,
                                &item,
                                &format!("{key}[{i}]"),
                                format!("{s:?} is not a valid HTTP method"),
                                "use methods such as GET, POST, PUT, PATCH, DELETE",
                            );
                        }
                    }
                    cfg.cors_allow_methods = v;
                }
                "cors_preflight_max_age" => {
                    if let Some(v) = self.u64(n, key, "86400") {
                        cfg.cors_preflight_max_age = v;
                    }
                }
                "cors_allowed_origin_regexes" => {
                    for (i, (s, item)) in self
                        .strings(n, key, "['^https://\\w+\\.example\\.com$']")
                        .into_iter()
                        .enumerate()
                    {
                        match OriginRegex::new(&s) {
                            Ok(re) => {
                                cfg.cors_allowed_origin_regexes.push(s);
                                cfg.compiled_origin_regexes.push(re);
                            }
                            Err(e) => self.problem(
                                ProblemKind::InvalidRegex,
                                &item,
                                &format!("{key}[{i}]"),
                                format!("invalid regex: {e}"),
                                "fix the regular expression (anchor it with ^...$)",
                            ),
                        }
                    }
                }
                "api_url" => cfg.api_url = self.url_origin(n, key),
                "site_url" => cfg.site_url = self.url_origin(n, key),
                "service_urls" => {
                    for (i, (s, item)) in self
                        .strings(n, key, "[http://backend:8000]")
                        .into_iter()
                        .enumerate()
                    {
                        match url_origin(&s) {
                            Ok(o) => cfg.service_urls.push(o),
                            Err(e) => self.problem(
                                ProblemKind::InvalidUrl,
                                &item,
                                &format!("{key}[{i}]"),
                                e,
                                "write a URL such as `http://backend:8000`",
                            ),
                        }
                    }
                }
                "docker" => {
                    cfg.docker = match &n.value {
                        Value::Bool(true) => DockerMode::On,
                        Value::Bool(false) => DockerMode::Off,
                        Value::Null => DockerMode::Auto,
                        Value::Str(s) if s.trim().eq_ignore_ascii_case("auto") => DockerMode::Auto,
                        Value::Str(s) => match parse_bool(s) {
                            Some(true) => DockerMode::On,
                            Some(false) => DockerMode::Off,
                            None => {
                                self.not_one_of(
                                    n,
                                    key,
                                    "auto, true or false",
                                    &["auto", "true", "false"],
                                );
                                DockerMode::Auto
                            }
                        },
                        _ => {
                            self.not_one_of(
                                n,
                                key,
                                "auto, true or false",
                                &["auto", "true", "false"],
                            );
                            DockerMode::Auto
                        }
                    }
                }
                "internal_networks" => {
                    let nets = self.networks(n, key);
                    for (i, net) in nets.iter().enumerate() {
                        let too_wide = match net {
                            IpNet::V4(v) => v.prefix_len() < 8,
                            IpNet::V6(v) => v.prefix_len() < 7,
                        };
                        if too_wide {
                            self.problem(
                                ProblemKind::NetworkTooWide,
                                n,
                                &format!("{key}[{i}]"),
                                format!("{net} covers public addresses, not an internal network"),
                                "list private ranges only, e.g. `100.64.0.0/10` or `10.20.0.0/16`",
                            );
                        }
                    }
                    cfg.internal_networks = nets;
                }
                "trusted_proxies" => {
                    let any = matches!(&n.value, Value::Str(s) if s.trim() == "*")
                        || matches!(&n.value, Value::Seq(items) if items.iter().any(|i| matches!(&i.value, Value::Str(s) if s.trim() == "*")));
                    cfg.trusted_proxies = if any {
                        Some(TrustedProxies::Any)
                    } else if matches!(n.value, Value::Null) {
                        None
                    } else {
                        let nets = self.networks(n, key);
                        // `0.0.0.0/0` or `::/0` trust every peer: the same as `"*"`, and
                        // flagged the same way.
                        if nets.iter().any(|net| net.prefix_len() == 0) {
                            Some(TrustedProxies::Any)
                        } else {
                            Some(TrustedProxies::Networks(nets))
                        }
                    };
                }
                "health_check_paths" => cfg.health_check_paths = self.path_list(n, key),
                "csrf_exempt_paths" => cfg.csrf_exempt_paths = self.path_list(n, key),
                "hsts" => cfg.hsts = self.hsts(n),
                "secure_cookies" => {
                    cfg.secure_cookies = self.bool_or_null(n, key, "on in production and staging")
                }
                "session_cookie_name" => {
                    if let Some(s) = self.string(n, key, "sessionid") {
                        if http::HeaderName::from_bytes(s.as_bytes()).is_ok() {
                            cfg.session_cookie_name = s;
                        } else {
                            self.problem(
                                ProblemKind::InvalidCookieName,
                                n,
                                key,
                                "not a valid cookie name".into(),
                                "use letters, digits, `-` and `_`",
                            );
                        }
                    }
                }
                "headers" => cfg.headers = self.headers(n),
                "report_only" => cfg.report_only = self.report_only(n, key),
                "fetch_metadata" => cfg.fetch_metadata = self.fetch_metadata(n, key),
                "cookies" => {
                    const KNOWN: &[&str] = COOKIE_KEYS;
                    for (k, kn, v) in self.sub_map(n, "cookies") {
                        let path = format!("cookies.{k}");
                        let slot = match k.as_str() {
                            "session_name" => &mut cfg.session_cookie_name,
                            "csrf_name" => &mut cfg.csrf_cookie_name,
                            _ => {
                                self.unknown_sub(kn, &path, KNOWN);
                                continue;
                            }
                        };
                        if let Some(s) = self.string(v, &path, "sessionid") {
                            if http::HeaderName::from_bytes(s.as_bytes()).is_ok() {
                                *slot = s;
                            } else {
                                self.problem(
                                    ProblemKind::InvalidCookieName,
                                    v,
                                    &path,
                                    "not a valid cookie name".into(),
                                    "use letters, digits, `-` and `_`",
                                );
                            }
                        }
                    }
                }
                "database" => cfg.database = self.database(n),
                "app" => cfg.app = self.app(n),
                "gateway" => cfg.gateway = self.gateway(n, &mut cfg.sources),
                "routes" => cfg.routes = self.routes(n),
                "reports" => cfg.reports = self.reports(n),
                _ => {
                    let suggestion = closest_key(key);
                    let fix = if let Some(derived) = derived_setting(key) {
                        format!(
                            "remove the key: {derived} derive from `security_domains`; list your domains there, e.g. `security_domains: [example.com, https://app.example.com]` (see them with `hardened show`)"
                        )
                    } else {
                        match suggestion {
                            Some(k) => format!("did you mean `{k}`? Remove or rename the key"),
                            None => {
                                format!("remove the key; known keys: {}", KNOWN_KEYS.join(", "))
                            }
                        }
                    };
                    self.problems.push(
                        Problem::new(ProblemKind::UnknownKey, key, "unknown key", fix)
                            .at(key_node.source.clone()),
                    );
                }
            }
        }
        // Leaving CSRF to the upstream is for a file only the gateway reads: an
        // application reading it would lose its own CSRF check.
        if cfg.gateway.csrf == Some(crate::config::GatewayCsrf::Upstream)
            && cfg.role != Role::Gateway
            && let Some(src) = cfg.sources.get("gateway.csrf")
        {
            self.problems.push(
                Problem::new(
                    ProblemKind::MissingValue,
                    "role",
                    "`gateway.csrf: upstream` is for a file only the gateway reads, and `role: gateway` is not set",
                    "add `role: gateway` (only `hardened serve` reads this file), or remove `gateway.csrf`",
                )
                .at(src.clone()),
            );
        }
        cfg.debug = debug.unwrap_or(false);
        cfg.environment = env_explicit.unwrap_or(if cfg.debug {
            Environment::Development
        } else {
            Environment::Production
        });
        cfg
    }

    /// `report_only:` (top level or a route's): `true`, or a list of checks.
    pub(super) fn report_only(&mut self, n: &Node, key: &str) -> ReportOnly {
        match &n.value {
            Value::Null => ReportOnly::NONE,
            Value::Bool(true) => ReportOnly::ALL,
            Value::Bool(false) => ReportOnly::NONE,
            Value::Str(s) if parse_bool(s).is_some() => {
                if parse_bool(s) == Some(true) {
                    ReportOnly::ALL
                } else {
                    ReportOnly::NONE
                }
            }
            _ => {
                let mut r = ReportOnly::NONE;
                for (i, (s, item)) in self.strings(n, key, "[host, csrf]").into_iter().enumerate() {
                    if !r.set(&s) {
                        self.problem(
                            ProblemKind::WrongType,
                            &item,
                            &format!("{key}[{i}]"),
                            format!("{s:?} is not a check that can report only"),
                            "use true, or a list of host, tls, csrf, websocket (CORS always enforces)",
                        );
                    }
                }
                r
            }
        }
    }
}
