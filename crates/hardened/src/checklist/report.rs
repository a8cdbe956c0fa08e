//! What a checklist run reports: findings with their severity, heading and location,
//! the manual items, and the facts the caller gathered for the checks.

use std::fmt;
use std::path::PathBuf;

use super::rule_id::RuleId;
use crate::config::{Environment, Source};
use crate::probe::RuntimeProbe;

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
    /// The rule's stable id (see [`RULES`](super::RULES)).
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

/// How the Django settings fragment named by `gateway.django_settings` compares with
/// what `hardened show --format django` renders for the configuration now (gathered by
/// the caller, which renders it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DjangoSettingsFacts {
    /// The file holds exactly the current rendering.
    Current,
    /// The file cannot be read.
    Unreadable(String),
    /// The file differs; the first differing line (1-based) and the setting there.
    Stale {
        /// The first line that differs.
        line: u64,
        /// What the current rendering has on that line (empty past its end).
        expected: String,
    },
}

/// Facts about the world the checks need, gathered by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// The `.env` file next to the configuration, when one was looked for.
    pub dotenv: Option<DotenvFacts>,
    /// The file of `gateway.django_settings` against the current rendering, when the
    /// caller compared them.
    pub django_settings: Option<DjangoSettingsFacts>,
    /// What the runtime probe detected (Docker, Kubernetes).
    pub probe: RuntimeProbe,
}

impl Facts {
    /// Facts with this probe and no `.env` information.
    pub fn new(probe: RuntimeProbe) -> Facts {
        Facts {
            dotenv: None,
            django_settings: None,
            probe,
        }
    }

    /// Adds how the `gateway.django_settings` file compares with the current rendering.
    pub fn with_django_settings(mut self, facts: DjangoSettingsFacts) -> Facts {
        self.django_settings = Some(facts);
        self
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
