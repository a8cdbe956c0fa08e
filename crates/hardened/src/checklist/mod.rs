//! The security guide's deploy checklist as machine checks.
//!
//! [`run_checks`] judges a [`Config`] — plus the problems lenient loading found and the
//! facts about the world the caller gathered ([`Facts`]: is `.env` ignored by git, what
//! the runtime probe saw) — and returns a [`Report`]: one [`Finding`] per thing wrong,
//! each with a stable kebab-case id, a severity, a one-line message that names the
//! offending value (never a secret), the fix, and the checklist heading it belongs to;
//! the ids of the rules that passed; and the items no machine can verify
//! ([`MANUAL`]: certificates, backups, key rotation), which are never reported as passed.
//!
//! The checks are pure: they read no file, no environment variable and run no command.
//! `hardened check` gathers the facts and renders the report.
//!
//! ```
//! use hardened::checklist::{run_checks, Facts, RuleId, Severity};
//! use hardened::config::Config;
//!
//! let mut cfg = Config::production(["http://example.com"])?;
//! cfg.debug = true;
//! let report = run_checks(&cfg, &[], &Facts::default(), true);
//! let ids: Vec<_> = report.findings.iter().map(|f| f.id).collect();
//! assert!(ids.contains(&RuleId::DebugInProduction));
//! assert!(ids.contains(&RuleId::DomainsHttp));
//! assert!(ids.contains(&RuleId::SecretKeyMissing));
//! assert_eq!(RuleId::SecretKeyMissing.as_str(), "secret-key-missing");
//! assert!(report.has_errors());
//! assert!(report.passed.contains(&RuleId::HstsDisabled));
//! # Ok::<(), hardened::config::ConfigErrors>(())
//! ```
//!
//! Every rule is listed in [`RULES`] (id, heading, when it applies, what passing
//! means); the manual items in [`MANUAL`].

mod dburl;
mod password;
mod rules;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::config::{Config, Environment, Problem, Source};
use crate::probe::RuntimeProbe;

pub use rules::RULES;

/// How serious a finding is. Only errors fail `hardened check` (exit code 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Unsafe to deploy: fails the check.
    Error,
    /// Probably wrong; does not fail the check.
    Warning,
    /// Worth knowing; does not fail the check.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A heading of the guide's Security Checklist (plus `Configuration` for problems with
/// the configuration itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Heading {
    /// The configuration could not be fully understood.
    Configuration,
    /// `debug`, `environment`, `secret_key`.
    Environment,
    /// `security_domains`.
    Domains,
    /// TLS redirect, HSTS, secure cookies, proxies.
    SslHttps,
    /// Security response headers and report-only rollout.
    Headers,
    /// Database password and exposure.
    Database,
    /// Secrets kept out of code and out of git.
    Secrets,
}

impl Heading {
    /// Every heading, in report order.
    pub const ALL: [Heading; 7] = [
        Heading::Configuration,
        Heading::Environment,
        Heading::Domains,
        Heading::SslHttps,
        Heading::Headers,
        Heading::Database,
        Heading::Secrets,
    ];

    /// The heading as the guide writes it (`SSL/HTTPS`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Heading::Configuration => "Configuration",
            Heading::Environment => "Environment",
            Heading::Domains => "Domains",
            Heading::SslHttps => "SSL/HTTPS",
            Heading::Headers => "Headers",
            Heading::Database => "Database",
            Heading::Secrets => "Secrets",
        }
    }
}

impl fmt::Display for Heading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an offending value was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as given to the loader.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<u64>,
}

