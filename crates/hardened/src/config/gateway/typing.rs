//! Typing the `gateway:` mapping by the kind of each setting ([`Kind`]): addresses,
//! URLs, durations, sizes, paths and the certificate files, each checked, every problem
//! collected. Files, `HARDENED_GATEWAY_*` variables and `serve` flags all come here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    GatewayConfig, GatewayTls, Kind, SETTINGS, Setting, Typed, check_upstream, keys, parse_bytes,
    parse_duration, tls_keys,
};
use crate::config::node::{Node, Value};
use crate::config::problem::{Problem, ProblemKind};
use crate::config::typer::edit_distance;
use crate::config::{Source, Typer};

/// `given`, relative to the directory of the file the node came from (as it is
/// when the node came from the environment).
fn relative_to_source(given: &Path, n: &Node) -> PathBuf {
    match (given.is_relative(), n.source.is_file()) {
        (true, true) => Path::new(&*n.source.origin)
            .parent()
            .map_or_else(|| given.to_owned(), |dir| dir.join(given)),
        _ => given.to_owned(),
    }
}

impl Typer {
    fn gateway_problem(
        &mut self,
        kind: ProblemKind,
        n: &Node,
        key: &str,
        message: String,
        fix: impl Into<String>,
    ) {
        // The main path: string values quoted with any URL credentials redacted.
        self.problem(kind, n, key, message, fix);
    }

    /// How to write `example` where `n` came from: the flag that gave it, or the key.
    fn written_as(n: &Node, key: &str, example: &str) -> String {
        let var = n
            .source
            .origin
            .strip_prefix("environment variable ")
            .filter(|_| n.source.from_env);
        match (n.source.flag_name(), var) {
            (Some(flag), _) => format!("`{flag} {}`", example.trim_matches(['[', ']'])),
            (None, Some(var)) => format!("`{var}={}`", example.trim_matches(['[', ']'])),
            (None, None) => {
                let leaf = key.rsplit('.').next().unwrap_or(key);
                format!("`{leaf}: {example}`")
            }
        }
    }

