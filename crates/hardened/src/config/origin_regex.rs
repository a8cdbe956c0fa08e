//! `cors_allowed_origin_regexes` entries, compiled once.
//!
//! The typer compiles each pattern of a file when it reads it, and the loaded
//! [`Config`] keeps the compiled form beside the pattern; validation, the derived
//! policy, the enforcement and the checklist all use that one compiled form. A pattern
//! set in code is compiled once, by validation.

use std::fmt;

use serde::{Serialize, Serializer};

use super::Config;

/// A CORS origin regex, compiled: it matches the whole `Origin` value, anchored at both
/// ends (`^(?:pattern)$`), where django-cors-headers' `re.match` anchors the start only
/// (decision 39).
///
/// ```
/// use hardened::config::OriginRegex;
///
/// let re = OriginRegex::new(r"https://[a-z]+\.example\.com").unwrap();
/// assert!(re.is_match("https://app.example.com"));
/// assert!(!re.is_match("https://app.example.com.evil.net"));
/// assert_eq!(re.as_str(), r"https://[a-z]+\.example\.com");
/// assert!(OriginRegex::new("https://(").is_err());
/// ```
#[derive(Clone)]
pub struct OriginRegex {
    pattern: String,
    anchored: regex::Regex,
}

impl OriginRegex {
    /// Compiles a pattern (Rust `regex` syntax).
    ///
    /// # Errors
    /// The pattern is not a valid regular expression on its own: the error is the one
    /// `regex::Regex::new(pattern)` gives.
    pub fn new(pattern: &str) -> Result<OriginRegex, regex::Error> {
        // Valid on its own, not only inside the anchoring group (`a)|(b` closes the
        // group early): a syntax-only parse, nothing compiled.
        if regex_syntax::ast::parse::Parser::new()
            .parse(pattern)
            .is_err()
            && let Err(e) = regex::Regex::new(pattern)
        {
            return Err(e);
        }
        match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(anchored) => Ok(OriginRegex {
                pattern: pattern.to_owned(),
                anchored,
            }),
            // An invalid pattern: the error in the pattern's own terms (positions in
            // the text the user wrote), when it has one.
            Err(e) => Err(regex::Regex::new(pattern).err().unwrap_or(e)),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `origin` (an `Origin` header value, as sent) matches, whole.
    pub fn is_match(&self, origin: &str) -> bool {
        self.anchored.is_match(origin)
    }
}

impl fmt::Debug for OriginRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OriginRegex").field(&self.pattern).finish()
    }
}

impl fmt::Display for OriginRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl PartialEq for OriginRegex {
    fn eq(&self, other: &OriginRegex) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for OriginRegex {}

impl Serialize for OriginRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.pattern)
    }
}

/// The compiled forms a [`Config`] keeps of the patterns it was loaded with. A pattern
/// changed or added in code afterwards is not among them, and is compiled when the
/// configuration is validated.
#[derive(Clone, Default)]
pub(crate) struct CompiledRegexes(Vec<OriginRegex>);

impl CompiledRegexes {
    /// Keeps the compiled form of a pattern.
    #[cfg(feature = "config-file")]
    pub(crate) fn push(&mut self, re: OriginRegex) {
        self.0.push(re);
    }
}

impl fmt::Debug for CompiledRegexes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// Each of `cfg.cors_allowed_origin_regexes`, in order, compiled: the form kept when
/// the configuration was loaded, or compiled now for a pattern set in code.
pub(crate) fn origin_regexes(cfg: &Config) -> Vec<Result<OriginRegex, regex::Error>> {
    cfg.cors_allowed_origin_regexes
        .iter()
        .map(|p| {
            match cfg
                .compiled_origin_regexes
                .0
                .iter()
                .find(|c| c.pattern == *p)
            {
                Some(c) => Ok(c.clone()),
                None => OriginRegex::new(p),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::OriginRegex;

    #[test]
    fn invalid_patterns_fail_as_the_regex_crate_says() {
        // `a)|(b` compiles inside the anchoring group only: still refused.
        for p in ["(", "a)|(b", "https://[a-", r"\p{Nope}"] {
            let ours = OriginRegex::new(p).err().map(|e| e.to_string());
            let theirs = regex::Regex::new(p).err().map(|e| e.to_string());
            assert!(ours.is_some(), "{p}");
            assert_eq!(ours, theirs, "{p}");
        }
    }

    #[test]
    fn the_whole_value_matches() {
        let re = OriginRegex::new("https://a|https://ab").ok();
        let re = re
            .as_ref()
            .map(|r| (r.is_match("https://ab"), r.is_match("https://abc")));
        assert_eq!(re, Some((true, false)));
    }

    #[cfg(feature = "config-file")]
    #[test]
    fn a_loaded_config_keeps_the_compiled_form() {
        let dir = tempfile::tempdir().ok();
        let path = dir.as_ref().map(|d| d.path().join("config.yaml"));
        let loaded = path.as_ref().and_then(|p| {
            std::fs::write(
                p,
                "environment: development\ncors_allowed_origin_regexes: ['https://[a-z]+\\.example\\.com']\n",
            )
            .ok()?;
            crate::config::load::Loader::new().file(p).load().ok()
        });
        let cfg = loaded.map(|l| l.config);
        assert_eq!(
            cfg.as_ref().map(|c| c.compiled_origin_regexes.0.len()),
            Some(1)
        );
    }
}
