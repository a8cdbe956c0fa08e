//! The validated configuration and the rules that type it.
//!
//! [`Config`] is what `config.yaml` means once every layer is merged and every value
//! checked. Build one from files and the environment with [`load::Loader`], or from
//! code with [`Config::development`] / [`Config::production`] and plain field updates.
//!
//! ```
//! use hardened::config::{Config, Environment};
//!
//! let cfg = Config::production(["example.com", "api.example.com"]).unwrap();
//! assert_eq!(cfg.environment, Environment::Production);
//! assert_eq!(cfg.security_domains.len(), 2);
//! ```

pub mod load;
pub(crate) mod node;

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::domain::{self, DomainEntry, Origin};
pub use node::Source;
use node::{Node, Value};

/// The deployment environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development: open for localhost, never for the world.
    Development,
    /// Automated tests: behaves as development.
    Test,
    /// Staging: behaves as production.
    Staging,
    /// Production: strict.
    Production,
}

impl Environment {
    /// Parses a name or alias: dev, devel, develop, development, local, test, testing,
    /// stage, staging, prod, production (case-insensitive).
    pub fn parse(s: &str) -> Option<Environment> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" | "devel" | "develop" | "development" | "local" => Some(Environment::Development),
            "test" | "testing" => Some(Environment::Test),
            "stage" | "staging" => Some(Environment::Staging),
            "prod" | "production" => Some(Environment::Production),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// Production and staging are strict; development and test are relaxed.
    pub fn is_strict(self) -> bool {
        matches!(self, Environment::Production | Environment::Staging)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Container detection: automatic, or forced on or off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerMode {
    /// Use the runtime probe.
    #[default]
    Auto,
    /// Act as in a container whatever the probe says.
    On,
    /// Act as on a plain host whatever the probe says.
    Off,
}

/// A secret string: never shown by `Debug`, `Display` or serialization.
#[derive(Clone)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(secrecy::SecretString::from(s.into()))
    }

    /// The secret itself. Call only where the value is needed, never to print it.
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// The free-form `app:` settings. They may hold secrets, so `Debug` shows keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AppSettings(pub BTreeMap<String, String>);

impl fmt::Debug for AppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[redacted]")))
            .finish()
    }
}

impl std::ops::Deref for AppSettings {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> IntoIterator for &'a AppSettings {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl std::ops::DerefMut for AppSettings {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Which peers may set `X-Forwarded-Proto`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedProxies {
    /// Any peer (`"*"`): only safe when nothing but the proxy can reach the service.
    Any,
    /// Peers inside these networks.
    Networks(Vec<IpNet>),
}

/// HSTS overrides; unset fields take the environment's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HstsConfig {
    /// `max-age` in seconds; 0 disables HSTS.
    pub seconds: Option<u64>,
    /// Add `includeSubDomains`.
    pub include_subdomains: Option<bool>,
    /// Add `preload`.
    pub preload: Option<bool>,
}

/// Database settings, read only so the deploy checklist can judge them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DatabaseConfig {
    /// A connection URL (may carry a password).
    pub url: Option<Secret>,
    /// Host name or address.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Database name.
    pub name: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Option<Secret>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The environment.
    pub environment: Environment,
    /// Debug mode. Never weakens security in production or staging.
    pub debug: bool,
    /// The application's secret key.
    pub secret_key: Option<Secret>,
    /// The parsed `security_domains`.
    pub security_domains: Vec<DomainEntry>,
    /// `None`: a reverse proxy terminates TLS (default). `Some(true)`: redirect to https.
    pub ssl_redirect: Option<bool>,
    /// Request headers a CORS preflight may ask for.
    pub cors_allow_headers: Vec<String>,
    /// Methods a CORS preflight may ask for.
    pub cors_allow_methods: Vec<String>,
    /// `Access-Control-Max-Age` of preflight answers, seconds.
    pub cors_preflight_max_age: u64,
    /// Extra CORS origin regexes (matched against the whole `Origin` value).
    pub cors_allowed_origin_regexes: Vec<String>,
    /// The API's public URL; its origin joins the domains.
    pub api_url: Option<Origin>,
    /// The site's public URL; its origin joins the domains.
    pub site_url: Option<Origin>,
    /// Other service URLs (internal service names are taken from them).
    pub service_urls: Vec<Origin>,
    /// Container mode.
    pub docker: DockerMode,
    /// Networks added to the defaults (RFC 1918, loopback, fc00::/7).
    pub internal_networks: Vec<IpNet>,
    /// Peers whose `X-Forwarded-Proto` is believed; `None` = loopback + internal networks.
    pub trusted_proxies: Option<TrustedProxies>,
    /// Paths exempt from the host check and the TLS redirect.
    pub health_check_paths: Vec<String>,
    /// Path patterns exempt from the CSRF check (`/api/*` = prefix).
    pub csrf_exempt_paths: Vec<String>,
    /// HSTS overrides.
    pub hsts: HstsConfig,
    /// Force cookie `Secure` on or off; `None` = on in production/staging.
    pub secure_cookies: Option<bool>,
    /// The session cookie's name (made `HttpOnly; SameSite=Lax` in production).
    pub session_cookie_name: String,
    /// Database settings, for the checklist.
    pub database: Option<DatabaseConfig>,
    /// Free-form application settings, not interpreted (the checklist scans them for
    /// inline secrets). Their values never appear in `Debug` output.
    pub app: AppSettings,
    /// Where each top-level key's value came from.
    pub sources: BTreeMap<String, Source>,
}

