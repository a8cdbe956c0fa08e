//! The checks of string-typed settings that a [`Config`] built in code must pass as
//! well as one read from a file: the same rule, the same words.
//!
//! The typer applies them while reading a file (and drops what fails); [`code_problems`]
//! applies them to the fields of any `Config`, so `Security::from_config` refuses
//! `csrf_exempt_paths.push("hooks/{id}".into())` as a file would.

use super::problem::{Problem, ProblemKind};
use super::{Config, OriginRegex};

/// What is wrong with a path pattern (`health_check_paths`, `csrf_exempt_paths`), and
/// the fix; `None` when it is fine.
pub(crate) fn path_problem(s: &str) -> Option<(&'static str, &'static str)> {
    if s.starts_with('/') && !s.contains(['?', '#', ' ']) {
        None
    } else {
        Some((
            "a path must start with `/` and contain no query, fragment or spaces",
            "write it as `/healthz` (or `/api/*` for a prefix)",
        ))
    }
}

/// Every problem of the string-typed fields of a configuration, wherever it was built:
/// path patterns, CORS header names and methods, origin regexes, the session cookie
/// name. A configuration read by the loader has none left (the typer reported and
/// dropped them). `regexes` are the origin regexes compiled
/// ([`origin_regexes`](super::origin_regexes)).
pub(crate) fn code_problems(
    cfg: &Config,
    regexes: &[Result<OriginRegex, regex::Error>],
) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = |key: &str| cfg.sources.get(key).cloned();
    for (key, paths) in [
        ("health_check_paths", &cfg.health_check_paths),
        ("csrf_exempt_paths", &cfg.csrf_exempt_paths),
    ] {
        for (i, s) in paths.iter().enumerate() {
            if let Some((message, fix)) = path_problem(s) {
                out.push(
                    Problem::new(
                        ProblemKind::InvalidPath,
                        format!("{key}[{i}]"),
                        message,
                        fix,
                    )
                    .with_value(format!("{s:?}"))
                    .at(at(key)),
                );
            }
        }
    }
    for (i, s) in cfg.cors_allow_headers.iter().enumerate() {
        if http::HeaderName::from_bytes(s.trim().as_bytes()).is_err() {
            out.push(
                Problem::new(
                    ProblemKind::InvalidHeaderName,
                    format!("cors_allow_headers[{i}]"),
                    format!("{s:?} is not a valid header name"),
                    "use header names such as `content-type` or `x-api-key`",
                )
                .with_value(format!("{s:?}"))
                .at(at("cors_allow_headers")),
            );
        }
    }
    for (i, s) in cfg.cors_allow_methods.iter().enumerate() {
        if http::Method::from_bytes(s.trim().as_bytes()).is_err() {
            out.push(
                Problem::new(
                    ProblemKind::InvalidMethod,
                    format!("cors_allow_methods[{i}]"),
                    format!("{s:?} is not a valid HTTP method"),
                    "use methods such as GET, POST, PUT, PATCH, DELETE",
                )
                .with_value(format!("{s:?}"))
                .at(at("cors_allow_methods")),
            );
        }
    }
    for (i, (s, re)) in cfg
        .cors_allowed_origin_regexes
        .iter()
        .zip(regexes)
        .enumerate()
    {
        if let Err(e) = re {
            out.push(
                Problem::new(
                    ProblemKind::InvalidRegex,
                    format!("cors_allowed_origin_regexes[{i}]"),
                    format!("invalid regex: {e}"),
                    "fix the regular expression (anchor it with ^...$)",
                )
                .with_value(format!("{s:?}"))
                .at(at("cors_allowed_origin_regexes")),
            );
        }
    }
    if http::HeaderName::from_bytes(cfg.session_cookie_name.as_bytes()).is_err() {
        out.push(
            Problem::new(
                ProblemKind::InvalidCookieName,
                "session_cookie_name",
                "not a valid cookie name",
                "use letters, digits, `-` and `_`",
            )
            .with_value(format!("{:?}", cfg.session_cookie_name))
            .at(at("session_cookie_name")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::config::ProblemKind;

    #[test]
    fn a_config_built_in_code_is_checked_like_a_file() {
        let mut cfg = Config::development();
        cfg.csrf_exempt_paths.push("/api/*".into());
        cfg.csrf_exempt_paths.push("hooks/{id}".into());
        cfg.cors_allow_methods.push("NOT A METHOD".into());
        let problems = super::code_problems(&cfg, &crate::config::origin_regexes(&cfg));
        let got: Vec<(ProblemKind, &str)> = problems.iter().map(|p| (p.kind(), p.key())).collect();
        assert_eq!(
            got,
            [
                (ProblemKind::InvalidPath, "csrf_exempt_paths[1]"),
                (ProblemKind::InvalidMethod, "cors_allow_methods[6]"),
            ]
        );
        let first = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(
            first,
            "`csrf_exempt_paths[1]` = \"hooks/{id}\": a path must start with `/` and contain no query, fragment or spaces\n  fix: write it as `/healthz` (or `/api/*` for a prefix)"
        );
    }
}