impl Location {
    /// The location of a value read from a file; `None` for environment variables and
    /// built-in defaults.
    pub fn from_source(src: &Source) -> Option<Location> {
        src.is_file().then(|| Location {
            file: src.origin.to_string(),
            line: Some(src.line),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// One thing wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's stable id (see [`RULES`]).
    pub id: RuleId,
    /// How serious it is.
    pub severity: Severity,
    /// One line naming the offending value (secrets are never shown).
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The checklist heading.
    pub heading: Heading,
    /// Where the value was written, when it came from a file.
    pub location: Option<Location>,
}

/// A checklist item no machine can verify. Never reported as passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManualItem {
    /// Stable kebab-case id.
    pub id: &'static str,
    /// The checklist heading.
    pub heading: Heading,
    /// What to verify by hand.
    pub message: &'static str,
}

/// The items of the checklist that stay manual.
pub const MANUAL: &[ManualItem] = &[
    ManualItem {
        id: "ssl-certificate",
        heading: Heading::SslHttps,
        message: "an SSL certificate is provisioned for every domain (Cloudflare, Let's Encrypt) and renews automatically",
    },
    ManualItem {
        id: "database-backups",
        heading: Heading::Database,
        message: "database backups are configured, and a restore has been tested",
    },
    ManualItem {
        id: "database-password-unique",
        heading: Heading::Database,
        message: "the database password is unique: not reused in another environment or service",
    },
    ManualItem {
        id: "api-key-rotation",
        heading: Heading::Secrets,
        message: "API keys and secrets are rotated regularly, and at once when someone with access leaves",
    },
];

/// What the check knows about the `.env` file (gathered by the caller, e.g. from git).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DotenvFacts {
    /// The `.env` path, as the user would write it.
    pub path: PathBuf,
    /// The file exists.
    pub exists: bool,
    /// `git check-ignore` says the path is ignored; `None` when unknown (not a git
    /// repository, git unavailable).
    pub ignored: Option<bool>,
    /// `git ls-files` says the path is committed; `None` when unknown.
    pub tracked: Option<bool>,
}

/// Facts about the world the checks need, gathered by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// The `.env` file next to the configuration, when one was looked for.
    pub dotenv: Option<DotenvFacts>,
    /// What the runtime probe detected (Docker, Kubernetes).
    pub probe: RuntimeProbe,
}

impl Facts {
    /// Facts with this probe and no `.env` information.
    pub fn new(probe: RuntimeProbe) -> Facts {
        Facts {
            dotenv: None,
            probe,
        }
    }

    /// Adds what is known about the `.env` file.
    pub fn with_dotenv(mut self, dotenv: DotenvFacts) -> Facts {
        self.dotenv = Some(dotenv);
        self
    }
}

/// The outcome of a checklist run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The environment the configuration is for.
    pub environment: Environment,
    /// Whether the run judged production readiness (`--deploy`).
    pub deploy: bool,
    /// Everything wrong, in rule order.
    pub findings: Vec<Finding>,
    /// The ids of the rules that were checked and found nothing, in rule order. Rules
    /// that do not apply (no database configured, development without `--deploy`) are
    /// neither here nor in `findings`.
    pub passed: Vec<RuleId>,
    /// The items to verify by hand (listed for production and `--deploy` runs).
    pub manual: Vec<ManualItem>,
}

impl Report {
    /// How many findings have this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether any finding is an error (the check fails).
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
}