/// The default `cors_allow_headers`.
pub const DEFAULT_CORS_HEADERS: [&str; 5] = [
    "accept",
    "authorization",
    "content-type",
    "x-csrftoken",
    "x-requested-with",
];

/// The default `cors_allow_methods` (django-cors-headers' defaults).
pub const DEFAULT_CORS_METHODS: [&str; 6] = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"];

impl Default for Config {
    fn default() -> Self {
        Config {
            environment: Environment::Development,
            debug: true,
            secret_key: None,
            security_domains: Vec::new(),
            ssl_redirect: None,
            cors_allow_headers: DEFAULT_CORS_HEADERS.iter().map(|s| s.to_string()).collect(),
            cors_allow_methods: DEFAULT_CORS_METHODS.iter().map(|s| s.to_string()).collect(),
            cors_preflight_max_age: 86400,
            cors_allowed_origin_regexes: Vec::new(),
            api_url: None,
            site_url: None,
            service_urls: Vec::new(),
            docker: DockerMode::Auto,
            internal_networks: Vec::new(),
            trusted_proxies: None,
            health_check_paths: Vec::new(),
            csrf_exempt_paths: Vec::new(),
            hsts: HstsConfig::default(),
            secure_cookies: None,
            session_cookie_name: "sessionid".into(),
            database: None,
            app: AppSettings::default(),
            sources: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The built-in development configuration (no domains: localhost only).
    pub fn development() -> Config {
        Config::default()
    }

    /// A production configuration for these domains.
    ///
    /// # Errors
    /// The first domain entry that does not parse, or `*`.
    pub fn production<I, S>(domains: I) -> Result<Config, ConfigErrors>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut cfg = Config {
            environment: Environment::Production,
            debug: false,
            ..Config::default()
        };
        let mut problems = Vec::new();
        for d in domains {
            match domain::parse_entry(d.as_ref()) {
                Ok(e) => cfg.security_domains.push(e),
                Err(e) => problems.push(Problem::domain("security_domains", d.as_ref(), &e, None)),
            }
        }
        problems.extend(cfg.policy_problems());
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Problems that make the configuration unsafe to run, whatever its source:
    /// production without domains, `*` outside development.
    pub fn policy_problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let src = self.sources.get("security_domains").cloned();
        if self.environment.is_strict() {
            if self.security_domains.is_empty() && self.api_url.is_none() && self.site_url.is_none()
            {
                out.push(Problem {
                    source: src.clone(),
                    key: "security_domains".into(),
                    value: Some("[]".into()),
                    message: format!(
                        "{} needs at least one security domain; without one no request could be served",
                        self.environment
                    ),
                    fix: "add your domains: security_domains: [example.com, api.example.com]".into(),
                });
            }
            if self
                .security_domains
                .iter()
                .any(|d| matches!(d, DomainEntry::Any))
            {
                out.push(Problem {
                    source: src,
                    key: "security_domains".into(),
                    value: Some("\"*\"".into()),
                    message: format!("the wildcard `*` is not allowed in {}", self.environment),
                    fix: "list your real domains, e.g. security_domains: [example.com]; `*` is for development only".into(),
                });
            }
        }
        out
    }

    /// Every origin the configuration names: security domains, then `site_url` and
    /// `api_url`, deduplicated with order kept.
    pub fn origins(&self) -> Vec<Origin> {
        let mut out = crate::policy::Unique::new();
        let named = self.security_domains.iter().filter_map(|d| match d {
            DomainEntry::Origin(o) => Some(o.clone()),
            _ => None,
        });
        for o in named
            .chain(self.site_url.clone())
            .chain(self.api_url.clone())
        {
            out.push(o);
        }
        out.into_vec()
    }
}

/// One problem with the configuration: where, which key, which value, what is wrong and
/// how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where the offending value was written, when known.
    #[serde(serialize_with = "ser_source")]
    pub source: Option<Source>,
    /// The key path, e.g. `security_domains[2]`.
    pub key: String,
    /// The offending value (redacted for secrets), when there is one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

fn ser_source<S: Serializer>(s: &Option<Source>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(src) => ser.collect_str(src),
        None => ser.serialize_none(),
    }
}

