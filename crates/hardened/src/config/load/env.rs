//! The environment: the variables that name it, `debug`, and `.env` files.

use std::collections::BTreeMap;
use std::path::Path;

use super::{ENVIRONMENT_VARS, fatal};
use crate::config::node::{Node, Value};
use crate::config::{ConfigErrors, Environment, Problem, ProblemKind, Source};

pub(super) fn environment_var(
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) -> Option<(Environment, String)> {
    for name in ENVIRONMENT_VARS {
        let Some((v, _)) = vars.get(name) else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        match Environment::parse(v) {
            Some(e) => return Some((e, name.to_owned())),
            // `ENV` is also a POSIX shell variable (a startup file path): ignore values
            // that are not environment names instead of failing.
            None if name == "ENV" => continue,
            None => {
                problems.push(
                    Problem::new(
                        ProblemKind::UnknownEnvironment,
                        "environment",
                        format!("{name} names no known environment"),
                        crate::config::typer::ENVIRONMENT_FIX,
                    )
                    .with_value(format!("{v:?}"))
                    .at(Source::env(name)),
                );
                return None;
            }
        }
    }
    None
}

/// The environment a merged map implies (explicit key, else `debug`).
pub(super) fn environment_of(
    merged: &BTreeMap<String, (Node, Node)>,
    debug_var: Option<&str>,
) -> Option<Environment> {
    if let Some((_, n)) = merged.get("environment")
        && let Value::Str(s) = &n.value
    {
        return Environment::parse(s);
    }
    let debug = match (debug_var, merged.get("debug").map(|(_, n)| &n.value)) {
        (Some(v), _) => crate::config::parse_bool(v).unwrap_or(false),
        (None, Some(Value::Bool(b))) => *b,
        (None, Some(Value::Str(s))) => crate::config::parse_bool(s).unwrap_or(false),
        _ => false,
    };
    Some(if debug {
        Environment::Development
    } else {
        Environment::Production
    })
}

/// The line each variable of a `.env` file is (last) set on: `NAME=`, `export NAME=`.
pub(super) fn dotenv_line_numbers(path: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if let Some((name, _)) = line.split_once('=')
            && !name.trim().is_empty()
            && !name.trim().starts_with('#')
        {
            out.insert(name.trim().to_owned(), u64::try_from(i + 1).unwrap_or(0));
        }
    }
    out
}

/// Reads a `.env` file if present. Returns the variables and whether a file was read.
pub(super) fn read_dotenv(path: &Path) -> Result<(Vec<(String, String)>, bool), ConfigErrors> {
    if !path.is_file() {
        return Ok((Vec::new(), false));
    }
    let iter = dotenvy::from_path_iter(path).map_err(|e| {
        fatal(
            ProblemKind::UnreadableFile,
            path,
            0,
            format!("cannot read .env: {e}"),
            "check the file's permissions",
        )
    })?;
    let mut out = Vec::new();
    for item in iter {
        match item {
            Ok(kv) => out.push(kv),
            Err(e) => {
                // dotenvy reports the offending line's text and a column; find the line.
                let line = match &e {
                    dotenvy::Error::LineParse(text, _) => std::fs::read_to_string(path)
                        .ok()
                        .and_then(|all| {
                            let first = text.lines().next().unwrap_or(text).trim();
                            all.lines().position(|l| l.trim() == first)
                        })
                        .map_or(0, |i| u64::try_from(i + 1).unwrap_or(0)),
                    _ => 0,
                };
                // The dotenv error text quotes the line, which may hold a secret: omit it.
                let _ = e;
                return Err(fatal(
                    ProblemKind::InvalidDotenv,
                    path,
                    line,
                    "invalid line in .env".into(),
                    "write `NAME=value` lines (quote values with spaces)",
                ));
            }
        }
    }
    Ok((out, true))
}