    fn gateway_wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
        let msg = format!("expected {want}, found {}", n.value.kind());
        let fix = format!("write it as {}", Self::written_as(n, key, example));
        self.gateway_problem(ProblemKind::WrongType, n, key, msg, fix);
    }

    fn gateway_unknown(&mut self, k: &Node, key: &str, path: &str, known: &[&str]) {
        let close = known
            .iter()
            .map(|c| (edit_distance(key, c), *c))
            .filter(|(d, c)| *d <= 3.max(c.len() / 4))
            .min_by_key(|(d, _)| *d);
        let fix = match close {
            Some((_, c)) => format!("did you mean `{c}`? Remove or rename the key"),
            None => format!("remove the key; known keys here: {}", known.join(", ")),
        };
        self.problems.push(
            Problem::new(ProblemKind::UnknownKey, path, "unknown key", fix).at(k.source.clone()),
        );
    }

    fn gateway_entries<'a>(
        &mut self,
        n: &'a Node,
        key: &str,
        example: &str,
    ) -> Vec<(String, &'a Node, &'a Node)> {
        match &n.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| match &k.value {
                    Value::Str(s) => Some((s.clone(), k, v)),
                    _ => {
                        self.gateway_wrong_type(k, key, "string keys", example);
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.gateway_wrong_type(n, key, "a mapping", example);
                Vec::new()
            }
        }
    }

    fn gateway_str<'a>(&mut self, n: &'a Node, key: &str, example: &str) -> Option<&'a str> {
        match &n.value {
            Value::Str(s) => Some(s.as_str()),
            Value::Null => None,
            _ => {
                self.gateway_wrong_type(n, key, "a string", example);
                None
            }
        }
    }

    fn gateway_addr(&mut self, n: &Node, key: &str) -> Option<SocketAddr> {
        let example = "127.0.0.1:8000";
        let s = match &n.value {
            // `listen: 8000` is a port alone: not an address.
            Value::Int(_) => {
                self.gateway_problem(
                    ProblemKind::InvalidAddress,
                    n,
                    key,
                    "an address needs an IP and a port".into(),
                    format!("write it as `0.0.0.0:{}` or `{example}`", n.display()),
                );
                return None;
            }
            _ => self.gateway_str(n, key, example)?,
        };
        match s.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.gateway_problem(
                    ProblemKind::InvalidAddress,
                    n,
                    key,
                    format!("{s:?} is not an IP address and port"),
                    format!("write it as `{example}`, `0.0.0.0:8443` or `[::]:8443`"),
                );
                None
            }
        }
    }

    fn gateway_duration(&mut self, n: &Node, key: &str) -> Option<Duration> {
        let d = match &n.value {
            Value::Null => return None,
            Value::Int(i) => u64::try_from(*i)
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .map(Duration::from_millis),
            Value::Float(x) if x.is_finite() && *x >= 0.0 && *x < 1e12 => {
                Some(Duration::from_secs_f64(*x))
            }
            Value::Str(s) => parse_duration(s),
            _ => None,
        };
        let fix = "write seconds (`30`) or a number with a unit (`250ms`, `30s`, `5m`, `1h`)";
        match d {
            Some(d) if d.is_zero() => {
                self.gateway_problem(
                    ProblemKind::InvalidDuration,
                    n,
                    key,
                    "must be more than zero".into(),
                    fix,
                );
                None
            }
            Some(d) => Some(d),
            None => {
                self.gateway_problem(
                    ProblemKind::InvalidDuration,
                    n,
                    key,
                    "not a duration".into(),
                    fix,
                );
                None
            }
        }
    }

    fn gateway_bool(&mut self, n: &Node, key: &str) -> Option<bool> {
        match &n.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) if crate::config::parse_bool(s).is_some() => crate::config::parse_bool(s),
            _ => {
                self.gateway_wrong_type(n, key, "true or false", "true");
                None
            }
        }
    }

    /// A whole number (of bytes when `bytes`, with `k`, `m`, `g` suffixes), from `min`
    /// to `max`.
    fn gateway_number(
        &mut self,
        n: &Node,
        key: &str,
        bytes: bool,
        (min, max): (u64, u64),
    ) -> Option<u64> {
        let v = match &n.value {
            Value::Null => return None,
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Str(s) if bytes => parse_bytes(s),
            Value::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let (what, fix) = if bytes {
            (
                "a number of bytes",
                "write bytes (`65536`) or with a unit (`64k`, `10m` or `10MiB` binary; `10MB` decimal)",
            )
        } else {
            ("a whole number", "write a whole number such as `64`")
        };
        match v {
            Some(v) if v > max => {
                let fix = if key == "gateway.workers" {
                    "give the number of cores, or leave it out for one worker per core"
                } else {
                    "give a smaller number"
                };
                self.gateway_problem(
                    ProblemKind::InvalidSize,
                    n,
                    key,
                    format!("must be at most {max}"),
                    fix,
                );
                None
            }
            Some(v) if v >= min => Some(v),
            Some(_) => {
                self.gateway_problem(
                    ProblemKind::InvalidSize,
                    n,
                    key,
                    format!("must be at least {min}"),
                    fix,
                );
                None
            }
            None => {
                self.gateway_problem(
                    ProblemKind::InvalidSize,
                    n,
                    key,
                    format!("not {what} (or negative)"),
                    fix,
                );
                None
            }
        }
    }

    fn gateway_paths(&mut self, n: &Node, key: &str) -> Option<Vec<String>> {
        let items: Vec<(String, Node)> = match &n.value {
            Value::Null => return None,
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let k = format!("{key}[{i}]");
                    self.gateway_str(item, &k, "/upload/*")
                        .map(|s| (s.trim().to_owned(), item.clone()))
                })
                .collect(),
            // A comma-separated list from an environment variable.
            Value::Str(s) if n.source.from_env => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), n.clone()))
                .collect(),
            _ => {
                self.gateway_wrong_type(n, key, "a list of path patterns", "[/upload/*]");
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, (p, item)) in items.into_iter().enumerate() {
            // The rule of every path list (`csrf_exempt_paths`, `health_check_paths`).
            match crate::config::check::path_problem(&p) {
                None => out.push(p),
                Some((message, _)) => self.gateway_problem(
                    ProblemKind::InvalidPath,
                    &item,
                    &format!("{key}[{i}]"),
                    message.into(),
                    "write it as `/upload`, `/upload/*` or `/u/{id}/file`",
                ),
            }
        }
        Some(out)
    }

    /// An existing directory, relative to the config file's directory when it came
    /// from a file.
    fn gateway_dir(&mut self, n: &Node, key: &str) -> Option<PathBuf> {
        let s = self.gateway_str(n, key, "/var/tmp/hardened")?;
        let path = relative_to_source(Path::new(s.trim()), n);
        if path.is_dir() {
            Some(path)
        } else {
            self.gateway_problem(
                ProblemKind::UnreadableFile,
                n,
                key,
                format!("{} is not a directory", path.display()),
                "give an existing directory (relative paths start at the config file's directory)",
            );
            None
        }
    }

    fn gateway_upstream(&mut self, n: &Node, key: &str) -> Option<String> {
        let example = "http://127.0.0.1:9000";
        let s = self.gateway_str(n, key, example)?.trim();
        match check_upstream(s) {
            Ok(_) => Some(s.to_owned()),
            Err(problem) => {
                let message = match (problem, s.split_once("://")) {
                    (super::UpstreamProblem::NotHttp, Some((scheme, _))) => format!(
                        "the scheme {scheme:?} is not supported; the gateway forwards plain HTTP"
                    ),
                    _ => problem.to_string(),
                };
                let fix = format!("write it as {}", Self::written_as(n, key, example));
                self.gateway_problem(ProblemKind::InvalidUrl, n, key, message, fix);
                None
            }
        }
    }

    /// A file path, relative to the config file's directory when it came from a
    /// file (to the current directory from the environment), that must be readable.
    fn gateway_file(&mut self, n: &Node, key: &str, example: &str) -> Option<PathBuf> {
        let s = self.gateway_str(n, key, example)?;
        let path = relative_to_source(Path::new(s.trim()), n);
        if let Err(e) = std::fs::File::open(&path).and_then(|f| {
            if f.metadata()?.is_dir() {
                Err(std::io::Error::other("a directory, not a file"))
            } else {
                Ok(())
            }
        }) {
            self.gateway_problem(
                ProblemKind::UnreadableFile,
                n,
                key,
                format!("cannot read {}: {e}", path.display()),
                "give the path of a readable PEM file (relative paths start at the config file's directory)",
            );
            return None;
        }
        Some(path)
    }

    fn gateway_tls(
        &mut self,
        n: &Node,
        sources: &mut BTreeMap<String, Source>,
    ) -> Option<GatewayTls> {
        let example = "{ cert: /etc/tls/tls.crt, key: /etc/tls/tls.key }";
        if matches!(n.value, Value::Null) {
            return None;
        }
        let (mut cert, mut key) = (None, None);
        let (mut cert_seen, mut key_seen) = (false, false);
        for (k, kn, v) in self.gateway_entries(n, "gateway.tls", example) {
            let path = format!("gateway.tls.{k}");
            sources.insert(path.clone(), v.source.clone());
            match k.as_str() {
                "cert" => {
                    cert_seen = true;
                    cert = self.gateway_file(v, &path, "/etc/tls/tls.crt");
                }
                "key" => {
                    key_seen = true;
                    key = self.gateway_file(v, &path, "/etc/tls/tls.key");
                }
                _ => self.gateway_unknown(kn, &k, &path, &tls_keys().collect::<Vec<_>>()),
            }
        }
        for (seen, name) in [(cert_seen, "cert"), (key_seen, "key")] {
            if !seen && matches!(n.value, Value::Map(_)) {
                self.gateway_problem(
                    ProblemKind::MissingValue,
                    n,
                    &format!("gateway.tls.{name}"),
                    format!("`gateway.tls` needs both `cert` and `key`; `{name}` is missing"),
                    match n.source.flag_name() {
                        Some(_) => format!("give --tls-{name} too (or both in `gateway.tls`)"),
                        None => format!("write it as `tls: {example}`"),
                    },
                );
            }
        }
        Some(GatewayTls::new(cert?, key?))
    }

    /// Types the `gateway:` mapping; `sources` gets each `gateway.<key>`'s source.
    pub(crate) fn gateway(
        &mut self,
        n: &Node,
        sources: &mut BTreeMap<String, Source>,
    ) -> GatewayConfig {
        let g = self.gateway_values(n, sources);
        self.gateway_together(&g, sources);
        g
    }

    /// Each value of the `gateway:` mapping on its own (what only the settings
    /// together can say is left out).
    pub(crate) fn gateway_values(
        &mut self,
        n: &Node,
        sources: &mut BTreeMap<String, Source>,
    ) -> GatewayConfig {
        let mut g = GatewayConfig::default();
        for (k, kn, v) in self.gateway_entries(n, "gateway", "{ listen: 127.0.0.1:8000 }") {
            let path = format!("gateway.{k}");
            match SETTINGS.iter().find(|s| s.key == k) {
                Some(setting) => {
                    sources.insert(path.clone(), v.source.clone());
                    let value = self.gateway_value(setting, v, &path, sources);
                    g.set(setting.key, value);
                }
                None => self.gateway_unknown(kn, &k, &path, &keys().collect::<Vec<_>>()),
            }
        }
        g
    }

    /// What only the settings together can say is wrong.
    fn gateway_together(&mut self, g: &GatewayConfig, sources: &BTreeMap<String, Source>) {
        let at = |key: &str| sources.get(key).cloned().unwrap_or_else(Source::builtin);
        if let (Some(addr), None) = (g.listen_http, &g.tls) {
            self.problems.push(
                Problem::new(
                    ProblemKind::MissingValue,
                    "gateway.listen_http",
                    "a plain HTTP listener goes beside a TLS one, and no certificate is given",
                    "give `gateway.tls` (or --tls-cert and --tls-key), or remove `listen_http`",
                )
                .with_value(addr.to_string())
                .at(at("gateway.listen_http")),
            );
        }
        let listen = g.listen.unwrap_or(super::DEFAULT_LISTEN);
        if g.admin_listen == Some(listen) && listen.port() != 0 {
            self.problems.push(
                Problem::new(
                    ProblemKind::InvalidAddress,
                    "gateway.admin_listen",
                    "the admin listener needs an address of its own, not `listen`'s",
                    "give `admin_listen` another port, such as 127.0.0.1:9901",
                )
                .with_value(listen.to_string())
                .at(at("gateway.admin_listen")),
            );
        }
    }

    /// One setting's value, read by its kind.
    fn gateway_value(
        &mut self,
        setting: &Setting,
        v: &Node,
        path: &str,
        sources: &mut BTreeMap<String, Source>,
    ) -> Option<Typed> {
        match setting.kind {
            Kind::Address => self.gateway_addr(v, path).map(Typed::Address),
            Kind::Upstream => self.gateway_upstream(v, path).map(Typed::Text),
            Kind::Duration => self.gateway_duration(v, path).map(Typed::Duration),
            Kind::Bytes { min } => self
                .gateway_number(v, path, true, (min, u64::MAX))
                .map(Typed::Number),
            Kind::Number { min, max } => self
                .gateway_number(v, path, false, (min, max))
                .map(Typed::Number),
            Kind::Switch => self.gateway_bool(v, path).map(Typed::Switch),
            Kind::Paths => self.gateway_paths(v, path).map(Typed::Paths),
            Kind::Directory => self.gateway_dir(v, path).map(Typed::Path),
            Kind::Path => self
                .gateway_str(v, path, setting.example())
                .map(|s| Typed::Path(relative_to_source(Path::new(s.trim()), v))),
            Kind::ReadableFile => self
                .gateway_file(v, path, setting.example())
                .map(Typed::Path),
            Kind::Choice(words) => {
                let s = self.gateway_str(v, path, setting.example())?;
                let lower = s.trim().to_ascii_lowercase();
                if words.contains(&lower.as_str()) {
                    Some(Typed::Text(lower))
                } else {
                    let want = words.join(" or ");
                    self.gateway_choice(v, path, &want, words);
                    None
                }
            }
            Kind::Tls => self.gateway_tls(v, sources).map(Typed::Tls),
            Kind::HeaderName => {
                let s = self.gateway_str(v, path, setting.example())?;
                match super::csp_nonce_header_problem(s) {
                    None => Some(Typed::Text(s.trim().to_ascii_lowercase())),
                    Some(why) => {
                        let fix = format!(
                            "name a header of your own, e.g. {} (the default)",
                            Self::written_as(v, path, "X-CSP-Nonce")
                        );
                        self.gateway_problem(
                            ProblemKind::InvalidHeaderName,
                            v,
                            path,
                            why.into(),
                            fix,
                        );
                        None
                    }
                }
            }
        }
    }

    /// A word that is none of `words`: the close one when it is a misspelling.
    fn gateway_choice(&mut self, n: &Node, key: &str, want: &str, words: &[&str]) {
        let given = match &n.value {
            Value::Str(s) => s.trim().to_ascii_lowercase(),
            _ => String::new(),
        };
        let close = words
            .iter()
            .map(|w| (edit_distance(&given, w), *w))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d);
        let fix = match close {
            Some((_, w)) => format!("did you mean {}?", Self::written_as(n, key, w)),
            None => {
                let alts: Vec<String> = words.iter().map(|w| Self::written_as(n, key, w)).collect();
                format!("write {}", alts.join(" or "))
            }
        };
        self.gateway_problem(
            ProblemKind::WrongType,
            n,
            key,
            format!("expected {want}"),
            fix,
        );
    }
}

impl GatewayConfig {
    /// Every problem of these settings, found by the very checks the loader applies to
    /// the file, the `HARDENED_GATEWAY_*` variables and the `serve` flags: for a
    /// `GatewayConfig` built or changed in code (a loaded one has none left).
    ///
    /// ```
    /// use hardened::config::GatewayConfig;
    ///
    /// let mut g = GatewayConfig::default();
    /// g.workers = Some(5000);
    /// g.upstream = Some("https://app.internal".into());
    /// let problems = g.problems();
    /// assert_eq!(problems.len(), 2);
    /// assert!(problems.iter().any(|p| p.to_string().contains("must be at most 1024")));
    /// assert!(problems.iter().any(|p| p.to_string().contains("https upstreams")));
    /// assert!(GatewayConfig::default().problems().is_empty());
    /// ```
    pub fn problems(&self) -> Vec<Problem> {
        let source = Source {
            origin: std::sync::Arc::from("GatewayConfig built in code"),
            line: 0,
            from_env: false,
        };
        let mut typer = Typer {
            problems: Vec::new(),
            vars: BTreeMap::new(),
        };
        let mut sources = BTreeMap::new();
        typer.gateway(&self.to_node(&source), &mut sources);
        typer.problems
    }
}
