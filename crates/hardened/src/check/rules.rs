//! The rules. Each one returns `None` when it does not apply, else its findings (none:
//! passed).

use std::net::IpAddr;

use ipnet::IpNet;

use super::password::{self, MIN_DISTINCT};
use super::{Facts, Heading, Location, Rule, Severity};
use crate::config::{
    Config, DockerMode, Environment, Problem, ProblemKind, Source, TrustedProxies,
};
use crate::domain::{DomainEntry, Origin, Scheme};
use crate::policy::{HSTS_ONE_YEAR, default_internal_networks};

/// A rule's check.
pub(super) type CheckFn = fn(&Ctx<'_>) -> Option<Vec<Hit>>;

/// Minimum secret key length (the guide: 50+ characters).
const MIN_SECRET_KEY_LEN: usize = 50;

/// One finding before the runner adds the rule's id and heading.
pub(super) struct Hit {
    pub(super) severity: Severity,
    pub(super) message: String,
    pub(super) fix: String,
    pub(super) location: Option<Location>,
}

fn hit(
    severity: Severity,
    message: impl Into<String>,
    fix: impl Into<String>,
    location: Option<Location>,
) -> Hit {
    Hit {
        severity,
        message: message.into(),
        fix: fix.into(),
        location,
    }
}

/// What every rule sees.
pub(super) struct Ctx<'a> {
    cfg: &'a Config,
    problems: &'a [Problem],
    facts: &'a Facts,
    deploy: bool,
    /// Judged as production: a strict environment, or `--deploy`.
    pub(super) strict: bool,
    container: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        cfg: &'a Config,
        problems: &'a [Problem],
        facts: &'a Facts,
        deploy: bool,
    ) -> Ctx<'a> {
        Ctx {
            cfg,
            problems,
            facts,
            deploy,
            strict: deploy || cfg.environment.is_strict(),
            container: super::in_container(cfg, &facts.probe),
        }
    }

    /// Error when judged as production, warning otherwise.
    fn severity(&self) -> Severity {
        if self.strict {
            Severity::Error
        } else {
            Severity::Warning
        }
    }

    fn source(&self, key: &str) -> Option<&Source> {
        self.cfg.sources.get(key)
    }

    fn loc(&self, key: &str) -> Option<Location> {
        self.source(key).and_then(Location::from_source)
    }

    /// `production`, or `a production deployment` for `--deploy` runs of other environments.
    fn target(&self) -> String {
        if self.cfg.environment.is_strict() {
            self.cfg.environment.to_string()
        } else {
            "a production deployment".into()
        }
    }
}

macro_rules! rule {
    ($id:literal, $heading:ident, $summary:literal, $check:path) => {
        Rule {
            id: $id,
            heading: Heading::$heading,
            summary: $summary,
            check: $check,
        }
    };
}

