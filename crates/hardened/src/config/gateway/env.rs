//! The `HARDENED_GATEWAY_*` environment variables: each sets one `gateway.*` key over
//! whatever the files said.

use std::collections::BTreeMap;

use super::{keys, tls_keys};
use crate::config::node::{Node, Value};

/// The environment variable of `gateway.<path>`: `HARDENED_GATEWAY_` and the path
/// in capitals, `_` between its parts (`tls.cert`: `HARDENED_GATEWAY_TLS_CERT`).
fn env_name(path: &[&str]) -> String {
    format!("HARDENED_GATEWAY_{}", path.join("_").to_ascii_uppercase())
}

/// Every `gateway` key path an environment variable may set.
fn env_paths() -> impl Iterator<Item = Vec<&'static str>> {
    keys()
        .filter(|k| *k != "tls")
        .map(|k| vec![k])
        .chain(tls_keys().map(|k| vec!["tls", k]))
}

/// Every `HARDENED_GATEWAY_*` variable, with the `gateway.*` key path it sets.
pub(crate) fn variables() -> Vec<(String, String)> {
    env_paths()
        .map(|path| (env_name(&path), format!("gateway.{}", path.join("."))))
        .collect()
}

/// Sets `gateway.*` keys from the `HARDENED_GATEWAY_*` variables that are set and
/// not empty, over whatever the files said. `node(name, value)` makes the key and
/// value nodes of a variable, as the loader does for its other variables.
pub(crate) fn env_overrides(
    merged: &mut BTreeMap<String, (Node, Node)>,
    vars: &BTreeMap<String, (String, bool)>,
    node: &dyn Fn(&str, Value) -> (Node, Node),
) {
    for path in env_paths() {
        let name = env_name(&path);
        let Some((v, _)) = vars.get(&name) else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        let (k, n) = node(&name, Value::Str(v.clone()));
        let slot = merged.entry("gateway".to_owned()).or_insert_with(|| {
            (
                Node::new(Value::Str("gateway".into()), k.source.clone()),
                Node::new(Value::Map(Vec::new()), k.source.clone()),
            )
        });
        set_path(&mut slot.1, &path, k, n);
    }
}

/// Sets `gateway.*` keys from the command-line flags, over the files and the
/// environment. A flag given several times is a list for a list setting, else its last
/// value counts.
pub(crate) fn flag_overrides(
    merged: &mut BTreeMap<String, (Node, Node)>,
    flags: &[crate::config::load::GatewayFlag],
) {
    for f in flags {
        let source = crate::config::Source::flag(&f.flag);
        let path: Vec<&str> = f.path.split('.').collect();
        let is_list = super::setting(&f.path).is_some_and(|s| s.kind == super::Kind::Paths);
        let value = if is_list {
            Value::Seq(
                f.values
                    .iter()
                    .map(|v| Node::new(Value::Str(v.clone()), source.clone()))
                    .collect(),
            )
        } else {
            match f.values.last() {
                Some(v) => Value::Str(v.clone()),
                None => continue,
            }
        };
        let k = Node::new(Value::Str(f.flag.clone()), source.clone());
        let n = Node::new(value, source.clone());
        let slot = merged.entry("gateway".to_owned()).or_insert_with(|| {
            (
                Node::new(Value::Str("gateway".into()), source.clone()),
                Node::new(Value::Map(Vec::new()), source.clone()),
            )
        });
        set_path(&mut slot.1, &path, k, n);
    }
}

/// Sets `path` inside `map` (a mapping; anything else is replaced by one).
fn set_path(map: &mut Node, path: &[&str], k: Node, v: Node) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if !matches!(map.value, Value::Map(_)) {
        map.value = Value::Map(Vec::new());
    }
    let Value::Map(entries) = &mut map.value else {
        return;
    };
    let is_key = |n: &Node| matches!(&n.value, Value::Str(s) if s == first);
    let key_node = Node::new(Value::Str((*first).into()), k.source.clone());
    if rest.is_empty() {
        match entries.iter_mut().find(|(ek, _)| is_key(ek)) {
            Some(slot) => *slot = (key_node, v),
            None => entries.push((key_node, v)),
        }
        return;
    }
    let idx = match entries.iter().position(|(ek, _)| is_key(ek)) {
        Some(i) => i,
        None => {
            let empty = Node::new(Value::Map(Vec::new()), k.source.clone());
            entries.push((key_node, empty));
            entries.len() - 1
        }
    };
    if let Some((_, sub)) = entries.get_mut(idx) {
        set_path(sub, rest, k, v);
    }
}
