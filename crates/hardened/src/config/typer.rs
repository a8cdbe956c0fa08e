//! Typing merged YAML nodes into a [`Config`], collecting every problem.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::node::{Node, Value};
use super::problem::{Problem, ProblemKind, redact_userinfo};
use super::{
    AppSettings, Config, DatabaseConfig, DockerMode, Environment, HeaderOverride, HeadersConfig,
    HstsConfig, ReportOnly, Secret, TrustedProxies, parse_bool, parse_net, url_origin,
};
use crate::domain::{self, Origin};

/// Keys a config file may hold.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "environment",
    "debug",
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
    "database",
    "app",
    "gateway",
];

/// Types merged nodes into a [`Config`], collecting every problem.
pub(crate) struct Typer {
    pub(crate) problems: Vec<Problem>,
    /// Top-level keys set by an environment variable (in the process environment or
    /// `.env`), with the variable's name: their fixes say `set NAME=...`.
    pub(crate) vars: BTreeMap<String, String>,
}

impl Typer {
    fn problem(
        &mut self,
        kind: ProblemKind,
        n: &Node,
        key: &str,
        message: String,
        fix: impl Into<String>,
    ) {
        let value = if key.starts_with("secret_key")
            || key.contains("password")
            || key == "database.url"
            || key.starts_with("app.")
        {
            "[redacted]".to_owned()
        } else {
            match &n.value {
                Value::Str(v) => format!("{:?}", redact_userinfo(v)),
                _ => n.display(),
            }
        };
        self.problems.push(
            Problem::new(kind, key, message, fix)
                .with_value(value)
                .at(n.source.clone()),
        );
    }

    /// The environment variable that set this value (not `${VAR}` in a file).
    fn env_var_of(&self, n: &Node, key: &str) -> Option<String> {
        if !n.source.from_env {
            return None;
        }
        self.vars.get(key).cloned()
    }

