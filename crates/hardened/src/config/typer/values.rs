//! Single values and lists: booleans, strings, numbers, URLs, networks, paths; each
//! wrong one becomes a problem that names the key and, when an environment variable
//! set it, the variable.

use ipnet::IpNet;

use super::Typer;
use super::suggest::edit_distance;
use crate::config::node::{Node, Value};
use crate::config::problem::{Problem, ProblemKind, redact_userinfo};
use crate::config::{parse_bool, parse_net, url_origin};
use crate::domain::Origin;

impl Typer {
    pub(crate) fn problem(
        &mut self,
        kind: ProblemKind,
        n: &Node,
        key: &str,
        message: String,
        fix: impl Into<String>,
    ) {
        let value = if key.starts_with("secret_key")
            || key.contains("password")
            || key == "database.url"
            || key.starts_with("app.")
        {
            "[redacted]".to_owned()
        } else {
            match &n.value {
                Value::Str(v) => format!("{:?}", redact_userinfo(v)),
                _ => n.display(),
            }
        };
        self.problems.push(
            Problem::new(kind, key, message, fix)
                .with_value(value)
                .at(n.source.clone()),
        );
    }

    /// The environment variable that set this value (not `${VAR}` in a file).
    pub(super) fn env_var_of(&self, n: &Node, key: &str) -> Option<String> {
        if !n.source.from_env {
            return None;
        }
        self.vars.get(key).cloned()
    }

