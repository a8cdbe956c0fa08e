//! The stable ids of the checklist rules, their descriptions and kebab-case names.

use std::fmt;

use serde::{Serialize, Serializer};

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
    /// `csrf-upstream-unverified`: CSRF left to the upstream is checked there with the
    /// derived settings, and no exemption is declared twice.
    CsrfUpstreamUnverified,
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
    /// `report-only-no-collector`: a report-only CSP has somewhere to send its reports.
    ReportOnlyNoCollector,
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
    /// `route-weakens`: no route weakens the policy beyond what it needs.
    RouteWeakens,
}

impl RuleId {
    /// Every id, in report order.
    pub const ALL: [RuleId; 40] = [
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
        RuleId::CsrfUpstreamUnverified,
        RuleId::HstsDisabled,
        RuleId::HstsPreloadWithoutSubdomains,
        RuleId::HstsPreloadShortMaxAge,
        RuleId::SslRedirectUntrustedProxy,
        RuleId::CookiesInsecure,
        RuleId::ContainerNoTrustedProxies,
        RuleId::TrustedProxiesAny,
        RuleId::CspMissing,
        RuleId::ReportOnly,
        RuleId::ReportOnlyNoCollector,
        RuleId::DatabasePasswordWeak,
        RuleId::DatabaseHostPublic,
        RuleId::DatabaseNoPassword,
        RuleId::SecretKeyInline,
        RuleId::DatabasePasswordInline,
        RuleId::SecretInline,
        RuleId::DotenvNotIgnored,
        RuleId::DotenvTracked,
        RuleId::DotenvUnverified,
        RuleId::RouteWeakens,
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
            RuleId::CsrfUpstreamUnverified => {
                "CSRF left to the upstream without proof that it checks with the derived settings"
            }
            RuleId::CspMissing => "A production deployment without a Content-Security-Policy",
            RuleId::ReportOnly => {
                "Checks in report-only mode: would-be rejections are logged and let through"
            }
            RuleId::ReportOnlyNoCollector => {
                "A report-only CSP whose violation reports go nowhere (no collector)"
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
            RuleId::RouteWeakens => {
                "Routes that weaken the policy: CSRF exempt, framable, CORS with credentials for many origins, no TLS redirect"
            }
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
            RuleId::CsrfUpstreamUnverified => "csrf-upstream-unverified",
            RuleId::HstsDisabled => "hsts-disabled",
            RuleId::HstsPreloadWithoutSubdomains => "hsts-preload-without-subdomains",
            RuleId::HstsPreloadShortMaxAge => "hsts-preload-short-max-age",
            RuleId::SslRedirectUntrustedProxy => "ssl-redirect-untrusted-proxy",
            RuleId::CookiesInsecure => "cookies-insecure",
            RuleId::ContainerNoTrustedProxies => "container-no-trusted-proxies",
            RuleId::TrustedProxiesAny => "trusted-proxies-any",
            RuleId::CspMissing => "csp-missing",
            RuleId::ReportOnly => "report-only",
            RuleId::ReportOnlyNoCollector => "report-only-no-collector",
            RuleId::DatabasePasswordWeak => "database-password-weak",
            RuleId::DatabaseHostPublic => "database-host-public",
            RuleId::DatabaseNoPassword => "database-no-password",
            RuleId::SecretKeyInline => "secret-key-inline",
            RuleId::DatabasePasswordInline => "database-password-inline",
            RuleId::SecretInline => "secret-inline",
            RuleId::DotenvNotIgnored => "dotenv-not-ignored",
            RuleId::DotenvTracked => "dotenv-tracked",
            RuleId::DotenvUnverified => "dotenv-unverified",
            RuleId::RouteWeakens => "route-weakens",
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