    fn wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        let fix = match self.env_var_of(n, key) {
            Some(var) => format!("set {var}={}", example.trim_matches(['[', ']'])),
            None => format!("write it as `{key}: {example}`"),
        };
        self.problem(ProblemKind::WrongType, n, key, msg, fix);
    }

    /// A value that is neither of two words, e.g. `debug: flase`: names both, and the
    /// close one when the value is a misspelling.
    fn not_one_of(&mut self, n: &Node, key: &str, want: &str, choices: &[&str]) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        let guess = match &n.value {
            Value::Str(s) => {
                let s = s.trim().to_ascii_lowercase();
                choices
                    .iter()
                    .map(|c| (edit_distance(&s, c), *c))
                    .filter(|(d, _)| *d <= 2)
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, c)| c)
            }
            _ => None,
        };
        let fix = match (self.env_var_of(n, key), guess) {
            (Some(var), Some(g)) => format!("did you mean {var}={g}?"),
            (Some(var), None) => {
                let alts: Vec<String> = choices.iter().map(|c| format!("{var}={c}")).collect();
                format!("set {}", alts.join(" or "))
            }
            (None, Some(g)) => format!("did you mean `{key}: {g}`?"),
            (None, None) => {
                let alts: Vec<String> = choices.iter().map(|c| format!("`{key}: {c}`")).collect();
                format!("write {}", alts.join(" or "))
            }
        };
        self.problem(ProblemKind::WrongType, n, key, msg, fix);
    }

    fn bool(&mut self, n: &Node, key: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if parse_bool(s).is_some() => parse_bool(s),
            _ => {
                self.not_one_of(n, key, "true or false", &["true", "false"]);
                None
            }
        }
    }

    /// A boolean whose `null` means "the default", e.g. `ssl_redirect`.
    fn bool_or_null(&mut self, n: &Node, key: &str, null_means: &str) -> Option<bool> {
        match &n.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) if parse_bool(s).is_some() => parse_bool(s),
            _ => {
                let msg = format!("expected true, false or null, found {}", n.value.kind());
                let fix = match self.env_var_of(n, key) {
                    Some(var) => format!(
                        "set {var}=true or {var}=false, or unset it for the default ({null_means})"
                    ),
                    None => format!(
                        "write `{key}: null` ({null_means}), `{key}: true` or `{key}: false`"
                    ),
                };
                self.problem(ProblemKind::WrongType, n, key, msg, fix);
                None
            }
        }
    }

    fn string(&mut self, n: &Node, key: &str, example: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(n, key, "a string", example);
                None
            }
        }
    }

    fn u64(&mut self, n: &Node, key: &str, example: &str) -> Option<u64> {
        match &n.value {
            Value::Int(i) if *i >= 0 && *i <= i128::from(u64::MAX) => u64::try_from(*i).ok(),
            Value::Str(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(n, key, "a non-negative integer", example);
                None
            }
        }
    }

    /// A list of strings; a comma-separated string is accepted too (environment values).
    fn strings(&mut self, n: &Node, key: &str, example: &str) -> Vec<(String, Node)> {
        match &n.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match &item.value {
                    Value::Str(s) => Some((s.clone(), item.clone())),
                    // Numbers and such in a list of names: report, keep going.
                    _ => {
                        self.wrong_type(item, &format!("{key}[{i}]"), "a string", example);
                        None
                    }
                })
                .collect(),
            Value::Str(s) if n.source.from_env => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), n.clone()))
                .collect(),
            Value::Str(s) if !s.trim().is_empty() && !s.contains(['\n', '[', ']']) => {
                self.wrong_type(n, key, "a list of strings", &format!("[{}]", s.trim()));
                Vec::new()
            }
            _ => {
                self.wrong_type(n, key, "a list of strings", example);
                Vec::new()
            }
        }
    }

    fn url_origin(&mut self, n: &Node, key: &str) -> Option<Origin> {
        let s = self.string(n, key, "https://api.example.com")?;
        match url_origin(&s) {
            Ok(o) => Some(o),
            Err(e) => {
                let fix = format!("write a full URL such as `{key}: https://api.example.com`");
                self.problem(ProblemKind::InvalidUrl, n, key, e, fix);
                None
            }
        }
    }

    fn networks(&mut self, n: &Node, key: &str) -> Vec<IpNet> {
        let mut out = Vec::new();
        for (i, (s, item)) in self.strings(n, key, "[10.0.0.0/8]").into_iter().enumerate() {
            match parse_net(&s) {
                Some(net) => out.push(net),
                None => self.problem(
                    ProblemKind::InvalidNetwork,
                    &item,
                    &format!("{key}[{i}]"),
                    format!("{s:?} is not an IP address or CIDR network"),
                    "write a network such as `100.64.0.0/10`, `10.1.2.3` or `fd00::/8`",
                ),
            }
        }
        out
    }

    fn path_list(&mut self, n: &Node, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (s, item)) in self.strings(n, key, "[/healthz]").into_iter().enumerate() {
            match super::check::path_problem(&s) {
                None => out.push(s),
                Some((message, fix)) => self.problem(
                    ProblemKind::InvalidPath,
                    &item,
                    &format!("{key}[{i}]"),
                    message.into(),
                    fix,
                ),
            }
        }
        out
    }

    /// Types a merged top-level mapping. Unknown keys and wrong types become problems.
    pub(crate) fn config(&mut self, map: &BTreeMap<String, (Node, Node)>) -> Config {
        let mut cfg = Config::default();
        let mut env_explicit = None;
        let mut debug = None;
        for (key, (key_node, n)) in map {
            cfg.sources.insert(key.clone(), n.source.clone());
            if matches!(
                key.as_str(),
                "database" | "app" | "hsts" | "headers" | "cookies"
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
                        match regex::Regex::new(&s) {
                            Ok(_) => cfg.cors_allowed_origin_regexes.push(s),
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
                "report_only" => {
                    cfg.report_only = match &n.value {
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
                            for (i, (s, item)) in
                                self.strings(n, key, "[host, csrf]").into_iter().enumerate()
                            {
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
                "cookies" => {
                    const KNOWN: &[&str] = &["session_name", "csrf_name"];
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
        cfg.debug = debug.unwrap_or(false);
        cfg.environment = env_explicit.unwrap_or(if cfg.debug {
            Environment::Development
        } else {
            Environment::Production
        });
        cfg
    }

    fn sub_map<'a>(&mut self, n: &'a Node, key: &str) -> Vec<(String, &'a Node, &'a Node)> {
        match &n.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| match &k.value {
                    Value::Str(s) => Some((s.clone(), k, v)),
                    _ => {
                        self.wrong_type(k, key, "string keys", "{ name: value }");
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(n, key, "a mapping", "{ ... }");
                Vec::new()
            }
        }
    }

    fn unknown_sub(&mut self, k: &Node, path: &str, known: &[&str]) {
        self.problems.push(
            Problem::new(
                ProblemKind::UnknownKey,
                path,
                "unknown key",
                format!("remove the key; known keys here: {}", known.join(", ")),
            )
            .at(k.source.clone()),
        );
    }

    fn hsts(&mut self, n: &Node) -> HstsConfig {
        const KNOWN: &[&str] = &["seconds", "include_subdomains", "preload"];
        let mut h = HstsConfig::default();
        for (k, kn, v) in self.sub_map(n, "hsts") {
            let path = format!("hsts.{k}");
            match k.as_str() {
                "seconds" => h.seconds = self.u64(v, &path, "31536000"),
                "include_subdomains" => h.include_subdomains = self.bool(v, &path),
                "preload" => h.preload = self.bool(v, &path),
                _ => self.unknown_sub(kn, &path, KNOWN),
            }
        }
        h
    }

    fn headers(&mut self, n: &Node) -> HeadersConfig {
        const KNOWN: &[&str] = &[
            "content_security_policy",
            "content_security_policy_report_only",
            "permissions_policy",
            "cross_origin_opener_policy",
            "cross_origin_resource_policy",
            "cross_origin_embedder_policy",
            "referrer_policy",
            "x_frame_options",
        ];
        let mut h = HeadersConfig::default();
        for (k, kn, v) in self.sub_map(n, "headers") {
            let path = format!("headers.{k}");
            if !KNOWN.contains(&k.as_str()) {
                self.unknown_sub(kn, &path, KNOWN);
                continue;
            }
            let allowed: Option<&[&str]> = match k.as_str() {
                "cross_origin_opener_policy" => Some(&[
                    "same-origin",
                    "same-origin-allow-popups",
                    "unsafe-none",
                    "noopener-allow-popups",
                ]),
                "cross_origin_resource_policy" => {
                    Some(&["same-origin", "same-site", "cross-origin"])
                }
                "cross_origin_embedder_policy" => {
                    Some(&["require-corp", "credentialless", "unsafe-none"])
                }
                "referrer_policy" => Some(&[
                    "no-referrer",
                    "no-referrer-when-downgrade",
                    "origin",
                    "origin-when-cross-origin",
                    "same-origin",
                    "strict-origin",
                    "strict-origin-when-cross-origin",
                    "unsafe-url",
                ]),
                "x_frame_options" => Some(&["DENY", "SAMEORIGIN"]),
                _ => None,
            };
            let csp = k.starts_with("content_security_policy");
            let value = match &v.value {
                Value::Null => HeaderOverride::Remove,
                Value::Map(entries) if csp => match self.csp_map(entries, &path) {
                    Some(s) => HeaderOverride::Set(s),
                    None => continue,
                },
                Value::Str(s) => HeaderOverride::Set(s.trim().to_owned()),
                _ => {
                    let example = if csp {
                        "\"default-src 'self'\" (or a map of directive: [sources])"
                    } else {
                        "a value, or null to remove the header"
                    };
                    self.wrong_type(v, &path, "a string or null", example);
                    continue;
                }
            };
            if let HeaderOverride::Set(s) = &value {
                if let Some(allowed) = allowed {
                    let Some(canon) = allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) else {
                        self.problem(
                            ProblemKind::InvalidHeaderValue,
                            v,
                            &path,
                            format!("{s:?} is not a value this header takes"),
                            format!("use one of: {} (or null to remove it)", allowed.join(", ")),
                        );
                        continue;
                    };
                    self.set_header(&mut h, &k, HeaderOverride::Set((*canon).to_owned()));
                    continue;
                }
                if s.is_empty() || http::HeaderValue::from_str(s).is_err() {
                    self.problem(
                        ProblemKind::InvalidHeaderValue,
                        v,
                        &path,
                        "not a valid HTTP header value".into(),
                        "use visible ASCII on one line, or null to remove the header",
                    );
                    continue;
                }
            }
            self.set_header(&mut h, &k, value);
        }
        h
    }

    fn set_header(&mut self, h: &mut HeadersConfig, key: &str, value: HeaderOverride) {
        let slot = match key {
            "content_security_policy" => &mut h.content_security_policy,
            "content_security_policy_report_only" => &mut h.content_security_policy_report_only,
            "permissions_policy" => &mut h.permissions_policy,
            "cross_origin_opener_policy" => &mut h.cross_origin_opener_policy,
            "cross_origin_resource_policy" => &mut h.cross_origin_resource_policy,
            "cross_origin_embedder_policy" => &mut h.cross_origin_embedder_policy,
            "referrer_policy" => &mut h.referrer_policy,
            "x_frame_options" => &mut h.x_frame_options,
            _ => return,
        };
        *slot = value;
    }

    /// A structured CSP (`directive: [sources]`) in its header form,
    /// `directive source source; directive ...`, in file order.
    fn csp_map(&mut self, entries: &[(Node, Node)], path: &str) -> Option<String> {
        let mut out = String::new();
        let mut ok = true;
        for (k, v) in entries {
            let Value::Str(directive) = &k.value else {
                self.wrong_type(k, path, "string keys", "{ default-src: [\"'self'\"] }");
                ok = false;
                continue;
            };
            let dpath = format!("{path}.{directive}");
            let valid_name = !directive.is_empty()
                && directive
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid_name {
                self.problem(
                    ProblemKind::InvalidHeaderValue,
                    k,
                    &dpath,
                    format!("{directive:?} is not a CSP directive name"),
                    "use directive names such as `default-src` or `frame-ancestors`",
                );
                ok = false;
                continue;
            }
            let sources: Vec<String> = match &v.value {
                Value::Null => Vec::new(),
                Value::Str(s) => vec![s.trim().to_owned()],
                Value::Seq(_) => self
                    .strings(v, &dpath, "[\"'self'\"]")
                    .into_iter()
                    .map(|(s, _)| s.trim().to_owned())
                    .collect(),
                _ => {
                    self.wrong_type(v, &dpath, "a list of sources", "[\"'self'\"]");
                    ok = false;
                    continue;
                }
            };
            if sources
                .iter()
                .any(|s| s.contains([';', ',']) || http::HeaderValue::from_str(s).is_err())
            {
                self.problem(
                    ProblemKind::InvalidHeaderValue,
                    v,
                    &dpath,
                    "a CSP source must be visible ASCII without `;` or `,`".into(),
                    "write one source per list item, e.g. [\"'self'\", https://cdn.example.com]",
                );
                ok = false;
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&directive.to_ascii_lowercase());
            for s in sources.iter().filter(|s| !s.is_empty()) {
                out.push(' ');
                out.push_str(s);
            }
        }
        (ok && !out.is_empty()).then_some(out)
    }

    fn database(&mut self, n: &Node) -> Option<DatabaseConfig> {
        const KNOWN: &[&str] = &["url", "host", "port", "name", "user", "password"];
        if matches!(n.value, Value::Null) {
            return None;
        }
        let mut d = DatabaseConfig::default();
        for (k, kn, v) in self.sub_map(n, "database") {
            let path = format!("database.{k}");
            match k.as_str() {
                "url" => d.url = self.string(v, &path, "${DATABASE_URL}").map(Secret::new),
                "host" => d.host = self.string(v, &path, "db.internal"),
                "port" => {
                    d.port = self
                        .u64(v, &path, "5432")
                        .and_then(|p| u16::try_from(p).ok())
                }
                "name" => d.name = self.string(v, &path, "app"),
                "user" => d.user = self.string(v, &path, "app"),
                "password" => d.password = self.string(v, &path, "${DB_PASSWORD}").map(Secret::new),
                _ => self.unknown_sub(kn, &path, KNOWN),
            }
        }
        Some(d)
    }

    fn app(&mut self, n: &Node) -> AppSettings {
        let mut out = AppSettings::default();
        for (k, _, v) in self.sub_map(n, "app") {
            let s = match &v.value {
                Value::Str(s) => s.clone(),
                Value::Null | Value::Seq(_) | Value::Map(_) => continue,
                _ => v.display(),
            };
            out.insert(k, s);
        }
        out
    }
}

/// The fix for an unknown environment name.
pub(crate) const ENVIRONMENT_FIX: &str = "use development, test, staging or production (aliases: dev, devel, develop, local, testing, stage, prod)";

/// What Django-style settings that `security_domains` derives are called, for keys
/// such as `allowed_hosts`.
fn derived_setting(key: &str) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "allowed_hosts" | "hosts" => Some("allowed hosts"),
        "cors_allowed_origins" | "cors_origins" | "cors_origin_whitelist" => {
            Some("CORS allowed origins")
        }
        "csrf_trusted_origins" | "csrf_origins" => Some("CSRF trusted origins"),
        _ => None,
    }
}

fn closest_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