/// Every rule, in report order.
pub static RULES: &[Rule] = &[
    // Configuration.
    rule!(
        "config-invalid",
        Configuration,
        "every configuration value is valid",
        config_invalid
    ),
    rule!(
        "config-unknown-key",
        Configuration,
        "the configuration has no unknown keys",
        config_unknown_key
    ),
    rule!(
        "config-unset-variable",
        Configuration,
        "every ${VAR} the configuration uses is set",
        config_unset_variable
    ),
    rule!(
        "docker-mode-auto",
        Configuration,
        "container mode is stated for the deployment (docker: true/false or DOCKER=...)",
        docker_mode_auto
    ),
    // Environment.
    rule!(
        "debug-in-production",
        Environment,
        "debug is false",
        debug_in_production
    ),
    rule!(
        "environment-not-production",
        Environment,
        "environment is production",
        environment_not_production
    ),
    rule!(
        "secret-key-missing",
        Environment,
        "secret_key is set",
        secret_key_missing
    ),
    rule!(
        "secret-key-short",
        Environment,
        "secret_key has at least 50 characters",
        secret_key_short
    ),
    rule!(
        "secret-key-low-entropy",
        Environment,
        "secret_key uses at least 5 distinct characters",
        secret_key_low_entropy
    ),
    rule!(
        "secret-key-insecure-pattern",
        Environment,
        "secret_key is not a placeholder or development key",
        secret_key_insecure_pattern
    ),
    // Domains.
    rule!(
        "domains-invalid",
        Domains,
        "every security_domains entry parses",
        domains_invalid
    ),
    rule!(
        "domains-empty",
        Domains,
        "security_domains lists the production domains",
        domains_empty
    ),
    rule!(
        "domains-wildcard",
        Domains,
        "no wildcard `*` in security_domains",
        domains_wildcard
    ),
    rule!(
        "domains-http",
        Domains,
        "HTTPS on every domain",
        domains_http
    ),
    rule!(
        "domains-localhost",
        Domains,
        "no loopback host among the production domains",
        domains_localhost
    ),
    rule!(
        "domains-ip-literal",
        Domains,
        "domains are names, not IP addresses",
        domains_ip_literal
    ),
    rule!(
        "cors-regex-any",
        Domains,
        "no CORS origin regex matches any origin",
        cors_regex_any
    ),
    // SSL/HTTPS.
    rule!("hsts-disabled", SslHttps, "HSTS is on", hsts_disabled),
    rule!(
        "hsts-preload-without-subdomains",
        SslHttps,
        "HSTS preload comes with includeSubDomains",
        hsts_preload_without_subdomains
    ),
    rule!(
        "hsts-preload-short-max-age",
        SslHttps,
        "HSTS preload comes with a max-age of at least one year",
        hsts_preload_short_max_age
    ),
    rule!(
        "ssl-redirect-untrusted-proxy",
        SslHttps,
        "ssl_redirect can see HTTPS through the reverse proxy",
        ssl_redirect_untrusted_proxy
    ),
    rule!(
        "cookies-insecure",
        SslHttps,
        "cookies are Secure",
        cookies_insecure
    ),
    rule!(
        "container-no-trusted-proxies",
        SslHttps,
        "in a container, the reverse proxy is trusted",
        container_no_trusted_proxies
    ),
    rule!(
        "trusted-proxies-any",
        SslHttps,
        "trusted_proxies does not trust every peer",
        trusted_proxies_any
    ),
    // Database.
    rule!(
        "database-password-weak",
        Database,
        "the database password is strong",
        database_password_weak
    ),
    rule!(
        "database-host-public",
        Database,
        "the database host is not a public or wildcard address",
        database_host_public
    ),
    rule!(
        "database-no-password",
        Database,
        "the database connection has a password",
        database_no_password
    ),
    // Secrets.
    rule!(
        "secret-key-inline",
        Secrets,
        "secret_key comes from the environment, not the config file",
        secret_key_inline
    ),
    rule!(
        "database-password-inline",
        Secrets,
        "database credentials come from the environment, not the config file",
        database_password_inline
    ),
    rule!(
        "secret-inline",
        Secrets,
        "app secrets come from the environment, not the config file",
        secret_inline
    ),
    rule!(
        "dotenv-not-ignored",
        Secrets,
        ".env is in .gitignore",
        dotenv_not_ignored
    ),
    rule!(
        "dotenv-tracked",
        Secrets,
        ".env is not committed to git",
        dotenv_tracked
    ),
    rule!(
        "dotenv-unverified",
        Secrets,
        "git could tell whether .env is ignored and untracked",
        dotenv_unverified
    ),
];

// ---------------------------------------------------------------------------------------
// Configuration

/// The rule a loading problem is reported under, `None` for problems a rule re-derives
/// from the configuration (no domains, `*`).
fn problem_rule(p: &Problem) -> Option<&'static str> {
    let kind = p.kind();
    if kind.is_policy() {
        return None;
    }
    Some(match kind {
        ProblemKind::UnknownKey => "config-unknown-key",
        ProblemKind::UnsetVariable => "config-unset-variable",
        _ if p.key().starts_with("security_domains") => "domains-invalid",
        _ => "config-invalid",
    })
}

