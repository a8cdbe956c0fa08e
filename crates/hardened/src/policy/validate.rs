//! Validation: every problem that makes a configuration unsafe to run, found at once.
//!
//! A [`Valid`] configuration is what [`derive_valid`](super::derive_valid) takes, so
//! derivation itself cannot fail.

use crate::config::{Config, ConfigErrors, Problem, ProblemKind};
use crate::domain::DomainEntry;

/// A configuration that passed [`validate`]: safe to run, so derivation over it is
/// infallible.
#[derive(Clone, Copy, Debug)]
pub struct Valid<'a>(&'a Config);

impl<'a> Valid<'a> {
    /// The configuration.
    pub fn config(&self) -> &'a Config {
        self.0
    }
}

/// Checks a configuration, reporting every problem at once.
///
/// ```
/// use hardened::config::{Config, Environment};
/// use hardened::policy::validate;
///
/// let mut cfg = Config::development();
/// assert!(validate(&cfg).is_ok());
/// cfg.environment = Environment::Production;
/// let errs = validate(&cfg).unwrap_err();
/// assert_eq!(errs.0[0].kind().code(), "no-domains");
/// ```
///
/// # Errors
/// Production or staging without domains, `*` outside development.
pub fn validate(cfg: &Config) -> Result<Valid<'_>, ConfigErrors> {
    let problems = problems(cfg);
    if problems.is_empty() {
        Ok(Valid(cfg))
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Every problem that makes the configuration unsafe to run, whatever its source:
/// production or staging without domains, `*` outside development, and values a file
/// could not hold (a path pattern without `/`, an invalid header name, ...).
pub(crate) fn problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let src = cfg.sources.get("security_domains").cloned();
    if cfg.environment.is_strict() {
        if cfg.security_domains.is_empty() && cfg.api_url.is_none() && cfg.site_url.is_none() {
            out.push(
                Problem::new(
                    ProblemKind::NoDomains,
                    "security_domains",
                    format!(
                        "{} needs at least one security domain; without one no request could be served",
                        cfg.environment
                    ),
                    "add your domains: security_domains: [example.com, api.example.com]",
                )
                .with_value("[]")
                .at(src.clone()),
            );
        }
        if cfg
            .security_domains
            .iter()
            .any(|d| matches!(d, DomainEntry::Any))
        {
            out.push(
                Problem::new(
                    ProblemKind::WildcardDomain,
                    "security_domains",
                    format!("the wildcard `*` is not allowed in {}", cfg.environment),
                    "list your real domains, e.g. security_domains: [example.com]; `*` is for development only",
                )
                .with_value("\"*\"")
                .at(src),
            );
        }
    }
    // The checks a file's values pass, for a `Config` built in code too.
    out.extend(crate::config::code_problems(cfg));
    out
}
