//! The nested mappings: `hsts`, `headers` (with the CSP map), `database` and `app`.

use super::Typer;
use crate::config::node::{Node, Value};
use crate::config::problem::{Problem, ProblemKind};
use crate::config::{
    AppSettings, DatabaseConfig, HeaderOverride, HeadersConfig, HstsConfig, Secret,
};

/// The keys of `hsts:`.
pub(crate) const HSTS_KEYS: &[&str] = &["seconds", "include_subdomains", "preload"];

/// The keys of `headers:`.
pub(crate) const HEADER_KEYS: &[&str] = &[
    "content_security_policy",
    "content_security_policy_report_only",
    "permissions_policy",
    "cross_origin_opener_policy",
    "cross_origin_resource_policy",
    "cross_origin_embedder_policy",
    "referrer_policy",
    "x_frame_options",
];

/// The keys of `database:`.
pub(crate) const DATABASE_KEYS: &[&str] = &["url", "host", "port", "name", "user", "password"];

impl Typer {
    pub(super) fn sub_map<'a>(
        &mut self,
        n: &'a Node,
        key: &str,
    ) -> Vec<(String, &'a Node, &'a Node)> {
        match &n.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| match &k.value {
                    Value::Str(s) => Some((s.clone(), k, v)),
                    _ => {
                        self.wrong_type(k, key, "string keys", "{ name: value }");
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(n, key, "a mapping", "{ ... }");
                Vec::new()
            }
        }
    }

    pub(super) fn unknown_sub(&mut self, k: &Node, path: &str, known: &[&str]) {
        self.problems.push(
            Problem::new(
                ProblemKind::UnknownKey,
                path,
                "unknown key",
                format!("remove the key; known keys here: {}", known.join(", ")),
            )
            .at(k.source.clone()),
        );
    }

    pub(super) fn hsts(&mut self, n: &Node) -> HstsConfig {
        const KNOWN: &[&str] = HSTS_KEYS;
        let mut h = HstsConfig::default();
        for (k, kn, v) in self.sub_map(n, "hsts") {
            let path = format!("hsts.{k}");
            match k.as_str() {
                "seconds" => h.seconds = self.u64(v, &path, "31536000"),
                "include_subdomains" => h.include_subdomains = self.bool(v, &path),
                "preload" => h.preload = self.bool(v, &path),
                _ => self.unknown_sub(kn, &path, KNOWN),
            }
        }
        h
    }

    pub(super) fn headers(&mut self, n: &Node) -> HeadersConfig {
        self.headers_in(n, "headers", HEADER_KEYS)
    }

    /// A `headers:` mapping at `key` (the top level, or a route's), whose unknown keys
    /// are named with the `known` ones.
    pub(super) fn headers_in(&mut self, n: &Node, key: &str, known: &[&str]) -> HeadersConfig {
        let mut h = HeadersConfig::default();
        for (k, kn, v) in self.sub_map(n, key) {
            let path = format!("{key}.{k}");
            if !HEADER_KEYS.contains(&k.as_str()) {
                self.unknown_sub(kn, &path, known);
                continue;
            }
            let allowed: Option<&[&str]> = match k.as_str() {
                "cross_origin_opener_policy" => Some(&[
                    "same-origin",
                    "same-origin-allow-popups",
                    "unsafe-none",
                    "noopener-allow-popups",
                ]),
                "cross_origin_resource_policy" => {
                    Some(&["same-origin", "same-site", "cross-origin"])
                }
                "cross_origin_embedder_policy" => {
                    Some(&["require-corp", "credentialless", "unsafe-none"])
                }
                "referrer_policy" => Some(&[
                    "no-referrer",
                    "no-referrer-when-downgrade",
                    "origin",
                    "origin-when-cross-origin",
                    "same-origin",
                    "strict-origin",
                    "strict-origin-when-cross-origin",
                    "unsafe-url",
                ]),
                "x_frame_options" => Some(&["DENY", "SAMEORIGIN"]),
                _ => None,
            };
            let csp = k.starts_with("content_security_policy");
            let value = match &v.value {
                Value::Null => HeaderOverride::Remove,
                Value::Map(entries) if csp => match self.csp_map(entries, &path) {
                    Some(s) => HeaderOverride::Set(s),
                    None => continue,
                },
                Value::Str(s) => HeaderOverride::Set(s.trim().to_owned()),
                _ => {
                    let example = if csp {
                        "\"default-src 'self'\" (or a map of directive: [sources])"
                    } else {
                        "a value, or null to remove the header"
                    };
                    self.wrong_type(v, &path, "a string or null", example);
                    continue;
                }
            };
            if let HeaderOverride::Set(s) = &value {
                if let Some(allowed) = allowed {
                    let Some(canon) = allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) else {
                        self.problem(
                            ProblemKind::InvalidHeaderValue,
                            v,
                            &path,
                            format!("{s:?} is not a value this header takes"),
                            format!("use one of: {} (or null to remove it)", allowed.join(", ")),
                        );
                        continue;
                    };
                    self.set_header(&mut h, &k, HeaderOverride::Set((*canon).to_owned()));
                    continue;
                }
                if s.is_empty() || http::HeaderValue::from_str(s).is_err() {
                    self.problem(
                        ProblemKind::InvalidHeaderValue,
                        v,
                        &path,
                        "not a valid HTTP header value".into(),
                        "use visible ASCII on one line, or null to remove the header",
                    );
                    continue;
                }
            }
            self.set_header(&mut h, &k, value);
        }
        h
    }

    pub(super) fn set_header(&mut self, h: &mut HeadersConfig, key: &str, value: HeaderOverride) {
        let slot = match key {
            "content_security_policy" => &mut h.content_security_policy,
            "content_security_policy_report_only" => &mut h.content_security_policy_report_only,
            "permissions_policy" => &mut h.permissions_policy,
            "cross_origin_opener_policy" => &mut h.cross_origin_opener_policy,
            "cross_origin_resource_policy" => &mut h.cross_origin_resource_policy,
            "cross_origin_embedder_policy" => &mut h.cross_origin_embedder_policy,
            "referrer_policy" => &mut h.referrer_policy,
            "x_frame_options" => &mut h.x_frame_options,
            _ => return,
        };
        *slot = value;
    }

    /// A structured CSP (`directive: [sources]`) in its header form,
    /// `directive source source; directive ...`, in file order.
    pub(super) fn csp_map(&mut self, entries: &[(Node, Node)], path: &str) -> Option<String> {
        let mut out = String::new();
        let mut ok = true;
        for (k, v) in entries {
            let Value::Str(directive) = &k.value else {
                self.wrong_type(k, path, "string keys", "{ default-src: [\"'self'\"] }");
                ok = false;
                continue;
            };
            let dpath = format!("{path}.{directive}");
            let valid_name = !directive.is_empty()
                && directive
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid_name {
                self.problem(
                    ProblemKind::InvalidHeaderValue,
                    k,
                    &dpath,
                    format!("{directive:?} is not a CSP directive name"),
                    "use directive names such as `default-src` or `frame-ancestors`",
                );
                ok = false;
                continue;
            }
            let sources: Vec<String> = match &v.value {
                Value::Null => Vec::new(),
                Value::Str(s) => vec![s.trim().to_owned()],
                Value::Seq(_) => self
                    .strings(v, &dpath, "[\"'self'\"]")
                    .into_iter()
                    .map(|(s, _)| s.trim().to_owned())
                    .collect(),
                _ => {
                    self.wrong_type(v, &dpath, "a list of sources", "[\"'self'\"]");
                    ok = false;
                    continue;
                }
            };
            if sources
                .iter()
                .any(|s| s.contains([';', ',']) || http::HeaderValue::from_str(s).is_err())
            {
                self.problem(
                    ProblemKind::InvalidHeaderValue,
                    v,
                    &dpath,
                    "a CSP source must be visible ASCII without `;` or `,`".into(),
                    "write one source per list item, e.g. [\"'self'\", https://cdn.example.com]",
                );
                ok = false;
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&directive.to_ascii_lowercase());
            for s in sources.iter().filter(|s| !s.is_empty()) {
                out.push(' ');
                out.push_str(s);
            }
        }
        (ok && !out.is_empty()).then_some(out)
    }

    pub(super) fn database(&mut self, n: &Node) -> Option<DatabaseConfig> {
        const KNOWN: &[&str] = DATABASE_KEYS;
        if matches!(n.value, Value::Null) {
            return None;
        }
        let mut d = DatabaseConfig::default();
        for (k, kn, v) in self.sub_map(n, "database") {
            let path = format!("database.{k}");
            match k.as_str() {
                "url" => d.url = self.string(v, &path, "${DATABASE_URL}").map(Secret::new),
                "host" => d.host = self.string(v, &path, "db.internal"),
                "port" => {
                    d.port = self
                        .u64(v, &path, "5432")
                        .and_then(|p| u16::try_from(p).ok())
                }
                "name" => d.name = self.string(v, &path, "app"),
                "user" => d.user = self.string(v, &path, "app"),
                "password" => d.password = self.string(v, &path, "${DB_PASSWORD}").map(Secret::new),
                _ => self.unknown_sub(kn, &path, KNOWN),
            }
        }
        Some(d)
    }

    pub(super) fn app(&mut self, n: &Node) -> AppSettings {
        let mut out = AppSettings::default();
        for (k, _, v) in self.sub_map(n, "app") {
            let s = match &v.value {
                Value::Str(s) => s.clone(),
                Value::Null | Value::Seq(_) | Value::Map(_) => continue,
                _ => v.display(),
            };
            out.insert(k, s);
        }
        out
    }
}