/// Replaces the `user:password@` part of a URL-like value with `***@`: credentials
/// never reach an error message.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let start = value.find("://").map_or(0, |i| i + 3);
    let rest = value.get(start..).unwrap_or("");
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest.get(..end).and_then(|auth| auth.rfind('@')) {
        Some(at) => format!(
            "{}***{}",
            value.get(..start).unwrap_or(""),
            rest.get(at..).unwrap_or("")
        ),
        None => value.to_owned(),
    }
}

impl Problem {
    fn domain(key: &str, value: &str, e: &domain::DomainError, source: Option<Source>) -> Problem {
        Problem {
            source,
            key: key.into(),
            value: Some(format!("{:?}", redact_userinfo(value))),
            message: e.to_string(),
            fix: e.hint().into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(src) = &self.source {
            write!(f, "{src}: ")?;
        }
        write!(f, "`{}`", self.key)?;
        if let Some(v) = &self.value {
            write!(f, " = {v}")?;
        }
        write!(f, ": {}\n  fix: {}", self.message, self.fix)
    }
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "error: {p}")?;
        }
        Ok(())
    }
}

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
];

/// Types merged nodes into a [`Config`], collecting every problem.
pub(crate) struct Typer {
    pub(crate) problems: Vec<Problem>,
}

impl Typer {
    fn problem(&mut self, n: &Node, key: &str, message: String, fix: impl Into<String>) {
        let value = if key.starts_with("secret_key")
            || key.contains("password")
            || key == "database.url"
            || key.starts_with("app.")
        {
            Some("[redacted]".into())
        } else {
            match &n.value {
                Value::Str(v) => Some(format!("{:?}", redact_userinfo(v))),
                _ => Some(n.display()),
            }
        };
        self.problems.push(Problem {
            source: Some(n.source.clone()),
            key: key.into(),
            value,
            message,
            fix: fix.into(),
        });
    }

    fn wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        self.problem(n, key, msg, format!("write it as `{key}: {example}`"));
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
                self.problem(n, key, e, fix);
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
                _ => {
                    let suggestion = closest_key(key);
                    let fix = match suggestion {
                        Some(k) => format!("did you mean `{k}`? Remove or rename the key"),
                        None => format!("remove the key; known keys: {}", KNOWN_KEYS.join(", ")),
                    };
                    self.problems.push(Problem {
                        source: Some(key_node.source.clone()),
                        key: key.clone(),
                        value: None,
                        message: "unknown key".into(),
                        fix,
                    });
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
        self.problems.push(Problem {
            source: Some(k.source.clone()),
            key: path.into(),
            value: None,
            message: "unknown key".into(),
            fix: format!("remove the key; known keys here: {}", known.join(", ")),
        });
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

/// Parses true/false and their usual spellings (environment values).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parses `10.0.0.0/8`, `10.1.2.3` or `fd00::/8`.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<std::net::IpAddr>().ok().map(IpNet::from)
}

/// The origin of a URL such as `https://api.example.com/v1`.
pub fn url_origin(s: &str) -> Result<Origin, String> {
    let s = s.trim();
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("{s:?} is not a URL (no scheme)"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    match domain::parse_entry(&format!("{scheme}://{authority}")) {
        Ok(DomainEntry::Origin(o)) => Ok(o),
        Ok(_) => Err(format!("{s:?} must name one host, not a pattern")),
        Err(e) => Err(e.to_string()),
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

fn edit_distance(a: &str, b: &str) -> usize {
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
