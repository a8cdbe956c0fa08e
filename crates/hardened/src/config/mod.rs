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

mod check;
mod fetch_metadata;
pub mod gateway;
#[cfg(feature = "config-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
pub mod load;
#[cfg(feature = "config-file")]
pub(crate) mod node;
mod origin_regex;
mod problem;
#[cfg(feature = "config-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
pub mod reference;
mod route;
mod secret;
#[cfg(feature = "config-file")]
mod typer;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use crate::domain::{self, DomainEntry, Origin};
pub(crate) use check::code_problems;
pub use fetch_metadata::FetchMetadata;
pub use gateway::{GatewayConfig, GatewayCsrf, GatewayTls, LogFormat};
pub use origin_regex::OriginRegex;
pub(crate) use origin_regex::{CompiledRegexes, origin_regexes};
pub use problem::{ConfigErrors, Problem, ProblemKind};
pub use route::{CrossSiteMode, CsrfMode, HostCheckMode, RouteConfig, RouteCors};
pub use secret::Secret;
#[cfg(feature = "config-file")]
pub(crate) use typer::Typer;

/// How [`Source::flag`] names its origin.
const FLAG_ORIGIN: &str = "command-line flag ";

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// A file path, or `environment variable NAME` for values from the environment.
    pub origin: Arc<str>,
    /// 1-based line in the file; 0 when unknown or not from a file.
    pub line: u64,
    /// The value came (wholly or partly) from `${VAR}` interpolation or an environment
    /// variable, not from text written in a file.
    pub from_env: bool,
}

impl Source {
    /// A value set by an environment variable.
    pub fn env(name: &str) -> Source {
        Source {
            origin: Arc::from(format!("environment variable {name}")),
            line: 0,
            from_env: true,
        }
    }

    /// A value given by a command-line flag (`--workers`).
    pub fn flag(name: &str) -> Source {
        Source {
            origin: Arc::from(format!("{FLAG_ORIGIN}{name}")),
            line: 0,
            from_env: false,
        }
    }

    /// The flag that gave the value, when a flag did (`--workers`).
    pub fn flag_name(&self) -> Option<&str> {
        self.origin.strip_prefix(FLAG_ORIGIN)
    }

    /// A built-in default.
    pub fn builtin() -> Source {
        Source {
            origin: Arc::from("built-in defaults"),
            line: 0,
            from_env: false,
        }
    }

    /// Whether the value was read from a file.
    pub fn is_file(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.origin, self.line)
        } else {
            f.write_str(&self.origin)
        }
    }
}

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

impl DockerMode {
    /// Whether the container rules apply: forced on or off, else what the probe saw.
    pub fn in_container(self, probe: &crate::probe::RuntimeProbe) -> bool {
        match self {
            DockerMode::On => true,
            DockerMode::Off => false,
            DockerMode::Auto => probe.in_container(),
        }
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

/// What reads the configuration (`role:`), and so which checklist `check --deploy`
/// applies: an application signs with `secret_key`, the gateway never does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// An application that links the library (and may sign with `secret_key`): the
    /// default.
    #[default]
    App,
    /// Only `hardened serve` reads it, in front of an application that keeps its own
    /// secret: no `secret_key` is needed.
    Gateway,
}

impl Role {
    /// `app` or `gateway`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Gateway => "gateway",
        }
    }

    /// Parses `app` or `gateway` (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "app" => Some(Role::App),
            "gateway" => Some(Role::Gateway),
            _ => None,
        }
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

/// `report_only`: the checks that log what they would reject and let it through.
/// CORS always enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct ReportOnly {
    /// The host check.
    pub host: bool,
    /// The TLS redirect.
    pub tls: bool,
    /// The CSRF check.
    pub csrf: bool,
    /// The WebSocket (Upgrade) Origin check.
    pub websocket: bool,
}

impl ReportOnly {
    /// Every check that can report only (`report_only: true`).
    pub const ALL: ReportOnly = ReportOnly {
        host: true,
        tls: true,
        csrf: true,
        websocket: true,
    };

    /// No check reports only (the default: every check enforces).
    pub const NONE: ReportOnly = ReportOnly {
        host: false,
        tls: false,
        csrf: false,
        websocket: false,
    };

    /// Whether any check reports only.
    pub fn any(self) -> bool {
        self.host || self.tls || self.csrf || self.websocket
    }

    /// The names of the checks that report only, e.g. `["host", "csrf"]`.
    pub fn names(self) -> Vec<&'static str> {
        [
            ("host", self.host),
            ("tls", self.tls),
            ("csrf", self.csrf),
            ("websocket", self.websocket),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }

    /// Turns on the check named `name` (`host`, `tls`, `csrf`, `websocket`); `false`
    /// for another name.
    pub fn set(&mut self, name: &str) -> bool {
        match name.trim().to_ascii_lowercase().as_str() {
            "host" => self.host = true,
            "tls" => self.tls = true,
            "csrf" => self.csrf = true,
            "websocket" => self.websocket = true,
            _ => return false,
        }
        true
    }
}

/// One `headers:` entry: absent keeps the derived default, `null` removes the header,
/// a value sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum HeaderOverride {
    /// Not configured: the environment's default.
    #[default]
    Default,
    /// `null`: the header is not sent.
    Remove,
    /// The header value (a structured CSP rendered to its header form).
    Set(String),
}

/// The `headers:` section: overrides of the derived security headers. A header the
/// application already set is never overwritten.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HeadersConfig {
    /// `Content-Security-Policy`; `{nonce}` becomes a fresh nonce per response.
    pub content_security_policy: HeaderOverride,
    /// `Content-Security-Policy-Report-Only`; `{nonce}` as above.
    pub content_security_policy_report_only: HeaderOverride,
    /// `Permissions-Policy`.
    pub permissions_policy: HeaderOverride,
    /// `Cross-Origin-Opener-Policy`.
    pub cross_origin_opener_policy: HeaderOverride,
    /// `Cross-Origin-Resource-Policy`.
    pub cross_origin_resource_policy: HeaderOverride,
    /// `Cross-Origin-Embedder-Policy`.
    pub cross_origin_embedder_policy: HeaderOverride,
    /// `Referrer-Policy`.
    pub referrer_policy: HeaderOverride,
    /// `X-Frame-Options`.
    pub x_frame_options: HeaderOverride,
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
    /// What reads this configuration: an application (the default) or only the gateway.
    pub role: Role,
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
    /// Response headers scripts of allowed origins may read
    /// (`Access-Control-Expose-Headers`); none by default.
    pub cors_expose_headers: Vec<String>,
    /// Extra CORS origin regexes (matched against the whole `Origin` value).
    pub cors_allowed_origin_regexes: Vec<String>,
    /// The compiled forms of the patterns the loader read (see [`origin_regexes`]).
    pub(crate) compiled_origin_regexes: CompiledRegexes,
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
    /// The session cookie's name (made `HttpOnly; SameSite=Lax` in production);
    /// `cookies.session_name` in the file.
    pub session_cookie_name: String,
    /// The CSRF cookie's name (never made `HttpOnly`); `cookies.csrf_name` in the file.
    pub csrf_cookie_name: String,
    /// Overrides of the security response headers (`headers:`).
    pub headers: HeadersConfig,
    /// Checks that only log what they would reject (`report_only:`).
    pub report_only: ReportOnly,
    /// The resource isolation policy on `Sec-Fetch-*` headers (`fetch_metadata:`);
    /// `None`: `report` in production and staging, `off` in development and test.
    pub fetch_metadata: Option<FetchMetadata>,
    /// Database settings, for the checklist.
    pub database: Option<DatabaseConfig>,
    /// Free-form application settings, not interpreted (the checklist scans them for
    /// inline secrets). Their values never appear in `Debug` output.
    pub app: AppSettings,
    /// How `hardened serve` listens, forwards and terminates TLS (the `gateway:`
    /// section).
    pub gateway: GatewayConfig,
    /// The violation report collector (`reports:`); `None`: off.
    pub reports: Option<crate::reports::ReportsConfig>,
    /// Where each top-level key's value came from.
    pub sources: BTreeMap<String, Source>,
    /// Per-route overrides (`routes:`), the most specific pattern winning.
    pub routes: Vec<RouteConfig>,
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
            role: Role::App,
            secret_key: None,
            security_domains: Vec::new(),
            ssl_redirect: None,
            cors_allow_headers: DEFAULT_CORS_HEADERS.iter().map(|s| s.to_string()).collect(),
            cors_allow_methods: DEFAULT_CORS_METHODS.iter().map(|s| s.to_string()).collect(),
            cors_preflight_max_age: 86400,
            cors_expose_headers: Vec::new(),
            cors_allowed_origin_regexes: Vec::new(),
            compiled_origin_regexes: CompiledRegexes::default(),
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
            csrf_cookie_name: "csrftoken".into(),
            headers: HeadersConfig::default(),
            report_only: ReportOnly::NONE,
            fetch_metadata: None,
            database: None,
            app: AppSettings::default(),
            gateway: GatewayConfig::default(),
            reports: None,
            sources: BTreeMap::new(),
            routes: Vec::new(),
        }
    }
}

impl Config {
    /// The built-in development configuration (no domains: localhost only).
    pub fn development() -> Config {
        Config::default()
    }

    /// Every origin the configuration names: security domains, then `site_url` and
    /// `api_url`, deduplicated with order kept.
    pub fn origins(&self) -> Vec<Origin> {
        let mut out = crate::domain::Unique::new();
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