/// The stable id of a checklist rule; it renders as its kebab-case id
/// (`debug-in-production`), which never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RuleId {
    /// `config-invalid`: every configuration value is valid.
    ConfigInvalid,
    /// `config-unknown-key`: the configuration has no unknown keys.
    ConfigUnknownKey,
    /// `config-unset-variable`: every ${VAR} the configuration uses is set.
    ConfigUnsetVariable,
    /// `docker-mode-auto`: container mode is stated for the deployment (docker: true/false or DOCKER=...).
    DockerModeAuto,
    /// `debug-in-production`: debug is false.
    DebugInProduction,
    /// `environment-not-production`: environment is production.
    EnvironmentNotProduction,
    /// `secret-key-missing`: secret_key is set.
    SecretKeyMissing,
    /// `secret-key-short`: secret_key has at least 50 characters.
    SecretKeyShort,
    /// `secret-key-low-entropy`: secret_key uses at least 5 distinct characters.
    SecretKeyLowEntropy,
    /// `secret-key-insecure-pattern`: secret_key is not a placeholder or development key.
    SecretKeyInsecurePattern,
    /// `domains-invalid`: every security_domains entry parses.
    DomainsInvalid,
    /// `domains-empty`: security_domains lists the production domains.
    DomainsEmpty,
    /// `domains-wildcard`: no wildcard `*` in security_domains.
    DomainsWildcard,
    /// `domains-http`: HTTPS on every domain.
    DomainsHttp,
    /// `domains-localhost`: no loopback host among the production domains.
    DomainsLocalhost,
    /// `domains-ip-literal`: domains are names, not IP addresses.
    DomainsIpLiteral,
    /// `cors-regex-any`: no CORS origin regex matches any origin.
    CorsRegexAny,
    /// `csrf-exempt-all`: no csrf_exempt_paths pattern matches every path.
    CsrfExemptAll,
    /// `health-check-all`: no health_check_paths pattern matches every path.
    HealthCheckAll,
    /// `hsts-disabled`: HSTS is on.
    HstsDisabled,
    /// `hsts-preload-without-subdomains`: HSTS preload comes with includeSubDomains.
    HstsPreloadWithoutSubdomains,
    /// `hsts-preload-short-max-age`: HSTS preload comes with a max-age of at least one year.
    HstsPreloadShortMaxAge,
    /// `ssl-redirect-untrusted-proxy`: ssl_redirect can see HTTPS through the reverse proxy.
    SslRedirectUntrustedProxy,
    /// `cookies-insecure`: cookies are Secure.
    CookiesInsecure,
    /// `container-no-trusted-proxies`: in a container, the reverse proxy is trusted.
    ContainerNoTrustedProxies,
    /// `trusted-proxies-any`: trusted_proxies does not trust every peer.
    TrustedProxiesAny,
    /// `csp-missing`: production sends a Content-Security-Policy.
    CspMissing,
    /// `report-only`: every check enforces (report_only is off).
    ReportOnly,
    /// `database-password-weak`: the database password is strong.
    DatabasePasswordWeak,
    /// `database-host-public`: the database host is not a public or wildcard address.
    DatabaseHostPublic,
    /// `database-no-password`: the database connection has a password.
    DatabaseNoPassword,
    /// `secret-key-inline`: secret_key comes from the environment, not the config file.
    SecretKeyInline,
    /// `database-password-inline`: database credentials come from the environment, not the config file.
    DatabasePasswordInline,
    /// `secret-inline`: app secrets come from the environment, not the config file.
    SecretInline,
    /// `dotenv-not-ignored`: .env is in .gitignore.
    DotenvNotIgnored,
    /// `dotenv-tracked`: .env is not committed to git.
    DotenvTracked,
    /// `dotenv-unverified`: git could tell whether .env is ignored and untracked.
    DotenvUnverified,
}

impl RuleId {
    /// Every id, in report order.
    pub const ALL: [RuleId; 37] = [
        RuleId::ConfigInvalid,
        RuleId::ConfigUnknownKey,
        RuleId::ConfigUnsetVariable,
        RuleId::DockerModeAuto,
        RuleId::DebugInProduction,
        RuleId::EnvironmentNotProduction,
        RuleId::SecretKeyMissing,
        RuleId::SecretKeyShort,
        RuleId::SecretKeyLowEntropy,
        RuleId::SecretKeyInsecurePattern,
        RuleId::DomainsInvalid,
        RuleId::DomainsEmpty,
        RuleId::DomainsWildcard,
        RuleId::DomainsHttp,
        RuleId::DomainsLocalhost,
        RuleId::DomainsIpLiteral,
        RuleId::CorsRegexAny,
        RuleId::CsrfExemptAll,
        RuleId::HealthCheckAll,
        RuleId::HstsDisabled,
        RuleId::HstsPreloadWithoutSubdomains,
        RuleId::HstsPreloadShortMaxAge,
        RuleId::SslRedirectUntrustedProxy,
        RuleId::CookiesInsecure,
        RuleId::ContainerNoTrustedProxies,
        RuleId::TrustedProxiesAny,
        RuleId::CspMissing,
        RuleId::ReportOnly,
        RuleId::DatabasePasswordWeak,
        RuleId::DatabaseHostPublic,
        RuleId::DatabaseNoPassword,
        RuleId::SecretKeyInline,
        RuleId::DatabasePasswordInline,
        RuleId::SecretInline,
        RuleId::DotenvNotIgnored,
        RuleId::DotenvTracked,
        RuleId::DotenvUnverified,
    ];

