//! Typing `fetch_metadata:`.

use super::Typer;
use crate::config::FetchMetadata;
use crate::config::node::{Node, Value};

impl Typer {
    /// `fetch_metadata: enforce | report | off` (`null`: the environment's default;
    /// YAML's `off`/`false` is `off`).
    pub(super) fn fetch_metadata(&mut self, n: &Node, key: &str) -> Option<FetchMetadata> {
        match &n.value {
            Value::Null => None,
            Value::Bool(false) => Some(FetchMetadata::Off),
            Value::Str(s) if FetchMetadata::parse(s).is_some() => FetchMetadata::parse(s),
            _ => {
                self.not_one_of(
                    n,
                    key,
                    "enforce, report or off",
                    &["enforce", "report", "off"],
                );
                None
            }
        }
    }
}
