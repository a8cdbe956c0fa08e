//! Typing the `reports:` section: `true` for the defaults, or a mapping of `path`,
//! `max_body_size`, `rate_limit` and `dedup_window`.

use super::Typer;
use crate::config::gateway::{parse_bytes, parse_duration};
use crate::config::node::{Node, Value};
use crate::config::parse_bool;
use crate::config::problem::ProblemKind;
use crate::reports::ReportsConfig;

/// The keys of `reports:`.
pub(crate) const REPORTS_KEYS: &[&str] = &["path", "max_body_size", "rate_limit", "dedup_window"];

/// The largest `reports.max_body_size`: a browser's batch is a few KiB.
const MAX_BODY_LIMIT: u64 = 1 << 20;

/// Whether `path` can be the collector's path: absolute, and only the characters a
/// header value (`Reporting-Endpoints`, a CSP) carries unquoted and unescaped.
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~'))
}

impl Typer {
    pub(super) fn reports(&mut self, n: &Node) -> Option<ReportsConfig> {
        match &n.value {
            Value::Null | Value::Bool(false) => return None,
            Value::Bool(true) => return Some(ReportsConfig::default()),
            Value::Str(s) if parse_bool(s).is_some() => {
                return parse_bool(s).unwrap_or(false).then(ReportsConfig::default);
            }
            _ => {}
        }
        let mut r = ReportsConfig::default();
        for (k, kn, v) in self.sub_map(n, "reports") {
            let path = format!("reports.{k}");
            match k.as_str() {
                "path" => {
                    if let Some(s) = self.string(v, &path, DEFAULT_PATH_EXAMPLE) {
                        if valid_path(s.trim()) {
                            r.path = s.trim().to_owned();
                        } else {
                            self.problem(
                                ProblemKind::InvalidPath,
                                v,
                                &path,
                                "not a path the collector can be served at".into(),
                                "write an absolute path of letters, digits, `/`, `.`, `-`, `_`, `~`, e.g. `/.well-known/hardened/reports`",
                            );
                        }
                    }
                }
                "max_body_size" => {
                    let size = match &v.value {
                        Value::Int(i) => u64::try_from(*i).ok(),
                        Value::Str(s) => parse_bytes(s),
                        _ => None,
                    };
                    match size {
                        Some(s) if (1024..=MAX_BODY_LIMIT).contains(&s) => r.max_body_size = s,
                        _ => self.problem(
                            ProblemKind::InvalidSize,
                            v,
                            &path,
                            "not a size from 1KiB to 1MiB".into(),
                            "write bytes (`65536`) or with a unit (`64KiB`); the default is 64KiB",
                        ),
                    }
                }
                "rate_limit" => {
                    if let Some(n) = self.u64(v, &path, "60") {
                        match u32::try_from(n) {
                            Ok(n) if (1..=100_000).contains(&n) => r.rate_limit = n,
                            _ => self.problem(
                                ProblemKind::InvalidSize,
                                v,
                                &path,
                                "must be from 1 to 100000 uploads per client per minute".into(),
                                "write a whole number such as `60` (the default)",
                            ),
                        }
                    }
                }
                "dedup_window" => {
                    let d = match &v.value {
                        Value::Int(i) => u64::try_from(*i).ok().map(std::time::Duration::from_secs),
                        Value::Str(s) => parse_duration(s),
                        _ => None,
                    };
                    match d {
                        Some(d) if !d.is_zero() => r.dedup_window = d,
                        _ => self.problem(
                            ProblemKind::InvalidDuration,
                            v,
                            &path,
                            "not a duration above zero".into(),
                            "write a duration such as `10m` (the default), `30s` or `1h`",
                        ),
                    }
                }
                _ => self.unknown_sub(kn, &path, REPORTS_KEYS),
            }
        }
        Some(r)
    }
}

const DEFAULT_PATH_EXAMPLE: &str = crate::reports::DEFAULT_PATH;

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn paths() {
        for ok in ["/.well-known/hardened/reports", "/csp-reports", "/a_b~c"] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "reports",
            "//evil.test/x",
            "/a b",
            "/a;b",
            "/a\"b",
            "/a,b",
            "/{nonce}",
            "",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