    /// What the rule looks for, one line (SARIF's `shortDescription`): a description
    /// of the check, not the message of a pass.
    pub fn description(self) -> &'static str {
        match self {
            RuleId::ConfigInvalid => {
                "Configuration values of the wrong type or with an invalid value"
            }
            RuleId::ConfigUnknownKey => "Keys the configuration does not know, usually typos",
            RuleId::ConfigUnsetVariable => {
                "`${VAR}` references to variables set neither in the environment nor in .env"
            }
            RuleId::DockerModeAuto => {
                "Container detection left to the machine that runs the check (`docker: auto`)"
            }
            RuleId::DebugInProduction => "`debug: true` in a production deployment",
            RuleId::EnvironmentNotProduction => {
                "A deployment whose environment is not production, or is production only by default"
            }
            RuleId::SecretKeyMissing => "A production deployment without a secret key",
            RuleId::SecretKeyShort => "A secret key shorter than 50 characters",
            RuleId::SecretKeyLowEntropy => "A secret key made of fewer than 5 distinct characters",
            RuleId::SecretKeyInsecurePattern => {
                "A secret key that is a published example, a placeholder, a development key or a common password"
            }
            RuleId::DomainsInvalid => "`security_domains` entries that do not parse",
            RuleId::DomainsEmpty => "A production deployment without security domains",
            RuleId::DomainsWildcard => {
                "The wildcard `*` in `security_domains` of a production deployment"
            }
            RuleId::DomainsHttp => "Production domains served over plain HTTP",
            RuleId::DomainsLocalhost => "Loopback hosts among the production domains",
            RuleId::DomainsIpLiteral => {
                "IP addresses instead of names among the production domains"
            }
            RuleId::CorsRegexAny => "CORS origin regexes that match any origin",
            RuleId::CsrfExemptAll => "CSRF exemptions that match every path",
            RuleId::HealthCheckAll => {
                "Health-check paths that match every path (the host check off everywhere)"
            }
            RuleId::CspMissing => "A production deployment without a Content-Security-Policy",
            RuleId::ReportOnly => {
                "Checks in report-only mode: would-be rejections are logged and let through"
            }
            RuleId::HstsDisabled => "HSTS turned off in production",
            RuleId::HstsPreloadWithoutSubdomains => {
                "HSTS preload without includeSubDomains (the preload list refuses it)"
            }
            RuleId::HstsPreloadShortMaxAge => {
                "HSTS preload with a max-age under one year (the preload list refuses it)"
            }
            RuleId::SslRedirectUntrustedProxy => {
                "`ssl_redirect: true` behind a reverse proxy whose X-Forwarded-Proto is not trusted (a redirect loop)"
            }
            RuleId::CookiesInsecure => "Cookies without `Secure` in production",
            RuleId::ContainerNoTrustedProxies => {
                "A container deployment whose reverse proxy is not among the trusted proxies"
            }
            RuleId::TrustedProxiesAny => "`trusted_proxies` that trusts every peer",
            RuleId::DatabasePasswordWeak => "A short, simple or common database password",
            RuleId::DatabaseHostPublic => "A database host that is a public or wildcard address",
            RuleId::DatabaseNoPassword => "A database connection without a password",
            RuleId::SecretKeyInline => {
                "A secret key written in the config file instead of taken from the environment"
            }
            RuleId::DatabasePasswordInline => {
                "Database credentials written in the config file instead of taken from the environment"
            }
            RuleId::SecretInline => {
                "Application secrets written in the config file instead of taken from the environment"
            }
            RuleId::DotenvNotIgnored => "A .env file that .gitignore does not ignore",
            RuleId::DotenvTracked => "A .env file committed to git",
            RuleId::DotenvUnverified => "A .env file whose git status could not be checked",
        }
    }

    /// The kebab-case id, e.g. `debug-in-production`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ConfigInvalid => "config-invalid",
            RuleId::ConfigUnknownKey => "config-unknown-key",
            RuleId::ConfigUnsetVariable => "config-unset-variable",
            RuleId::DockerModeAuto => "docker-mode-auto",
            RuleId::DebugInProduction => "debug-in-production",
            RuleId::EnvironmentNotProduction => "environment-not-production",
            RuleId::SecretKeyMissing => "secret-key-missing",
            RuleId::SecretKeyShort => "secret-key-short",
            RuleId::SecretKeyLowEntropy => "secret-key-low-entropy",
            RuleId::SecretKeyInsecurePattern => "secret-key-insecure-pattern",
            RuleId::DomainsInvalid => "domains-invalid",
            RuleId::DomainsEmpty => "domains-empty",
            RuleId::DomainsWildcard => "domains-wildcard",
            RuleId::DomainsHttp => "domains-http",
            RuleId::DomainsLocalhost => "domains-localhost",
            RuleId::DomainsIpLiteral => "domains-ip-literal",
            RuleId::CorsRegexAny => "cors-regex-any",
            RuleId::CsrfExemptAll => "csrf-exempt-all",
            RuleId::HealthCheckAll => "health-check-all",
            RuleId::HstsDisabled => "hsts-disabled",
            RuleId::HstsPreloadWithoutSubdomains => "hsts-preload-without-subdomains",
            RuleId::HstsPreloadShortMaxAge => "hsts-preload-short-max-age",
            RuleId::SslRedirectUntrustedProxy => "ssl-redirect-untrusted-proxy",
            RuleId::CookiesInsecure => "cookies-insecure",
            RuleId::ContainerNoTrustedProxies => "container-no-trusted-proxies",
            RuleId::TrustedProxiesAny => "trusted-proxies-any",
            RuleId::CspMissing => "csp-missing",
            RuleId::ReportOnly => "report-only",
            RuleId::DatabasePasswordWeak => "database-password-weak",
            RuleId::DatabaseHostPublic => "database-host-public",
            RuleId::DatabaseNoPassword => "database-no-password",
            RuleId::SecretKeyInline => "secret-key-inline",
            RuleId::DatabasePasswordInline => "database-password-inline",
            RuleId::SecretInline => "secret-inline",
            RuleId::DotenvNotIgnored => "dotenv-not-ignored",
            RuleId::DotenvTracked => "dotenv-tracked",
            RuleId::DotenvUnverified => "dotenv-unverified",
        }
    }

    /// The id written as kebab-case, e.g. `hsts-disabled`.
    pub fn parse(s: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|id| id.as_str() == s)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// When a rule applies. A rule that does not apply is neither passed nor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Applies {
    /// Every run.
    Always,
    /// Runs judged as production: a strict environment (production, staging) or
    /// `--deploy`.
    Strict,
    /// `--deploy` runs only.
    Deploy,
    /// Runs judged as production whose configuration has a `database` section.
    StrictWithDatabase,
}

