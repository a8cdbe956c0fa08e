//! Problems found in a configuration: what kind, where, which key and value, what is
//! wrong and how to fix it.

use std::fmt;

use serde::{Serialize, Serializer};

use super::Source;
use crate::domain;

/// What a [`Problem`] is about: one variant per cause, each with a stable kebab-case
/// [`code`](ProblemKind::code).
///
/// Tools classify problems by kind, never by message text: messages may be reworded,
/// kinds and codes stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A key the configuration does not know (`unknown-key`).
    UnknownKey,
    /// A mapping key that is not a string (`non-string-key`).
    NonStringKey,
    /// A value of the wrong type, e.g. a list where a boolean belongs (`wrong-type`).
    WrongType,
    /// A `${VAR}` whose variable is not set and has no default (`unset-variable`).
    UnsetVariable,
    /// A `${` without its closing `}` (`unclosed-variable`).
    UnclosedVariable,
    /// An environment name that is not development, test, staging or production
    /// (`unknown-environment`).
    UnknownEnvironment,
    /// A `security_domains` entry that does not parse (`invalid-domain`).
    InvalidDomain,
    /// A strict environment without any domain (`no-domains`).
    NoDomains,
    /// The wildcard `*` outside development (`wildcard-domain`).
    WildcardDomain,
    /// A setting that matches anything (a CORS regex admitting any origin, an exempt
    /// path pattern matching every path) outside development (`catch-all`).
    CatchAll,
    /// A secret key known to be weak (a placeholder, a published example, a common
    /// password, too short) outside development (`weak-secret-key`).
    WeakSecretKey,
    /// A string that is not a valid HTTP header name (`invalid-header-name`).
    InvalidHeaderName,
    /// A string that is not a valid HTTP header value (`invalid-header-value`).
    InvalidHeaderValue,
    /// A string that is not a valid HTTP method (`invalid-method`).
    InvalidMethod,
    /// A regular expression that does not compile (`invalid-regex`).
    InvalidRegex,
    /// A value that is not a URL naming one origin (`invalid-url`).
    InvalidUrl,
    /// A value that is not an IP address or CIDR network (`invalid-network`).
    InvalidNetwork,
    /// An "internal" network wide enough to cover public addresses (`network-too-wide`).
    NetworkTooWide,
    /// A path pattern that does not start with `/` or holds a query, fragment or space
    /// (`invalid-path`).
    InvalidPath,
    /// A cookie name that is not a valid token (`invalid-cookie-name`).
    InvalidCookieName,
    /// Two overlay files for one environment (`duplicate-overlay`).
    DuplicateOverlay,
    /// A configuration, `.env` or certificate file that cannot be read (`unreadable-file`).
    UnreadableFile,
    /// A file that is not valid YAML, or whose top level is not a mapping
    /// (`invalid-yaml`).
    InvalidYaml,
    /// A `.env` line that does not parse (`invalid-dotenv`).
    InvalidDotenv,
    /// A value that is not an `IP:port` socket address (`invalid-address`).
    InvalidAddress,
    /// A value that is not a duration, or zero where a duration must be positive
    /// (`invalid-duration`).
    InvalidDuration,
    /// A mapping without a key it needs, e.g. `gateway.tls` without `key`
    /// (`missing-value`).
    MissingValue,
    /// A size or count that is not a whole number, is negative, or is zero where zero
    /// makes no sense (`invalid-size`).
    InvalidSize,
    /// A reload whose environment is not the running one's, e.g. production to
    /// development: applied only by a restart (`environment-changed`).
    EnvironmentChanged,
    /// A route that contradicts itself, or two routes that rank the same on one path
    /// (`route-conflict`).
    RouteConflict,
}