fn problem_hits(cx: &Ctx<'_>, id: &str) -> Option<Vec<Hit>> {
    Some(
        cx.problems
            .iter()
            .filter(|p| problem_rule(p) == Some(id))
            .map(|p| {
                let mut message = format!("`{}`", p.key());
                if let Some(v) = p.value() {
                    message.push_str(&format!(" = {v}"));
                }
                message.push_str(&format!(": {}", p.message()));
                hit(
                    Severity::Error,
                    message,
                    p.fix(),
                    p.source().and_then(Location::from_source),
                )
            })
            .collect(),
    )
}

fn config_invalid(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, "config-invalid")
}

fn config_unknown_key(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, "config-unknown-key")
}

fn config_unset_variable(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, "config-unset-variable")
}

fn domains_invalid(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, "domains-invalid")
}

fn docker_mode_auto(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.deploy {
        return None;
    }
    let mut hits = Vec::new();
    if cx.cfg.docker == DockerMode::Auto {
        let seen = match cx.facts.probe.signals.first() {
            Some(s) if cx.facts.probe.in_container() => format!("a container: {s}"),
            _ => "no container".into(),
        };
        hits.push(hit(
            Severity::Info,
            format!(
                "docker: auto: container detection saw {seen} on the machine running this check, which may not be where the service runs"
            ),
            "state the deployment's mode: `docker: true` (or false) in the config, or export DOCKER=true (or false) when running the check",
            cx.loc("docker"),
        ));
    }
    Some(hits)
}

// ---------------------------------------------------------------------------------------
// Environment

fn debug_in_production(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if cx.cfg.debug {
        hits.push(hit(
            Severity::Error,
            format!("debug is true in {}", cx.target()),
            "set `debug: false` in config.yaml (and unset DEBUG in the environment)",
            cx.loc("debug"),
        ));
    }
    Some(hits)
}

fn environment_not_production(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.deploy {
        return None;
    }
    const FIX: &str =
        "set `environment: production` in config.yaml (or export ENVIRONMENT=production)";
    let env = cx.cfg.environment;
    let loc = cx.loc("environment");
    let hits = match env {
        Environment::Production if cx.source("environment").is_none() => vec![hit(
            Severity::Info,
            "environment is not set: production is assumed because debug is false",
            "write `environment: production` in config.yaml, so a stray DEBUG=true cannot turn the deployment into development",
            loc,
        )],
        Environment::Production => Vec::new(),
        Environment::Staging => vec![hit(
            Severity::Warning,
            "environment is staging: checked as production, but this is not a production configuration",
            FIX,
            loc,
        )],
        Environment::Development | Environment::Test => vec![hit(
            Severity::Error,
            format!("environment is {env}: a deployment needs production"),
            FIX,
            loc,
        )],
    };
    Some(hits)
}

/// The secret key, when set and not blank.
fn secret_key<'a>(cx: &Ctx<'a>) -> Option<&'a str> {
    cx.cfg
        .secret_key
        .as_ref()
        .map(|s| s.expose())
        .filter(|s| !s.trim().is_empty())
}

const SECRET_KEY_FIX: &str = "generate a key with `hardened secret-key` and export SECRET_KEY (config: `secret_key: ${SECRET_KEY}`)";

fn secret_key_missing(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if secret_key(cx).is_none() {
        hits.push(hit(
            Severity::Error,
            format!("secret_key is not set in {}", cx.target()),
            SECRET_KEY_FIX,
            cx.loc("secret_key"),
        ));
    }
    Some(hits)
}

fn secret_key_short(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let key = secret_key(cx).filter(|_| cx.strict)?;
    let len = key.chars().count();
    let mut hits = Vec::new();
    if len < MIN_SECRET_KEY_LEN {
        hits.push(hit(
            Severity::Error,
            format!(
                "secret_key is {len} characters long; at least {MIN_SECRET_KEY_LEN} are needed"
            ),
            SECRET_KEY_FIX,
            cx.loc("secret_key"),
        ));
    }
    Some(hits)
}

fn secret_key_low_entropy(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let key = secret_key(cx).filter(|_| cx.strict)?;
    let distinct = password::distinct_chars(key);
    let mut hits = Vec::new();
    if distinct < MIN_DISTINCT {
        hits.push(hit(
            Severity::Error,
            format!(
                "secret_key uses only {distinct} distinct characters; at least {MIN_DISTINCT} are needed"
            ),
            SECRET_KEY_FIX,
            cx.loc("secret_key"),
        ));
    }
    Some(hits)
}