impl Applies {
    /// Whether a run with these settings is in scope.
    fn holds(self, strict: bool, deploy: bool, cfg: &Config) -> bool {
        match self {
            Applies::Always => true,
            Applies::Strict => strict,
            Applies::Deploy => deploy,
            Applies::StrictWithDatabase => strict && cfg.database.is_some(),
        }
    }
}

/// One rule of the checklist.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rule {
    /// Stable id.
    pub id: RuleId,
    /// The checklist heading.
    pub heading: Heading,
    /// When the rule applies.
    pub applies: Applies,
    /// What passing means, one line.
    pub summary: &'static str,
    check: rules::CheckFn,
}

/// The rule with this id.
pub fn rule(id: RuleId) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Runs every rule.
///
/// `problems` are the problems [`crate::config::load::Loader::load_lenient`] returned
/// beside `cfg`; each becomes an error finding, so one run lists everything wrong.
/// With `deploy`, the configuration is judged as a production deployment whatever its
/// environment.
pub fn run_checks(cfg: &Config, problems: &[Problem], facts: &Facts, deploy: bool) -> Report {
    let cx = rules::Ctx::new(cfg, problems, facts, deploy);
    let mut findings = Vec::new();
    let mut passed = Vec::new();
    for rule in RULES {
        if !rule.applies.holds(cx.strict, deploy, cfg) {
            continue;
        }
        match (rule.check)(&cx) {
            None => {}
            Some(hits) if hits.is_empty() => passed.push(rule.id),
            Some(hits) => findings.extend(hits.into_iter().map(|h| Finding {
                id: rule.id,
                severity: h.severity,
                message: h.message,
                fix: h.fix,
                heading: rule.heading,
                location: h.location,
            })),
        }
    }
    Report {
        environment: cfg.environment,
        deploy,
        findings,
        passed,
        manual: if cx.strict {
            MANUAL.to_vec()
        } else {
            Vec::new()
        },
    }
}
