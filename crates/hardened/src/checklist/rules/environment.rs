//! The Environment rules: `debug`, `environment` and `secret_key`.

use super::{Ctx, Hit, hit};
use crate::checklist::Severity;
use crate::checklist::password::{self, MIN_DISTINCT};
use crate::config::{Environment, Role};

/// Minimum secret key length (the guide: 50+ characters).
const MIN_SECRET_KEY_LEN: usize = 50;

pub(super) fn debug_in_production(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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

pub(super) fn environment_not_production(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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
pub(super) fn secret_key<'a>(cx: &Ctx<'a>) -> Option<&'a str> {
    cx.cfg
        .secret_key
        .as_ref()
        .map(|s| s.expose())
        .filter(|s| !s.trim().is_empty())
}

const SECRET_KEY_FIX: &str = "generate a key with `hardened secret-key` and export SECRET_KEY (config: `secret_key: ${SECRET_KEY}`)";

/// The fix of a missing key: make one, or say that only the gateway reads the file.
const SECRET_KEY_MISSING_FIX: &str = "generate a key with `hardened secret-key` and export SECRET_KEY (config: `secret_key: ${SECRET_KEY}`); if only `hardened serve` reads this file, say so with `role: gateway` (the gateway signs nothing)";

pub(super) fn secret_key_missing(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    // A gateway-only configuration needs no secret: the application behind the
    // gateway keeps its own.
    if cx.cfg.role == Role::Gateway {
        return None;
    }
    let mut hits = Vec::new();
    if secret_key(cx).is_none() {
        hits.push(hit(
            Severity::Error,
            format!("secret_key is not set in {}", cx.target()),
            SECRET_KEY_MISSING_FIX,
            cx.loc("secret_key"),
        ));
    }
    Some(hits)
}

/// Why `key` is too short to be a secret key, if it is.
fn short_reason(key: &str) -> Option<String> {
    let len = key.chars().count();
    (len < MIN_SECRET_KEY_LEN).then(|| {
        format!("secret_key is {len} characters long; at least {MIN_SECRET_KEY_LEN} are needed")
    })
}

/// Why `key` has too few distinct characters to be a secret key, if it has.
fn low_entropy_reason(key: &str) -> Option<String> {
    let distinct = password::distinct_chars(key);
    (distinct < MIN_DISTINCT).then(|| {
        format!(
            "secret_key uses only {distinct} distinct characters; at least {MIN_DISTINCT} are needed"
        )
    })
}

/// Why a set secret key is known to be weak (a placeholder, a published example, a
/// common password, too short, too few distinct characters), the most telling reason
/// first; `None` for a key the checklist accepts. The loader refuses such a key in
/// production and staging with this reason.
pub(crate) fn secret_key_weakness(key: &str) -> Option<String> {
    pattern_reason(key)
        .or_else(|| short_reason(key))
        .or_else(|| low_entropy_reason(key))
}

/// The fix of a weak key.
pub(crate) const WEAK_SECRET_KEY_FIX: &str = SECRET_KEY_FIX;

pub(super) fn secret_key_short(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let why = short_reason(secret_key(cx)?);
    Some(
        why.map(|m| hit(Severity::Error, m, SECRET_KEY_FIX, cx.loc("secret_key")))
            .into_iter()
            .collect(),
    )
}

pub(super) fn secret_key_low_entropy(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let why = low_entropy_reason(secret_key(cx)?);
    Some(
        why.map(|m| hit(Severity::Error, m, SECRET_KEY_FIX, cx.loc("secret_key")))
            .into_iter()
            .collect(),
    )
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

/// Why `key` is a placeholder, a published example or a common password, if it is.
fn pattern_reason(key: &str) -> Option<String> {
    let trimmed = key.trim().trim_matches(['"', '\'']);
    let lower = key.to_lowercase();
    if GUIDE_EXAMPLE_KEYS.contains(&trimmed) {
        Some("secret_key is an example key published in the security guide".to_owned())
    } else {
        INSECURE_PATTERNS
            .iter()
            .find(|p| lower.contains(*p))
            .map(|p| format!("secret_key contains {p:?}, a placeholder or development pattern"))
            .or_else(|| {
                password::is_common(trimmed).then(|| {
                    "secret_key is a common password, among the first an attacker tries".to_owned()
                })
            })
    }
}

pub(super) fn secret_key_insecure_pattern(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let why = pattern_reason(secret_key(cx)?);
    Some(
        why.map(|m| hit(Severity::Error, m, SECRET_KEY_FIX, cx.loc("secret_key")))
            .into_iter()
            .collect(),
    )
}
