//! Reading YAML files into top-level entries, and the wording of syntax errors.

use std::path::Path;
use std::sync::Arc;

use super::fatal;
use crate::config::ConfigErrors;
use crate::config::ProblemKind;
use crate::config::node::{Node, Value};

/// Reads a YAML file into its top-level entries.
pub(super) fn read_yaml(path: &Path) -> Result<Vec<(Node, Node)>, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fatal(
            ProblemKind::UnreadableFile,
            path,
            0,
            format!("cannot read the config file: {e}"),
            "check the path given to --config",
        )
    })?;
    parse_yaml(&text, path)
}

/// Parses YAML text into top-level entries, each node tagged with `path`.
pub(crate) fn parse_yaml(text: &str, path: &Path) -> Result<Vec<(Node, Node)>, ConfigErrors> {
    let origin: Arc<str> = Arc::from(path.display().to_string());
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut doc: Node = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        // The message without the source snippet: a snippet could show a secret.
        let msg = e.without_snippet().to_string();
        let msg = msg.lines().next().unwrap_or("invalid YAML").to_owned();
        let line_text = usize::try_from(line)
            .ok()
            .and_then(|l| text.lines().nth(l.checked_sub(1)?))
            .unwrap_or("");
        let (message, fix) = yaml_error_wording(&msg, line_text);
        fatal(ProblemKind::InvalidYaml, path, line, message, &fix)
    })?;
    doc.set_origin(&origin);
    match doc.value {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(Vec::new()),
        other => Err(fatal(
            ProblemKind::InvalidYaml,
            path,
            doc.source.line,
            format!(
                "the top level must be a mapping of keys, found {}",
                other.kind()
            ),
            "write `key: value` lines, e.g. `security_domains: [example.com]`",
        )),
    }
}

/// The message and fix for a YAML syntax error, worded for this file format rather
/// than in the parser's terms. `line_text` is the offending line; it is only inspected,
/// never quoted (it could hold a secret).
pub(super) fn yaml_error_wording(msg: &str, line_text: &str) -> (String, String) {
    // The parser's own position suffix (` at line 2, column 1`) repeats our line; keep
    // the column.
    let (msg, column) = match msg.rfind(" at line ") {
        Some(i) => (
            msg.get(..i).unwrap_or(msg),
            msg.get(i..)
                .and_then(|pos| pos.split_once("column "))
                .map(|(_, c)| format!(" (column {c})")),
        ),
        None => (msg, None),
    };
    let column = column.unwrap_or_default();
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return (
            format!("duplicate key: `{key}` is written twice in one mapping"),
            format!("keep one `{key}:` and remove the other"),
        );
    }
    if msg.contains("flow sequence") || msg.contains("flow mapping") {
        let fix = if line_text.contains(['{', '}']) || line_text.contains("[*") {
            "quote list items that hold `{`, `}`, `[`, `]`, `,` or start with `*`, e.g. `[\"/api/*\", \"/hooks/{id}\"]`, or write one `- /hooks/{id}` item per line"
        } else {
            "close the list with `]` and separate items with `,`, e.g. `[example.com, api.example.com]`; quote items that hold `{`, `}`, `[`, `]` or `,`"
        };
        return (format!("invalid YAML: {msg}{column}"), fix.to_owned());
    }
    (
        format!("invalid YAML: {msg}{column}"),
        "fix the YAML syntax at that line".to_owned(),
    )
}