impl ProblemKind {
    /// The stable kebab-case code, e.g. `unknown-key`.
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::NonStringKey => "non-string-key",
            ProblemKind::WrongType => "wrong-type",
            ProblemKind::UnsetVariable => "unset-variable",
            ProblemKind::UnclosedVariable => "unclosed-variable",
            ProblemKind::UnknownEnvironment => "unknown-environment",
            ProblemKind::InvalidDomain => "invalid-domain",
            ProblemKind::NoDomains => "no-domains",
            ProblemKind::WildcardDomain => "wildcard-domain",
            ProblemKind::CatchAll => "catch-all",
            ProblemKind::InvalidHeaderName => "invalid-header-name",
            ProblemKind::InvalidHeaderValue => "invalid-header-value",
            ProblemKind::InvalidMethod => "invalid-method",
            ProblemKind::InvalidRegex => "invalid-regex",
            ProblemKind::InvalidUrl => "invalid-url",
            ProblemKind::InvalidNetwork => "invalid-network",
            ProblemKind::NetworkTooWide => "network-too-wide",
            ProblemKind::InvalidPath => "invalid-path",
            ProblemKind::InvalidCookieName => "invalid-cookie-name",
            ProblemKind::DuplicateOverlay => "duplicate-overlay",
            ProblemKind::UnreadableFile => "unreadable-file",
            ProblemKind::InvalidYaml => "invalid-yaml",
            ProblemKind::InvalidDotenv => "invalid-dotenv",
            ProblemKind::InvalidAddress => "invalid-address",
            ProblemKind::InvalidDuration => "invalid-duration",
            ProblemKind::MissingValue => "missing-value",
            ProblemKind::WeakSecretKey => "weak-secret-key",
            ProblemKind::InvalidSize => "invalid-size",
            ProblemKind::EnvironmentChanged => "environment-changed",
            ProblemKind::RouteConflict => "route-conflict",
        }
    }

    /// Whether the problem is a policy problem: a configuration that reads fine but is
    /// unsafe to run (no domains, `*` or a catch-all setting, in a strict environment).
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            ProblemKind::NoDomains
                | ProblemKind::WildcardDomain
                | ProblemKind::CatchAll
                | ProblemKind::WeakSecretKey
        )
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for ProblemKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// One problem with the configuration: its kind, where, which key, which value, what is
/// wrong and how to fix it.
///
/// ```
/// use hardened::config::{Problem, ProblemKind, Source};
///
/// let p = Problem::new(ProblemKind::UnknownKey, "secure_cookie", "unknown key", "did you mean `secure_cookies`?")
///     .at(Source::env("SECURE_COOKIE"));
/// assert_eq!(p.kind().code(), "unknown-key");
/// assert_eq!(p.to_string(), "environment variable SECURE_COOKIE: `secure_cookie`: unknown key\n  fix: did you mean `secure_cookies`?");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    #[serde(rename = "code")]
    kind: ProblemKind,
    #[serde(serialize_with = "ser_source")]
    source: Option<Source>,
    key: String,
    value: Option<String>,
    message: String,
    fix: String,
}

