//! Merging layers into one map, and `${VAR}` interpolation in their strings.

use std::collections::BTreeMap;

use crate::config::node::{Node, Value};
use crate::config::{Problem, ProblemKind};

/// Merges one layer's entries into the map: later layers replace top-level keys;
/// nested mappings (`database`, `hsts`, `app`) merge key by key.
pub(super) fn merge(
    merged: &mut BTreeMap<String, (Node, Node)>,
    entries: Vec<(Node, Node)>,
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) {
    for (k, mut v) in entries {
        let Value::Str(name) = &k.value else {
            problems.push(
                Problem::new(
                    ProblemKind::NonStringKey,
                    k.display(),
                    format!("keys must be strings, found {}", k.value.kind()),
                    "quote the key or remove it",
                )
                .at(k.source.clone()),
            );
            continue;
        };
        let name = name.clone();
        interpolate(&mut v, &name, vars, problems);
        match (merged.get_mut(&name), v.value) {
            (Some((_, old)), Value::Map(new_entries)) if matches!(old.value, Value::Map(_)) => {
                if let Value::Map(old_entries) = &mut old.value {
                    for (nk, nv) in new_entries {
                        match old_entries.iter_mut().find(|(ok, _)| ok.value == nk.value) {
                            Some(slot) => *slot = (nk, nv),
                            None => old_entries.push((nk, nv)),
                        }
                    }
                }
            }
            (_, value) => {
                merged.insert(name, (k, Node::new(value, v.source)));
            }
        }
    }
}

/// Replaces `${VAR}` / `${VAR:-default}` in every string of the node.
pub(super) fn interpolate(
    n: &mut Node,
    key: &str,
    vars: &BTreeMap<String, (String, bool)>,
    problems: &mut Vec<Problem>,
) {
    match &mut n.value {
        Value::Str(s) if s.contains('$') => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            let mut used_var = false;
            let mut null = false;
            while let Some(i) = rest.find('$') {
                out.push_str(rest.get(..i).unwrap_or(""));
                let after = rest.get(i + 1..).unwrap_or("");
                if let Some(r) = after.strip_prefix('$') {
                    out.push('$');
                    rest = r;
                } else if let Some(body) = after.strip_prefix('{') {
                    let Some(end) = body.find('}') else {
                        problems.push(
                            Problem::new(
                                ProblemKind::UnclosedVariable,
                                key,
                                "unclosed `${` in value",
                                "write `${NAME}`, or `$$` for a literal `$`",
                            )
                            .at(n.source.clone()),
                        );
                        null = true;
                        break;
                    };
                    let expr = body.get(..end).unwrap_or("");
                    let (name, default) = match expr.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (expr, None),
                    };
                    used_var = true;
                    match (vars.get(name), default) {
                        (Some((v, _)), _) if !(v.is_empty() && default.is_some()) => {
                            out.push_str(v)
                        }
                        (_, Some(d)) => out.push_str(d),
                        (None, None) => {
                            problems.push(
                                Problem::new(
                                    ProblemKind::UnsetVariable,
                                    key,
                                    format!("environment variable {name} is not set"),
                                    format!(
                                        "export {name}=... or add `{name}=...` to .env (or write `${{{name}:-default}}`)"
                                    ),
                                )
                                .with_value(format!("${{{name}}}"))
                                .at(n.source.clone()),
                            );
                            null = true;
                        }
                        (Some(_), None) => {}
                    }
                    rest = body.get(end + 1..).unwrap_or("");
                } else {
                    out.push('$');
                    rest = after;
                }
            }
            out.push_str(rest);
            if used_var {
                n.source.from_env = true;
            }
            n.value = if null { Value::Null } else { Value::Str(out) };
        }
        Value::Seq(items) => {
            for item in items {
                interpolate(item, key, vars, problems);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let sub = match &k.value {
                    Value::Str(s) => format!("{key}.{s}"),
                    _ => key.to_owned(),
                };
                interpolate(v, &sub, vars, problems);
            }
        }
        _ => {}
    }
}
