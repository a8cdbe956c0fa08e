//! Typing merged YAML nodes into a [`Config`], collecting every problem.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::node::{Node, Value};
use super::problem::{Problem, ProblemKind, redact_userinfo};
use super::{
    AppSettings, Config, DatabaseConfig, DockerMode, Environment, HstsConfig, Secret,
    TrustedProxies, parse_bool, parse_net, url_origin,
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
    "database",
    "app",
    "gateway",
];

/// Types merged nodes into a [`Config`], collecting every problem.
pub(crate) struct Typer {
    pub(crate) problems: Vec<Problem>,
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

    fn wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        self.problem(
            ProblemKind::WrongType,
            n,
            key,
            msg,
            format!("write it as `{key}: {example}`"),
        );
    }

    fn bool(&mut self, n: &Node, key: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) => match parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.wrong_type(n, key, "true or false", "true");
                    None
                }
            },
            _ => {
                self.wrong_type(n, key, "true or false", "true");
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
            if s.starts_with('/') && !s.contains(['?', '#', ' ']) {
                out.push(s);
            } else {
                self.problem(
                    ProblemKind::InvalidPath,
                    &item,
                    &format!("{key}[{i}]"),
                    "a path must start with `/` and contain no query, fragment or spaces".into(),
                    "write it as `/healthz` (or `/api/*` for a prefix)",
                );
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
            if matches!(key.as_str(), "database" | "app" | "hsts")
                && let Value::Map(entries) = &n.value
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
                                "use development, test, staging or production (aliases: dev, local, testing, stage, prod)",
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
                    cfg.ssl_redirect = match n.value {
                        Value::Null => None,
                        _ => self.bool(n, key),
                    }
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
                                self.wrong_type(n, key, "auto, true or false", "auto");
                                DockerMode::Auto
                            }
                        },
                        _ => {
                            self.wrong_type(n, key, "auto, true or false", "auto");
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
                    cfg.secure_cookies = match n.value {
                        Value::Null => None,
                        _ => self.bool(n, key),
                    }
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
                "database" => cfg.database = self.database(n),
                "app" => cfg.app = self.app(n),
                "gateway" => cfg.gateway = self.gateway(n, &mut cfg.sources),
                _ => {
                    let suggestion = closest_key(key);
                    let fix = match suggestion {
                        Some(k) => format!("did you mean `{k}`? Remove or rename the key"),
                        None => format!("remove the key; known keys: {}", KNOWN_KEYS.join(", ")),
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