    pub(super) fn wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        let fix = match self.env_var_of(n, key) {
            Some(var) => format!("set {var}={}", example.trim_matches(['[', ']'])),
            None => format!("write it as `{key}: {example}`"),
        };
        self.problem(ProblemKind::WrongType, n, key, msg, fix);
    }

    /// A value that is neither of two words, e.g. `debug: flase`: names both, and the
    /// close one when the value is a misspelling.
    pub(super) fn not_one_of(&mut self, n: &Node, key: &str, want: &str, choices: &[&str]) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        let guess = match &n.value {
            Value::Str(s) => {
                let s = s.trim().to_ascii_lowercase();
                choices
                    .iter()
                    .map(|c| (edit_distance(&s, c), *c))
                    .filter(|(d, _)| *d <= 2)
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, c)| c)
            }
            _ => None,
        };
        let fix = match (self.env_var_of(n, key), guess) {
            (Some(var), Some(g)) => format!("did you mean {var}={g}?"),
            (Some(var), None) => {
                let alts: Vec<String> = choices.iter().map(|c| format!("{var}={c}")).collect();
                format!("set {}", alts.join(" or "))
            }
            (None, Some(g)) => format!("did you mean `{key}: {g}`?"),
            (None, None) => {
                let alts: Vec<String> = choices.iter().map(|c| format!("`{key}: {c}`")).collect();
                format!("write {}", alts.join(" or "))
            }
        };
        self.problem(ProblemKind::WrongType, n, key, msg, fix);
    }

    pub(super) fn bool(&mut self, n: &Node, key: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if parse_bool(s).is_some() => parse_bool(s),
            _ => {
                self.not_one_of(n, key, "true or false", &["true", "false"]);
                None
            }
        }
    }

    /// A boolean whose `null` means "the default", e.g. `ssl_redirect`.
    pub(super) fn bool_or_null(&mut self, n: &Node, key: &str, null_means: &str) -> Option<bool> {
        match &n.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) if parse_bool(s).is_some() => parse_bool(s),
            _ => {
                let msg = format!("expected true, false or null, found {}", n.value.kind());
                let fix = match self.env_var_of(n, key) {
                    Some(var) => format!(
                        "set {var}=true or {var}=false, or unset it for the default ({null_means})"
                    ),
                    None => format!(
                        "write `{key}: null` ({null_means}), `{key}: true` or `{key}: false`"
                    ),
                };
                self.problem(ProblemKind::WrongType, n, key, msg, fix);
                None
            }
        }
    }

    pub(super) fn string(&mut self, n: &Node, key: &str, example: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(n, key, "a string", example);
                None
            }
        }
    }

    pub(super) fn u64(&mut self, n: &Node, key: &str, example: &str) -> Option<u64> {
        match &n.value {
            Value::Int(i) if *i >= 0 && *i <= i128::from(u64::MAX) => u64::try_from(*i).ok(),
            Value::Str(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(n, key, "a non-negative integer", example);
                None
            }
        }
    }

    /// A list of strings; a comma-separated string is accepted too (environment values).
    pub(super) fn strings(&mut self, n: &Node, key: &str, example: &str) -> Vec<(String, Node)> {
        match &n.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match &item.value {
                    Value::Str(s) => Some((s.clone(), item.clone())),
                    // Numbers and such in a list of names: report, keep going.
                    _ => {
                        self.wrong_type(item, &format!("{key}[{i}]"), "a string", example);
                        None
                    }
                })
                .collect(),
            Value::Str(s) if n.source.from_env => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), n.clone()))
                .collect(),
            Value::Str(s) if !s.trim().is_empty() && !s.contains(['\n', '[', ']']) => {
                // The value as a one-item list, as it must be written to load: a domain
                // entry without the path it may not hold, quoted where YAML needs it.
                let item = s.trim();
                let item = match url_origin(item) {
                    Ok(o)
                        if key == "security_domains"
                            && crate::domain::parse_entry(item).is_err() =>
                    {
                        o.to_string()
                    }
                    _ => item.to_owned(),
                };
                self.wrong_type(
                    n,
                    key,
                    "a list of strings",
                    &format!("[{}]", flow_item(&item)),
                );
                Vec::new()
            }
            _ => {
                self.wrong_type(n, key, "a list of strings", example);
                Vec::new()
            }
        }
    }

    pub(super) fn url_origin(&mut self, n: &Node, key: &str) -> Option<Origin> {
        let s = self.string(n, key, "https://api.example.com")?;
        match url_origin(&s) {
            Ok(o) => Some(o),
            Err(e) => {
                let fix = format!("write a full URL such as `{key}: https://api.example.com`");
                self.problem(ProblemKind::InvalidUrl, n, key, e, fix);
                None
            }
        }
    }

    pub(super) fn networks(&mut self, n: &Node, key: &str) -> Vec<IpNet> {
        let mut out = Vec::new();
        for (i, (s, item)) in self.strings(n, key, "[10.0.0.0/8]").into_iter().enumerate() {
            match parse_net(&s) {
                Some(net) => out.push(net),
                None => self.problem(
                    ProblemKind::InvalidNetwork,
                    &item,
                    &format!("{key}[{i}]"),
                    format!("{s:?} is not an IP address or CIDR network"),
                    "write a network such as `100.64.0.0/10`, `10.1.2.3` or `fd00::/8`",
                ),
            }
        }
        out
    }

    pub(super) fn path_list(&mut self, n: &Node, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (s, item)) in self.strings(n, key, "[/healthz]").into_iter().enumerate() {
            match crate::config::check::path_problem(&s) {
                None => out.push(s),
                Some((message, fix)) => self.problem(
                    ProblemKind::InvalidPath,
                    &item,
                    &format!("{key}[{i}]"),
                    message.into(),
                    fix,
                ),
            }
        }
        out
    }
}

/// A string as an item of a YAML flow sequence (`[a, b]`): plain when YAML reads it
/// back unchanged, else double-quoted (`"/hooks/{id}"`, `"*.example.com"`).
fn flow_item(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with([
            '-', '?', ':', '!', '&', '*', '#', '|', '>', '\'', '"', '%', '@', '`', ' ',
        ])
        && !s.ends_with([' ', ':'])
        && !s.contains(['{', '}', '[', ']', ',', '#', '\\', '"'])
        && !s.contains(": ");
    if plain {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
