//! The rules, one module per checklist heading, and their registry.
//!
//! The registry declares when each rule applies ([`Applies`]); a rule's check runs only
//! then, and returns `None` when the configuration leaves nothing to judge (no secret
//! key, HSTS off, no `.env`), else its findings (none: passed).

mod configuration;
mod database;
mod domains;
mod environment;
mod headers;
mod routes;
mod secrets;
mod ssl_https;

use super::{Applies, Facts, Heading, Location, Rule, RuleId, Severity};
use crate::config::{Config, Environment, Problem, Source};
use crate::policy::{Policy, derive_as};

#[cfg(test)]
pub(super) use database::host_is_public;
pub(crate) use environment::{WEAK_SECRET_KEY_FIX, secret_key_weakness};
#[cfg(test)]
pub(super) use secrets::looks_secret;

/// A rule's check.
pub(super) type CheckFn = fn(&Ctx<'_>) -> Option<Vec<Hit>>;

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
    /// Judged as production: a strict environment, or `--deploy`.
    pub(super) strict: bool,
    /// The effective settings, as derived for the environment judged (production for
    /// `--deploy` runs of other environments).
    policy: Policy,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        cfg: &'a Config,
        problems: &'a [Problem],
        facts: &'a Facts,
        deploy: bool,
    ) -> Ctx<'a> {
        let strict = deploy || cfg.environment.is_strict();
        let judged = if strict && !cfg.environment.is_strict() {
            Environment::Production
        } else {
            cfg.environment
        };
        Ctx {
            cfg,
            problems,
            facts,
            strict,
            policy: derive_as(cfg, judged, &facts.probe),
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
    ($id:ident, $heading:ident, $applies:ident, $summary:literal, $check:path) => {
        Rule {
            id: RuleId::$id,
            heading: Heading::$heading,
            applies: Applies::$applies,
            summary: $summary,
            check: $check,
        }
    };
}

