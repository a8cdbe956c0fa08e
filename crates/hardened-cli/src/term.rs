//! What the commands' outputs share: aligned `key  value` tables under section headings,
//! values made safe for a terminal, and the configuration's own spelling of settings.

use std::io::{self, Write};
use std::path::PathBuf;

use hardened::config::DockerMode;
use serde::{Serialize, Serializer};

/// Writes sections of `key  value` rows, keys padded to one width, list values one per
/// line. Values are [`clean`]ed; keys and headings are the program's own text.
pub(crate) struct Table<'w> {
    /// Where the rows go (for lines that are not rows).
    pub(crate) out: &'w mut dyn Write,
    key_width: usize,
}

impl<'w> Table<'w> {
    /// A table whose values start `key_width` columns after the two-space indent.
    pub(crate) fn new(out: &'w mut dyn Write, key_width: usize) -> Table<'w> {
        Table { out, key_width }
    }

    /// A heading line, after a blank line.
    pub(crate) fn section(&mut self, title: &str) -> io::Result<()> {
        section(self.out, title)
    }

    /// One `key  value` row.
    pub(crate) fn row(&mut self, key: &str, value: &str) -> io::Result<()> {
        // A key longer than the column still gets a space before its value.
        let width = self.key_width.max(key.len() + 1);
        writeln!(self.out, "  {key:<width$}{}", clean(value))
    }

    /// A list under one key, one value per line; `-` when it is empty.
    pub(crate) fn list(&mut self, key: &str, values: &[String]) -> io::Result<()> {
        self.list_or(key, values, "-")
    }

    /// A list under one key, one value per line; `empty` when there is none.
    pub(crate) fn list_or(&mut self, key: &str, values: &[String], empty: &str) -> io::Result<()> {
        let Some((first, rest)) = values.split_first() else {
            return self.row(key, empty);
        };
        self.row(key, first)?;
        for v in rest {
            self.row("", v)?;
        }
        Ok(())
    }
}

/// A heading line, after a blank line.
pub(crate) fn section(out: &mut dyn Write, title: &str) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{title}")
}

/// Makes a value safe to print on a terminal: control characters (from the
/// environment, files or the configuration) escaped.
pub(crate) fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `yes` or `no`.
pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// File paths as they are displayed.
pub(crate) fn paths(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.display().to_string()).collect()
}

/// The `docker` setting as the configuration spells it: `auto`, `true` or `false` in
/// text; `"auto"`, `true` or `false` in JSON and YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DockerSetting(pub(crate) DockerMode);

impl DockerSetting {
    /// `auto`, `true` or `false`.
    pub(crate) fn as_str(self) -> &'static str {
        match self.0 {
            DockerMode::Auto => "auto",
            DockerMode::On => "true",
            DockerMode::Off => "false",
        }
    }
}

impl std::fmt::Display for DockerSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DockerSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            DockerMode::Auto => s.serialize_str("auto"),
            DockerMode::On => s.serialize_bool(true),
            DockerMode::Off => s.serialize_bool(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_escapes_control_characters() {
        assert_eq!(clean("ok"), "ok");
        assert_eq!(clean("a\u{1b}[31m"), "a\\u{1b}[31m");
    }

    fn table(key_width: usize, f: impl FnOnce(&mut Table<'_>) -> io::Result<()>) -> String {
        let mut buf = Vec::new();
        f(&mut Table::new(&mut buf, key_width)).expect("writing to a Vec");
        String::from_utf8(buf).expect("UTF-8")
    }

    #[test]
    fn rows_and_lists_align() {
        let text = table(6, |t| {
            t.row("a", "1")?;
            t.list("b", &["x".to_owned(), "y".to_owned()])?;
            t.list("c", &[])?;
            t.list_or("d", &[], "none")?;
            t.section("S")
        });
        assert_eq!(
            text,
            "  a     1\n  b     x\n        y\n  c     -\n  d     none\n\nS\n"
        );
    }

    #[test]
    fn docker_setting_spelling() {
        assert_eq!(DockerSetting(DockerMode::On).to_string(), "true");
        assert_eq!(
            serde_json::to_string(&[
                DockerSetting(DockerMode::Auto),
                DockerSetting(DockerMode::On),
                DockerSetting(DockerMode::Off),
            ])
            .expect("serializable"),
            r#"["auto",true,false]"#
        );
    }
}