impl Problem {
    /// A problem of this kind with a key, a message and a fix; no value, no source.
    pub fn new(
        kind: ProblemKind,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            source: None,
            key: key.into(),
            value: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// Adds the offending value, as it is to be shown (quoted, redacted for secrets).
    pub fn with_value(mut self, value: impl Into<String>) -> Problem {
        self.value = Some(value.into());
        self
    }

    /// The problem's key with its leading `from` (`routes[0]`) replaced by `to`.
    pub(crate) fn rekey(mut self, from: &str, to: &str) -> Problem {
        if let Some(rest) = self.key.strip_prefix(from) {
            self.key = format!("{to}{rest}");
        }
        self
    }

    /// The problem under `prefix` (`routes[0]`): its key becomes `prefix.key`.
    pub(crate) fn with_key_prefix(mut self, prefix: &str) -> Problem {
        self.key = format!("{prefix}.{}", self.key);
        self
    }

    /// Adds where the value was written (`None` leaves the problem unlocated).
    pub fn at(mut self, source: impl Into<Option<Source>>) -> Problem {
        self.source = source.into();
        self
    }

    /// What the problem is about.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// Where the offending value was written, when known.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The key path, e.g. `security_domains[2]`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The offending value (redacted for secrets), when there is one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it.
    pub fn fix(&self) -> &str {
        &self.fix
    }

    /// A `security_domains` entry that does not parse.
    pub(crate) fn domain(
        key: &str,
        value: &str,
        e: &domain::DomainError,
        source: Option<Source>,
    ) -> Problem {
        let (message, fix) = match mistyped_scheme(value) {
            Some((scheme, rest)) => (
                format!("the scheme `{scheme}` must be followed by `://`"),
                format!("write `{scheme}://{}`", redact_userinfo(rest)),
            ),
            None => (e.to_string(), e.hint().to_owned()),
        };
        Problem::new(ProblemKind::InvalidDomain, key, message, fix)
            .with_value(format!("{:?}", redact_userinfo(value)))
            .at(source)
    }
}

/// `http//host` or `https:/host`: a scheme whose `://` is mistyped, with what follows.
fn mistyped_scheme(value: &str) -> Option<(&'static str, &str)> {
    let v = value.trim();
    ["https", "http"].into_iter().find_map(|scheme| {
        let rest = v.get(scheme.len()..)?;
        if !v.get(..scheme.len())?.eq_ignore_ascii_case(scheme) || rest.starts_with("://") {
            return None;
        }
        let host = rest
            .strip_prefix("//")
            .or_else(|| rest.strip_prefix(":/"))?;
        (!host.is_empty() && !host.starts_with('/')).then_some((scheme, host))
    })
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
///
/// `Display` renders the readable report, one `error: file:line: …` block per problem.
/// `Debug` renders the same report under a count line, as error-reporting crates do:
/// `fn main() -> Result<(), Box<dyn Error>>` with `Security::load()?` prints the report,
/// not the structure. The alternate form (`{:#?}`) shows the structure.
///
/// ```
/// use hardened::config::{ConfigErrors, Problem, ProblemKind, Source};
///
/// let errs = ConfigErrors(vec![Problem::new(ProblemKind::UnknownKey, "secure_cookie", "unknown key", "did you mean `secure_cookies`?")
///     .at(Source::env("SECURE_COOKIE"))]);
/// assert_eq!(format!("{errs:?}"), format!("1 configuration problem:\n{errs}"));
/// assert!(format!("{errs:#?}").starts_with("ConfigErrors("));
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Debug for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_tuple("ConfigErrors").field(&self.0).finish()
        } else {
            let n = self.0.len();
            let s = if n == 1 { "" } else { "s" };
            writeln!(f, "{n} configuration problem{s}:")?;
            fmt::Display::fmt(self, f)
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::ProblemKind as K;

    /// Every kind, to check the codes.
    const ALL: [K; 25] = [
        K::WeakSecretKey,
        K::UnknownKey,
        K::NonStringKey,
        K::WrongType,
        K::UnsetVariable,
        K::UnclosedVariable,
        K::UnknownEnvironment,
        K::InvalidDomain,
        K::NoDomains,
        K::WildcardDomain,
        K::InvalidHeaderName,
        K::InvalidHeaderValue,
        K::InvalidMethod,
        K::InvalidRegex,
        K::InvalidUrl,
        K::InvalidNetwork,
        K::NetworkTooWide,
        K::InvalidPath,
        K::InvalidCookieName,
        K::DuplicateOverlay,
        K::UnreadableFile,
        K::InvalidYaml,
        K::InvalidDotenv,
        K::EnvironmentChanged,
        K::RouteConflict,
    ];

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let codes: std::collections::BTreeSet<&str> = ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ALL.len());
        for c in codes {
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{c}"
            );
        }
    }
}
