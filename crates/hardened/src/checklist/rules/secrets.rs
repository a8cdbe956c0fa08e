//! The Secrets rules: secrets kept out of the config file and out of git.

use super::database::db_url;
use super::environment::secret_key;
use super::{Ctx, Hit, hit};
use crate::checklist::{DotenvFacts, Severity};

/// How a value was written: `Some(true)` literally in a file, `Some(false)` from the
/// environment, `None` unknown (no source recorded).
pub(super) fn written_inline(cx: &Ctx<'_>, key: &str) -> Option<bool> {
    cx.source(key).map(|s| s.is_file() && !s.from_env)
}

fn inline_fix(key: &str, var: &str) -> String {
    format!(
        "write `{key}: ${{{var}}}` and set {var} in the environment or in a .env file listed in .gitignore"
    )
}

pub(super) fn secret_key_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    secret_key(cx)?;
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

pub(super) fn database_password_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let db = cx.cfg.database.as_ref()?;
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
pub(crate) fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|p| n.contains(p))
        && !NOT_SECRET_NAME_PARTS.iter().any(|p| n.contains(p))
}

pub(super) fn secret_inline(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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

fn dotenv_known<'a>(cx: &Ctx<'a>) -> Option<&'a DotenvFacts> {
    cx.facts.dotenv.as_ref().filter(|d| d.exists)
}

pub(super) fn dotenv_not_ignored(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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

pub(super) fn dotenv_tracked(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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

pub(super) fn dotenv_unverified(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
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