/// The security guide's own example keys: published, so never secret.
const GUIDE_EXAMPLE_KEYS: [&str; 2] = [
    "dev-secret-key-at-least-50-chars-long-xxxxxxxxxxxxxxxxx",
    "your-generated-secret-key-here",
];

/// Placeholder and development patterns, most specific first.
const INSECURE_PATTERNS: &[&str] = &[
    "django-insecure",
    "your-secret-key",
    "your_secret_key",
    "change-me",
    "change_me",
    "changeme",
    "dev-secret",
    "dev_secret",
    "dev-key",
    "dev_key",
    "test-key",
    "test_key",
    "insecure",
    "placeholder",
    "secret",
];

fn secret_key_insecure_pattern(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let key = secret_key(cx).filter(|_| cx.strict)?;
    let trimmed = key.trim().trim_matches(['"', '\'']);
    let lower = key.to_lowercase();
    let why = if GUIDE_EXAMPLE_KEYS.contains(&trimmed) {
        Some("secret_key is an example key published in the security guide".to_owned())
    } else {
        INSECURE_PATTERNS
            .iter()
            .find(|p| lower.contains(*p))
            .map(|p| format!("secret_key contains {p:?}, a placeholder or development pattern"))
    };
    Some(
        why.map(|m| hit(Severity::Error, m, SECRET_KEY_FIX, cx.loc("secret_key")))
            .into_iter()
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------
// Domains

const DOMAINS_FIX: &str =
    "add your domains to security_domains, e.g. `security_domains: [example.com, api.example.com]`";

fn domains_empty(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
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

fn domains_wildcard(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if cx.cfg.security_domains.contains(&DomainEntry::Any) {
        hits.push(hit(
            Severity::Error,
            format!(
                "security_domains contains the wildcard `*` in {}: every host would be accepted",
                cx.target()
            ),
            "list your real domains instead of `*`; for a domain and its subdomains write `.example.com`",
            cx.loc("security_domains"),
        ));
    }
    Some(hits)
}

/// Every configured origin with the key it was configured under.
fn named_origins(cfg: &Config) -> Vec<(&'static str, &Origin)> {
    let mut v: Vec<(&'static str, &Origin)> = cfg
        .security_domains
        .iter()
        .filter_map(|d| match d {
            DomainEntry::Origin(o) => Some(("security_domains", o)),
            _ => None,
        })
        .collect();
    v.extend(cfg.site_url.iter().map(|o| ("site_url", o)));
    v.extend(cfg.api_url.iter().map(|o| ("api_url", o)));
    v
}

fn domains_http(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    for (key, o) in named_origins(cx.cfg) {
        if o.scheme == Scheme::Http && !o.host.is_loopback() {
            let https = Origin::new(Scheme::Https, o.host.clone(), o.port);
            hits.push(hit(
                Severity::Error,
                format!("{key} entry {o} is plain HTTP in {}", cx.target()),
                format!("serve it over HTTPS and write `{https}`; the guide requires HTTPS on all domains"),
                cx.loc(key),
            ));
        }
    }
    for d in &cx.cfg.security_domains {
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
                cx.loc("security_domains"),
            ));
        }
    }
    Some(hits)
}

fn domains_localhost(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    for (key, o) in named_origins(cx.cfg) {
        if o.host.is_loopback() {
            hits.push(hit(
                Severity::Warning,
                format!("{key} lists the loopback origin {o} in {}", cx.target()),
                "remove it: production browsers never reach the service as localhost (health checks by IP work through health_check_paths)",
                cx.loc(key),
            ));
        }
    }
    Some(hits)
}

fn domains_ip_literal(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    for (key, o) in named_origins(cx.cfg) {
        if o.host.is_ip() && !o.host.is_loopback() {
            hits.push(hit(
                Severity::Warning,
                format!("{key} lists the IP address {} in {}", o.host, cx.target()),
                "list domain names; in Docker the internal networks are allowed automatically (export DOCKER=true if detection fails) and health_check_paths skip the host check",
                cx.loc(key),
            ));
        }
    }
    Some(hits)
}

/// Origins no configuration should allow by accident.
const FOREIGN_ORIGINS: [&str; 2] = ["https://attacker.invalid", "http://attacker.invalid"];

fn cors_regex_any(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    for re in &cx.cfg.cors_allowed_origin_regexes {
        // Anchored: the narrowest reading. Matching a foreign origin even so means the
        // regex is too broad however it is applied.
        let Ok(compiled) = regex::Regex::new(&format!("^(?:{re})$")) else {
            continue;
        };
        if let Some(o) = FOREIGN_ORIGINS.iter().find(|o| compiled.is_match(o)) {
            hits.push(hit(
                cx.severity(),
                format!("cors_allowed_origin_regexes entry {re:?} matches any origin, e.g. {o}"),
                "restrict it to your own domains, e.g. `^https://[a-z0-9-]+\\.example\\.com$`, or list them in security_domains (`.example.com` covers subdomains)",
                cx.loc("cors_allowed_origin_regexes"),
            ));
        }
    }
    Some(hits)
}

// ---------------------------------------------------------------------------------------
// SSL/HTTPS

/// The effective HSTS settings in production: `(seconds, include_subdomains, preload)`.
fn hsts(cfg: &Config) -> (u64, bool, bool) {
    (
        cfg.hsts.seconds.unwrap_or(HSTS_ONE_YEAR),
        cfg.hsts.include_subdomains.unwrap_or(true),
        cfg.hsts.preload.unwrap_or(true),
    )
}

fn hsts_disabled(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if hsts(cx.cfg).0 == 0 {
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

fn hsts_preload_without_subdomains(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let (seconds, subdomains, preload) = hsts(cx.cfg);
    if !cx.strict || seconds == 0 {
        return None;
    }
    let mut hits = Vec::new();
    if preload && !subdomains {
        hits.push(hit(
            Severity::Warning,
            "hsts.preload is true but hsts.include_subdomains is false: preload lists reject such a header",
            "set `hsts.include_subdomains: true`, or `hsts.preload: false`",
            cx.loc("hsts"),
        ));
    }
    Some(hits)
}

fn hsts_preload_short_max_age(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let (seconds, _, preload) = hsts(cx.cfg);
    if !cx.strict || seconds == 0 {
        return None;
    }
    let mut hits = Vec::new();
    if preload && seconds < HSTS_ONE_YEAR {
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

/// `trusted_proxies: []` written explicitly.
fn trusts_no_proxy(cfg: &Config) -> bool {
    matches!(&cfg.trusted_proxies, Some(TrustedProxies::Networks(n)) if n.is_empty())
}

/// Why container rules apply, for messages.
fn container_reason(cx: &Ctx<'_>) -> String {
    match (cx.cfg.docker, cx.facts.probe.signals.first()) {
        (DockerMode::On, _) => "docker: true".into(),
        (_, Some(s)) => format!("container detected: {s}"),
        (_, None) => "container detected".into(),
    }
}

fn ssl_redirect_untrusted_proxy(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict || cx.cfg.ssl_redirect != Some(true) {
        return None;
    }
    let mut hits = Vec::new();
    if cx.container && trusts_no_proxy(cx.cfg) {
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

fn cookies_insecure(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if cx.cfg.secure_cookies == Some(false) {
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

fn container_no_trusted_proxies(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict || !cx.container {
        return None;
    }
    let mut hits = Vec::new();
    if trusts_no_proxy(cx.cfg) {
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

fn trusted_proxies_any(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    if cx.cfg.trusted_proxies == Some(TrustedProxies::Any) {
        hits.push(hit(
            Severity::Warning,
            "trusted_proxies is \"*\": any peer can claim HTTPS with X-Forwarded-Proto",
            "list your reverse proxy's addresses, e.g. `trusted_proxies: [10.0.0.0/8]`; keep `*` only when nothing but the proxy can reach the service",
            cx.loc("trusted_proxies"),
        ));
    }
    Some(hits)
}

// ---------------------------------------------------------------------------------------
// Database

/// The parts of a database URL the checks need.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DbUrl {
    pub(super) scheme: String,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) hosts: Vec<String>,
}

/// Parses `scheme://user:password@host1:port,host2/name?params`. Never fails: missing
/// parts stay empty.
pub(super) fn parse_db_url(url: &str) -> DbUrl {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return DbUrl::default();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // A password may hold `/`, `?` or `#` unescaped: the userinfo ends at the last `@`
    // before the path, wherever that is.
    let (userinfo, hostpart) = match rest.get(..end).and_then(|a| a.rfind('@')) {
        Some(at) => (rest.get(..at), rest.get(at + 1..end).unwrap_or("")),
        None => match rest.rfind('@') {
            Some(at) => {
                let after = rest.get(at + 1..).unwrap_or("");
                let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
                (rest.get(..at), after.get(..host_end).unwrap_or(""))
            }
            None => (None, rest.get(..end).unwrap_or("")),
        },
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(percent_decode(user)), Some(percent_decode(pw))),
            None => (Some(percent_decode(u)), None),
        },
        None => (None, None),
    };
    let hosts = hostpart
        .split(',')
        .filter_map(|h| {
            let h = h.trim();
            let host = if let Some(r) = h.strip_prefix('[') {
                r.split(']').next().unwrap_or("")
            } else {
                h.rsplit_once(':').map_or(h, |(host, _)| host)
            };
            (!host.is_empty()).then(|| percent_decode(host))
        })
        .collect();
    DbUrl {
        scheme: scheme.to_ascii_lowercase(),
        user: user.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
        hosts,
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let mut look = bytes.clone();
            let hex = [look.next(), look.next()];
            if let [Some(h), Some(l)] = hex
                && let (Some(h), Some(l)) = ((h as char).to_digit(16), (l as char).to_digit(16))
            {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                bytes = look;
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The database URL, parsed, when set.
fn db_url(cx: &Ctx<'_>) -> Option<DbUrl> {
    let url = cx.cfg.database.as_ref()?.url.as_ref()?;
    Some(parse_db_url(url.expose()))
}

/// File-backed databases have no host and no password.
fn is_file_database(url: &DbUrl) -> bool {
    url.scheme.starts_with("sqlite")
}

const DB_PASSWORD_FIX: &str = "generate a strong, unique password (e.g. `hardened secret-key`), set it on the database server and pass it through the environment (`password: ${DB_PASSWORD}` or `url: ${DATABASE_URL}`)";

fn database_password_weak(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref().filter(|_| cx.strict)?;
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

fn database_host_public(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref().filter(|_| cx.strict)?;
    let mut internal = default_internal_networks();
    internal.extend(cx.cfg.internal_networks.iter().copied());
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
        } else if is_public(ip, &internal) {
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

fn database_no_password(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref().filter(|_| cx.strict)?;
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

// ---------------------------------------------------------------------------------------
// Secrets

/// How a value was written: `Some(true)` literally in a file, `Some(false)` from the
/// environment, `None` unknown (no source recorded).
fn written_inline(cx: &Ctx<'_>, key: &str) -> Option<bool> {
    cx.source(key).map(|s| s.is_file() && !s.from_env)
}

fn inline_fix(key: &str, var: &str) -> String {
    format!(
        "write `{key}: ${{{var}}}` and set {var} in the environment or in a .env file listed in .gitignore"
    )
}

fn secret_key_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    secret_key(cx).filter(|_| cx.strict)?;
    let mut hits = Vec::new();
    if written_inline(cx, "secret_key") == Some(true) {
        let loc = cx.loc("secret_key");
        hits.push(hit(
            Severity::Error,
            "secret_key is written literally in the config file, not taken from the environment",
            inline_fix("secret_key", "SECRET_KEY"),
            loc,
        ));
    }
    Some(hits)
}

fn database_password_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref().filter(|_| cx.strict)?;
    let mut checks = Vec::new();
    if db.password.as_ref().is_some_and(|p| !p.expose().is_empty()) {
        checks.push(("database.password", "password", "DB_PASSWORD"));
    }
    if db_url(cx).is_some_and(|u| u.password.is_some()) {
        checks.push(("database.url", "url", "DATABASE_URL"));
    }
    let mut hits = Vec::new();
    let mut unknown = false;
    for (key, field, var) in checks {
        match written_inline(cx, key) {
            Some(true) => {
                let loc = cx.loc(key);
                let what = if field == "url" {
                    "database.url, with its password,"
                } else {
                    "database.password"
                };
                hits.push(hit(
                    Severity::Error,
                    format!("{what} is written literally in the config file, not taken from the environment"),
                    inline_fix(field, var),
                    loc,
                ));
            }
            Some(false) => {}
            None => unknown = true,
        }
    }
    // Never claim a pass that could not be verified.
    if unknown && hits.is_empty() {
        return None;
    }
    Some(hits)
}

/// Name fragments of settings that hold secrets.
const SECRET_NAME_PARTS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "dsn",
    "credential",
];

/// Name parts of settings that are about secrets but are not secret themselves.
const NOT_SECRET_NAME_PARTS: &[&str] = &[
    "public", "_prefix", "_name", "_header", "_path", "_file", "_length", "_ttl", "_enabled",
];

/// Whether an `app:` setting's name says it holds a secret.
pub(super) fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|p| n.contains(p))
        && !NOT_SECRET_NAME_PARTS.iter().any(|p| n.contains(p))
}

fn secret_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    if !cx.strict {
        return None;
    }
    let mut hits = Vec::new();
    let mut unknown = false;
    for (name, value) in &cx.cfg.app {
        let v = value.trim();
        let flag_like = v.parse::<f64>().is_ok() || crate::config::parse_bool(v).is_some();
        if !looks_secret(name) || v.is_empty() || flag_like {
            continue;
        }
        let key = format!("app.{name}");
        match written_inline(cx, &key) {
            Some(true) => {
                let loc = cx.loc(&key);
                hits.push(hit(
                    Severity::Error,
                    format!("{key} looks like a secret and is written literally in the config file, not taken from the environment"),
                    inline_fix(name, &name.to_ascii_uppercase()),
                    loc.or_else(|| cx.loc("app")),
                ));
            }
            Some(false) => {}
            None => unknown = true,
        }
    }
    if unknown && hits.is_empty() {
        return None;
    }
    Some(hits)
}

fn dotenv_known<'a>(cx: &Ctx<'a>) -> Option<&'a super::DotenvFacts> {
    cx.facts.dotenv.as_ref().filter(|d| d.exists)
}

fn dotenv_not_ignored(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let d = dotenv_known(cx)?;
    let ignored = d.ignored?;
    let mut hits = Vec::new();
    if !ignored {
        hits.push(hit(
            cx.severity(),
            format!(
                "{} is not in .gitignore: its secrets can be committed",
                d.path.display()
            ),
            "add `.env` to .gitignore (and to .dockerignore)",
            None,
        ));
    }
    Some(hits)
}

fn dotenv_tracked(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let d = dotenv_known(cx)?;
    let tracked = d.tracked?;
    let mut hits = Vec::new();
    if tracked {
        let name = d.path.file_name().map_or_else(
            || d.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        hits.push(hit(
            cx.severity(),
            format!("{} is committed to git: its secrets are in the repository history", d.path.display()),
            format!("run `git rm --cached {name}`, add it to .gitignore, and rotate every secret it held"),
            None,
        ));
    }
    Some(hits)
}

fn dotenv_unverified(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let d = dotenv_known(cx)?;
    let mut hits = Vec::new();
    if d.ignored.is_none() || d.tracked.is_none() {
        hits.push(hit(
            Severity::Info,
            format!(
                "{} exists outside a git repository (or git is unavailable): could not verify it is ignored and not committed",
                d.path.display()
            ),
            "make sure .env is listed in .gitignore and .dockerignore wherever the project is versioned",
            None,
        ));
    }
    Some(hits)
}

#[cfg(test)]
pub(super) fn host_is_public(s: &str) -> bool {
    s.parse::<IpAddr>()
        .is_ok_and(|ip| is_public(ip, &default_internal_networks()))
}