/// Every rule, in report order.
pub static RULES: &[Rule] = &[
    rule!(
        ConfigInvalid,
        Configuration,
        Always,
        "every configuration value is valid",
        configuration::config_invalid
    ),
    rule!(
        ConfigUnknownKey,
        Configuration,
        Always,
        "the configuration has no unknown keys",
        configuration::config_unknown_key
    ),
    rule!(
        ConfigUnsetVariable,
        Configuration,
        Always,
        "every ${VAR} the configuration uses is set",
        configuration::config_unset_variable
    ),
    rule!(
        DockerModeAuto,
        Configuration,
        Deploy,
        "container mode is stated for the deployment (docker: true/false or DOCKER=...)",
        configuration::docker_mode_auto
    ),
    rule!(
        DebugInProduction,
        Environment,
        Strict,
        "debug is false",
        environment::debug_in_production
    ),
    rule!(
        EnvironmentNotProduction,
        Environment,
        Deploy,
        "environment is production",
        environment::environment_not_production
    ),
    rule!(
        SecretKeyMissing,
        Environment,
        Strict,
        "secret_key is set",
        environment::secret_key_missing
    ),
    rule!(
        SecretKeyShort,
        Environment,
        Strict,
        "secret_key has at least 50 characters",
        environment::secret_key_short
    ),
    rule!(
        SecretKeyLowEntropy,
        Environment,
        Strict,
        "secret_key uses at least 5 distinct characters",
        environment::secret_key_low_entropy
    ),
    rule!(
        SecretKeyInsecurePattern,
        Environment,
        Strict,
        "secret_key is not a placeholder or development key",
        environment::secret_key_insecure_pattern
    ),
    rule!(
        DomainsInvalid,
        Domains,
        Always,
        "every security_domains entry parses",
        domains::domains_invalid
    ),
    rule!(
        DomainsEmpty,
        Domains,
        Strict,
        "security_domains lists the production domains",
        domains::domains_empty
    ),
    rule!(
        DomainsWildcard,
        Domains,
        Strict,
        "no wildcard `*` in security_domains",
        domains::domains_wildcard
    ),
    rule!(
        DomainsHttp,
        Domains,
        Strict,
        "HTTPS on every domain",
        domains::domains_http
    ),
    rule!(
        DomainsLocalhost,
        Domains,
        Strict,
        "no loopback host among the production domains",
        domains::domains_localhost
    ),
    rule!(
        DomainsIpLiteral,
        Domains,
        Strict,
        "domains are names, not IP addresses",
        domains::domains_ip_literal
    ),
    rule!(
        CorsRegexAny,
        Domains,
        Always,
        "no CORS origin regex matches any origin",
        domains::cors_regex_any
    ),
    rule!(
        CsrfExemptAll,
        Domains,
        Always,
        "no csrf_exempt_paths pattern matches every path",
        domains::csrf_exempt_all
    ),
    rule!(
        HealthCheckAll,
        Domains,
        Always,
        "no health_check_paths pattern matches every path",
        domains::health_check_all
    ),
    rule!(
        CsrfUpstreamUnverified,
        Domains,
        Always,
        "CSRF left to the upstream is checked there with the derived settings",
        domains::csrf_upstream_unverified
    ),
    rule!(
        HstsDisabled,
        SslHttps,
        Strict,
        "HSTS is on",
        ssl_https::hsts_disabled
    ),
    rule!(
        HstsPreloadWithoutSubdomains,
        SslHttps,
        Strict,
        "HSTS preload comes with includeSubDomains",
        ssl_https::hsts_preload_without_subdomains
    ),
    rule!(
        HstsPreloadShortMaxAge,
        SslHttps,
        Strict,
        "HSTS preload comes with a max-age of at least one year",
        ssl_https::hsts_preload_short_max_age
    ),
    rule!(
        SslRedirectUntrustedProxy,
        SslHttps,
        Strict,
        "ssl_redirect can see HTTPS through the reverse proxy",
        ssl_https::ssl_redirect_untrusted_proxy
    ),
    rule!(
        CookiesInsecure,
        SslHttps,
        Strict,
        "cookies are Secure",
        ssl_https::cookies_insecure
    ),
    rule!(
        ContainerNoTrustedProxies,
        SslHttps,
        Strict,
        "in a container, the reverse proxy is trusted",
        ssl_https::container_no_trusted_proxies
    ),
    rule!(
        TrustedProxiesAny,
        SslHttps,
        Strict,
        "trusted_proxies does not trust every peer",
        ssl_https::trusted_proxies_any
    ),
    rule!(
        CspMissing,
        Headers,
        Strict,
        "production sends a Content-Security-Policy",
        headers::csp_missing
    ),
    rule!(
        ReportOnly,
        Headers,
        Strict,
        "every check enforces (report_only is off)",
        headers::report_only
    ),
    rule!(
        ReportOnlyNoCollector,
        Headers,
        Strict,
        "a report-only CSP has somewhere to send its reports",
        headers::report_only_no_collector
    ),
    rule!(
        DatabasePasswordWeak,
        Database,
        StrictWithDatabase,
        "the database password is strong",
        database::database_password_weak
    ),
    rule!(
        DatabaseHostPublic,
        Database,
        StrictWithDatabase,
        "the database host is not a public or wildcard address",
        database::database_host_public
    ),
    rule!(
        DatabaseNoPassword,
        Database,
        StrictWithDatabase,
        "the database connection has a password",
        database::database_no_password
    ),
    rule!(
        SecretKeyInline,
        Secrets,
        Strict,
        "secret_key comes from the environment, not the config file",
        secrets::secret_key_inline
    ),
    rule!(
        DatabasePasswordInline,
        Secrets,
        StrictWithDatabase,
        "database credentials come from the environment, not the config file",
        secrets::database_password_inline
    ),
    rule!(
        SecretInline,
        Secrets,
        Strict,
        "app secrets come from the environment, not the config file",
        secrets::secret_inline
    ),
    rule!(
        DotenvNotIgnored,
        Secrets,
        Always,
        ".env is in .gitignore",
        secrets::dotenv_not_ignored
    ),
    rule!(
        DotenvTracked,
        Secrets,
        Always,
        ".env is not committed to git",
        secrets::dotenv_tracked
    ),
    rule!(
        DotenvUnverified,
        Secrets,
        Always,
        "git could tell whether .env is ignored and untracked",
        secrets::dotenv_unverified
    ),
    rule!(
        RouteWeakens,
        Headers,
        Strict,
        "no route weakens the policy beyond what it needs",
        routes::route_weakens
    ),
];
