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
mod report;
mod rule_id;
mod rules;
#[cfg(test)]
mod tests;

use crate::config::{Config, Problem};

pub use report::{
    DjangoSettingsFacts, DotenvFacts, Facts, Finding, Heading, Location, MANUAL, ManualItem,
    Report, Severity,
};
pub use rule_id::RuleId;
pub use rules::RULES;
pub(crate) use rules::{WEAK_SECRET_KEY_FIX, secret_key_weakness};

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
