//! The `gateway:` section: how `hardened serve` listens, forwards and terminates TLS.
//!
//! Every field is optional: an unset field takes the command-line flag's default. The
//! values are typed and checked here (addresses, URLs, durations, readable certificate
//! files); the serving itself belongs to the `hardened-gateway` crate.
//!
//! ```yaml
//! gateway:
//!   listen: 0.0.0.0:8443
//!   upstream: http://127.0.0.1:9000
//!   upstream_timeout: 30s
//!   tls: { cert: /etc/tls/tls.crt, key: /etc/tls/tls.key }
//!   listen_http: 0.0.0.0:8080
//! ```
//!
//! Each key can be set from the environment as `HARDENED_GATEWAY_` and the key in
//! capitals (`HARDENED_GATEWAY_LISTEN`, `HARDENED_GATEWAY_TLS_CERT`, ...).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The typed `gateway:` section. `None` everywhere means "the `serve` default".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The address to listen on (the TLS listener when `tls` is set).
    pub listen: Option<SocketAddr>,
    /// The upstream service, an absolute `http://` URL.
    pub upstream: Option<String>,
    /// How long the upstream may take to send its response headers (504 after).
    pub upstream_timeout: Option<Duration>,
    /// How long a new connection may take to send its first request head (TLS
    /// handshake included), from accept.
    pub header_read_timeout: Option<Duration>,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Option<Duration>,
    /// Direct TLS: the certificate chain and key files.
    pub tls: Option<GatewayTls>,
    /// A plain HTTP listener beside the TLS one (redirects to https when
    /// `ssl_redirect` is on, serves health checks).
    pub listen_http: Option<SocketAddr>,
    /// The admin listener (health and readiness probes, metrics).
    pub admin_listen: Option<SocketAddr>,
    /// The log line format.
    pub log_format: Option<LogFormat>,
    /// Read request bodies completely before forwarding (`false`: stream them).
    pub request_buffering: Option<bool>,
    /// Path patterns whose request bodies stream to the upstream (`/upload`,
    /// `/upload/*`, `/u/{id}/file`).
    pub unbuffered_request_paths: Option<Vec<String>>,
    /// Largest request body in bytes; larger ones are answered 413 (0 = unlimited).
    pub client_max_body_size: Option<u64>,
    /// Request body bytes kept in memory before a temporary file takes the rest.
    pub client_body_buffer_size: Option<u64>,
    /// Longest pause of a client sending a request body (408 after).
    pub client_body_timeout: Option<Duration>,
    /// Read responses from the upstream as fast as it sends them (`false`: stream them).
    pub response_buffering: Option<bool>,
    /// Response bytes kept in memory before a temporary file takes the rest.
    pub response_buffer_size: Option<u64>,
    /// Largest temporary file of one response, bytes (0 = no temporary files).
    pub max_temp_file_size: Option<u64>,
    /// Longest stall of a client reading a response before it is cut off.
    pub send_timeout: Option<Duration>,
    /// Directory of the temporary files.
    pub temp_dir: Option<PathBuf>,
    /// Most upstream connections open at once.
    pub upstream_max_connections: Option<u64>,
    /// Most upstream connections one client connection may use at once.
    pub upstream_max_connections_per_client: Option<u64>,
    /// Most requests waiting for an upstream connection (0 = none wait).
    pub upstream_queue_size: Option<u64>,
    /// Longest wait for an upstream connection (503 after).
    pub upstream_queue_timeout: Option<Duration>,
}

/// The certificate and key files of direct TLS (PEM). Only the paths are kept: the key
/// is read by the server, never by the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayTls {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl GatewayTls {
    /// The two files.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> GatewayTls {
        GatewayTls {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }

    /// Parses `text` or `json` (case-insensitive).
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a duration: whole seconds (`30`), or a number with a unit: `ms`, `s`, `m`,
/// `h` (`250ms`, `30s`, `5m`, `1h`). `None` for anything else (negative numbers
/// included).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms = match unit.trim() {
        "" | "s" => n.checked_mul(1000)?,
        "ms" => n,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Parses a number of bytes: digits with an optional `k`, `m` or `g` suffix (KiB, MiB,
/// GiB; case-insensitive). `None` for anything else, or on overflow.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (t.get(..i)?, 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (t.get(..i)?, 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (t.get(..i)?, 30),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A duration as [`parse_duration`] reads it back: `30s`, `250ms`, `5m`, `1h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(feature = "config-file")]
pub(crate) use typing::env_overrides;

#[cfg(feature = "config-file")]
mod typing {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::{GatewayConfig, GatewayTls, LogFormat, parse_bytes, parse_duration};
    use crate::config::node::{Node, Value};
    use crate::config::problem::{Problem, ProblemKind};
    use crate::config::typer::edit_distance;
    use crate::config::{Source, Typer};

    /// The keys of `gateway:`.
    const KEYS: &[&str] = &[
        "listen",
        "upstream",
        "upstream_timeout",
        "header_read_timeout",
        "idle_timeout",
        "tls",
        "listen_http",
        "admin_listen",
        "log_format",
        "request_buffering",
        "unbuffered_request_paths",
        "client_max_body_size",
        "client_body_buffer_size",
        "client_body_timeout",
        "response_buffering",
        "response_buffer_size",
        "max_temp_file_size",
        "send_timeout",
        "temp_dir",
        "upstream_max_connections",
        "upstream_max_connections_per_client",
        "upstream_queue_size",
        "upstream_queue_timeout",
    ];

    /// The keys of `gateway.tls:`.
    const TLS_KEYS: &[&str] = &["cert", "key"];

    /// The environment variable of `gateway.<path>`: `HARDENED_GATEWAY_` and the path
    /// in capitals, `_` between its parts (`tls.cert`: `HARDENED_GATEWAY_TLS_CERT`).
    fn env_name(path: &[&str]) -> String {
        format!("HARDENED_GATEWAY_{}", path.join("_").to_ascii_uppercase())
    }

    /// Every `gateway` key path an environment variable may set.
    fn env_paths() -> impl Iterator<Item = Vec<&'static str>> {
        KEYS.iter()
            .filter(|k| **k != "tls")
            .map(|k| vec![*k])
            .chain(TLS_KEYS.iter().map(|k| vec!["tls", *k]))
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
            self.problems.push(
                Problem::new(kind, key, message, fix)
                    .with_value(n.display())
                    .at(n.source.clone()),
            );
        }

        fn gateway_wrong_type(&mut self, n: &Node, key: &str, want: &str, example: &str) {
            let msg = format!("expected {want}, found {}", n.value.kind());
            let leaf = key.rsplit('.').next().unwrap_or(key);
            self.gateway_problem(
                ProblemKind::WrongType,
                n,
                key,
                msg,
                format!("write it as `{leaf}: {example}`"),
            );
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
                Problem::new(ProblemKind::UnknownKey, path, "unknown key", fix)
                    .at(k.source.clone()),
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
                Value::Str(s) if crate::config::parse_bool(s).is_some() => {
                    crate::config::parse_bool(s)
                }
                _ => {
                    self.gateway_wrong_type(n, key, "true or false", "true");
                    None
                }
            }
        }

        /// A whole number (of bytes when `bytes`, with `k`, `m`, `g` suffixes), at least
        /// `min`.
        fn gateway_number(&mut self, n: &Node, key: &str, bytes: bool, min: u64) -> Option<u64> {
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
                    "write bytes (`65536`) or with a suffix (`64k`, `10m`, `1g`)",
                )
            } else {
                ("a whole number", "write a whole number such as `64`")
            };
            match v {
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
                if p.starts_with('/') && !p.contains(['?', '#', ' ']) {
                    out.push(p);
                } else {
                    self.gateway_problem(
                        ProblemKind::InvalidPath,
                        &item,
                        &format!("{key}[{i}]"),
                        "a path pattern must start with `/` and contain no query, fragment or spaces".into(),
                        "write it as `/upload`, `/upload/*` or `/u/{id}/file`",
                    );
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
            let problem = match s.parse::<http::Uri>() {
                Ok(u) => match (u.scheme_str(), u.authority()) {
                    (Some("http"), Some(a)) if !a.host().is_empty() => return Some(s.to_owned()),
                    (Some("https"), _) => {
                        "https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
                    }
                    _ => "not an absolute http:// URL",
                },
                Err(_) => "not a URL",
            };
            self.gateway_problem(
                ProblemKind::InvalidUrl,
                n,
                key,
                problem.into(),
                format!("write it as `upstream: {example}`"),
            );
            None
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
                    _ => self.gateway_unknown(kn, &k, &path, TLS_KEYS),
                }
            }
            for (seen, name) in [(cert_seen, "cert"), (key_seen, "key")] {
                if !seen && matches!(n.value, Value::Map(_)) {
                    self.gateway_problem(
                        ProblemKind::MissingValue,
                        n,
                        &format!("gateway.tls.{name}"),
                        format!("`gateway.tls` needs both `cert` and `key`; `{name}` is missing"),
                        format!("write it as `tls: {example}`"),
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
            let mut g = GatewayConfig::default();
            for (k, kn, v) in self.gateway_entries(n, "gateway", "{ listen: 127.0.0.1:8000 }") {
                let path = format!("gateway.{k}");
                if KEYS.contains(&k.as_str()) {
                    sources.insert(path.clone(), v.source.clone());
                }
                match k.as_str() {
                    "listen" => g.listen = self.gateway_addr(v, &path),
                    "upstream" => g.upstream = self.gateway_upstream(v, &path),
                    "upstream_timeout" => g.upstream_timeout = self.gateway_duration(v, &path),
                    "header_read_timeout" => {
                        g.header_read_timeout = self.gateway_duration(v, &path);
                    }
                    "idle_timeout" => g.idle_timeout = self.gateway_duration(v, &path),
                    "tls" => g.tls = self.gateway_tls(v, sources),
                    "listen_http" => g.listen_http = self.gateway_addr(v, &path),
                    "admin_listen" => g.admin_listen = self.gateway_addr(v, &path),
                    "log_format" => {
                        if let Some(s) = self.gateway_str(v, &path, "json") {
                            match LogFormat::parse(s) {
                                Some(f) => g.log_format = Some(f),
                                None => self.gateway_wrong_type(v, &path, "text or json", "json"),
                            }
                        }
                    }
                    "request_buffering" => g.request_buffering = self.gateway_bool(v, &path),
                    "unbuffered_request_paths" => {
                        g.unbuffered_request_paths = self.gateway_paths(v, &path);
                    }
                    "client_max_body_size" => {
                        g.client_max_body_size = self.gateway_number(v, &path, true, 0);
                    }
                    "client_body_buffer_size" => {
                        g.client_body_buffer_size = self.gateway_number(v, &path, true, 1);
                    }
                    "client_body_timeout" => {
                        g.client_body_timeout = self.gateway_duration(v, &path);
                    }
                    "response_buffering" => g.response_buffering = self.gateway_bool(v, &path),
                    "response_buffer_size" => {
                        g.response_buffer_size = self.gateway_number(v, &path, true, 1);
                    }
                    "max_temp_file_size" => {
                        g.max_temp_file_size = self.gateway_number(v, &path, true, 0);
                    }
                    "send_timeout" => g.send_timeout = self.gateway_duration(v, &path),
                    "temp_dir" => g.temp_dir = self.gateway_dir(v, &path),
                    "upstream_max_connections" => {
                        g.upstream_max_connections = self.gateway_number(v, &path, false, 1);
                    }
                    "upstream_max_connections_per_client" => {
                        g.upstream_max_connections_per_client =
                            self.gateway_number(v, &path, false, 1);
                    }
                    "upstream_queue_size" => {
                        g.upstream_queue_size = self.gateway_number(v, &path, false, 0);
                    }
                    "upstream_queue_timeout" => {
                        g.upstream_queue_timeout = self.gateway_duration(v, &path);
                    }
                    _ => self.gateway_unknown(kn, &k, &path, KEYS),
                }
            }
            g
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{format_duration, parse_duration};

    #[test]
    fn durations() {
        let ok = [
            ("30", 30_000),
            ("30s", 30_000),
            (" 250ms ", 250),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("0", 0),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s), Some(Duration::from_millis(ms)), "{s}");
        }
        for s in [
            "",
            "-1",
            "1.5",
            "s",
            "5 minutes",
            "1d",
            "99999999999999999999",
        ] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
        for (ms, s) in [
            (30_000, "30s"),
            (250, "250ms"),
            (300_000, "5m"),
            (7_200_000, "2h"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(ms)), s);
            assert_eq!(parse_duration(s), Some(Duration::from_millis(ms)));
        }
    }
}

#[cfg(all(test, feature = "config-file"))]
mod loading {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use super::{GatewayTls, LogFormat};
    use crate::config::load::{Loaded, Loader};
    use crate::config::{ConfigErrors, ProblemKind};

    fn load(text: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Result<Loaded, ConfigErrors>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), "cert").unwrap();
        std::fs::write(dir.path().join("tls.key"), "key").unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let loaded = Loader::new().file(&path).env(env.iter().copied()).load();
        (dir, loaded)
    }

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<(ProblemKind, String, String)> {
        let (_dir, loaded) = load(text, env);
        loaded
            .unwrap_err()
            .0
            .into_iter()
            .map(|p| (p.kind(), p.key().to_owned(), p.to_string()))
            .collect()
    }

    const BASE: &str = "debug: true\n";

    #[test]
    fn every_key_typed() {
        let text = format!(
            "{BASE}gateway:\n  listen: 0.0.0.0:8443\n  upstream: http://127.0.0.1:9000/api\n  \
             upstream_timeout: 10\n  header_read_timeout: 5s\n  idle_timeout: 2m\n  \
             tls: {{cert: tls.crt, key: tls.key}}\n  listen_http: '[::]:8080'\n  \
             admin_listen: 127.0.0.1:9901\n  log_format: JSON\n"
        );
        let (dir, loaded) = load(&text, &[]);
        let cfg = loaded.unwrap().config;
        let g = &cfg.gateway;
        assert_eq!(g.listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(g.upstream.as_deref(), Some("http://127.0.0.1:9000/api"));
        assert_eq!(g.upstream_timeout, Some(Duration::from_secs(10)));
        assert_eq!(g.header_read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(g.idle_timeout, Some(Duration::from_secs(120)));
        // Relative paths start at the config file's directory.
        assert_eq!(
            g.tls,
            Some(GatewayTls::new(
                dir.path().join("tls.crt"),
                dir.path().join("tls.key")
            ))
        );
        assert_eq!(g.listen_http, Some("[::]:8080".parse().unwrap()));
        assert_eq!(g.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
        assert_eq!(g.log_format, Some(LogFormat::Json));
        assert_eq!(cfg.sources["gateway.listen"].line, 3);
        assert_eq!(cfg.sources["gateway.tls.cert"].line, 8);
        // Absent: all unset.
        let (_dir, loaded) = load(BASE, &[]);
        assert_eq!(
            loaded.unwrap().config.gateway,
            super::GatewayConfig::default()
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let text = format!("{BASE}gateway:\n  listen: 127.0.0.1:1\n  idle_timeout: 9\n");
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let cert = cert.display().to_string();
        let env = [
            ("HARDENED_GATEWAY_LISTEN", "127.0.0.1:2"),
            ("HARDENED_GATEWAY_TLS_CERT", cert.as_str()),
            ("HARDENED_GATEWAY_TLS_KEY", cert.as_str()),
            ("HARDENED_GATEWAY_LOG_FORMAT", "text"),
            ("HARDENED_GATEWAY_UPSTREAM_TIMEOUT", "750ms"),
            ("HARDENED_GATEWAY_ADMIN_LISTEN", ""),
        ];
        let (_d, loaded) = load(&text, &env);
        let cfg = loaded.unwrap().config;
        let g = &cfg.gateway;
        assert_eq!(g.listen, Some("127.0.0.1:2".parse().unwrap()));
        assert_eq!(g.idle_timeout, Some(Duration::from_secs(9)));
        assert_eq!(g.upstream_timeout, Some(Duration::from_millis(750)));
        assert_eq!(g.tls.as_ref().unwrap().key.display().to_string(), cert);
        assert_eq!(g.log_format, Some(LogFormat::Text));
        assert_eq!(g.admin_listen, None);
        assert!(cfg.sources["gateway.listen"].from_env);
        // Without a gateway section in the file.
        let (_d, loaded) = load(BASE, &[("HARDENED_GATEWAY_LISTEN", "127.0.0.1:3")]);
        assert_eq!(
            loaded.unwrap().config.gateway.listen,
            Some("127.0.0.1:3".parse().unwrap())
        );
        // A bad value from the environment names the variable.
        let p = problems(BASE, &[("HARDENED_GATEWAY_IDLE_TIMEOUT", "0")]);
        assert_eq!(p[0].0, ProblemKind::InvalidDuration);
        assert!(
            p[0].2.contains("HARDENED_GATEWAY_IDLE_TIMEOUT"),
            "{}",
            p[0].2
        );
    }

    #[test]
    fn bad_values_are_problems() {
        let text = format!(
            "{BASE}gateway:\n  lisen: 127.0.0.1:1\n  listen: 8000\n  listen_http: localhost:80\n  \
             upstream: https://backend\n  upstream_timeout: 0\n  header_read_timeout: -5\n  \
             idle_timeout: soon\n  log_format: xml\n  admin_listen: [1]\n  \
             tls: {{cert: missing.crt, kee: tls.key}}\n"
        );
        let p = problems(&text, &[]);
        let kinds: Vec<(ProblemKind, &str)> =
            p.iter().map(|(k, key, _)| (*k, key.as_str())).collect();
        let want = [
            (ProblemKind::UnknownKey, "gateway.lisen"),
            (ProblemKind::InvalidAddress, "gateway.listen"),
            (ProblemKind::InvalidAddress, "gateway.listen_http"),
            (ProblemKind::InvalidUrl, "gateway.upstream"),
            (ProblemKind::InvalidDuration, "gateway.upstream_timeout"),
            (ProblemKind::InvalidDuration, "gateway.header_read_timeout"),
            (ProblemKind::InvalidDuration, "gateway.idle_timeout"),
            (ProblemKind::WrongType, "gateway.log_format"),
            (ProblemKind::WrongType, "gateway.admin_listen"),
            (ProblemKind::UnreadableFile, "gateway.tls.cert"),
            (ProblemKind::UnknownKey, "gateway.tls.kee"),
            (ProblemKind::MissingValue, "gateway.tls.key"),
        ];
        for w in want {
            assert!(kinds.contains(&w), "{w:?} not in {kinds:?}");
        }
        assert_eq!(kinds.len(), want.len(), "{kinds:?}");
        let text_of = |key: &str| p.iter().find(|x| x.1 == key).unwrap().2.clone();
        assert!(text_of("gateway.lisen").contains("did you mean `listen`"));
        assert!(text_of("gateway.tls.kee").contains("did you mean `key`"));
        assert!(text_of("gateway.tls.cert").contains("missing.crt"));
        assert!(text_of("gateway.upstream").contains("https upstreams"));
        // A misspelled section name.
        let p = problems(&format!("{BASE}gatway: {{}}\n"), &[]);
        assert!(p[0].2.contains("did you mean `gateway`"), "{}", p[0].2);
        // Not a mapping.
        let p = problems(&format!("{BASE}gateway: 1\n"), &[]);
        assert_eq!(
            (p[0].0, p[0].1.as_str()),
            (ProblemKind::WrongType, "gateway")
        );
    }
}

#[cfg(all(test, feature = "config-file"))]
mod buffering {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use super::parse_bytes;
    use crate::config::ProblemKind;
    use crate::config::load::Loader;

    #[test]
    fn bytes() {
        for (s, n) in [
            ("0", 0),
            ("65536", 65536),
            ("64k", 65536),
            ("10M", 10 << 20),
            ("1g", 1 << 30),
        ] {
            assert_eq!(parse_bytes(s), Some(n), "{s}");
        }
        for s in ["", "k", "-1", "1.5m", "10mb", "99999999999g"] {
            assert_eq!(parse_bytes(s), None, "{s}");
        }
    }

    #[test]
    fn buffering_keys_typed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        std::fs::write(
            &path,
            "debug: true\ngateway:\n  request_buffering: off\n  unbuffered_request_paths: [/upload/*]\n  \
             client_max_body_size: 0\n  client_body_buffer_size: 64k\n  client_body_timeout: 10\n  \
             response_buffering: true\n  response_buffer_size: 1m\n  max_temp_file_size: 2g\n  \
             send_timeout: 1m\n  temp_dir: tmp\n  upstream_max_connections: 16\n  \
             upstream_max_connections_per_client: 2\n  upstream_queue_size: 0\n  upstream_queue_timeout: 500ms\n",
        )
        .unwrap();
        let env = [("HARDENED_GATEWAY_UNBUFFERED_REQUEST_PATHS", "/a, /b/*")];
        let g = Loader::new()
            .file(&path)
            .env(env)
            .load()
            .unwrap()
            .config
            .gateway;
        assert_eq!(g.request_buffering, Some(false));
        assert_eq!(
            g.unbuffered_request_paths,
            Some(vec!["/a".into(), "/b/*".into()])
        );
        assert_eq!(g.client_max_body_size, Some(0));
        assert_eq!(g.client_body_buffer_size, Some(65536));
        assert_eq!(g.client_body_timeout, Some(Duration::from_secs(10)));
        assert_eq!(g.response_buffering, Some(true));
        assert_eq!(g.response_buffer_size, Some(1 << 20));
        assert_eq!(g.max_temp_file_size, Some(2 << 30));
        assert_eq!(g.send_timeout, Some(Duration::from_secs(60)));
        assert_eq!(g.temp_dir, Some(dir.path().join("tmp")));
        assert_eq!(g.upstream_max_connections, Some(16));
        assert_eq!(g.upstream_max_connections_per_client, Some(2));
        assert_eq!(g.upstream_queue_size, Some(0));
        assert_eq!(g.upstream_queue_timeout, Some(Duration::from_millis(500)));

        std::fs::write(
            &path,
            "debug: true\ngateway:\n  request_buffering: maybe\n  unbuffered_request_paths: [upload]\n  \
             client_max_body_size: -1\n  client_body_buffer_size: 0\n  send_timeout: 0\n  \
             temp_dir: nowhere\n  upstream_max_connections: 0\n  upstream_queue_size: lots\n",
        )
        .unwrap();
        let problems = Loader::new().file(&path).load().unwrap_err().0;
        let got: Vec<(ProblemKind, &str)> = problems.iter().map(|p| (p.kind(), p.key())).collect();
        let want = [
            (ProblemKind::WrongType, "gateway.request_buffering"),
            (
                ProblemKind::InvalidPath,
                "gateway.unbuffered_request_paths[0]",
            ),
            (ProblemKind::InvalidSize, "gateway.client_max_body_size"),
            (ProblemKind::InvalidSize, "gateway.client_body_buffer_size"),
            (ProblemKind::InvalidDuration, "gateway.send_timeout"),
            (ProblemKind::UnreadableFile, "gateway.temp_dir"),
            (ProblemKind::InvalidSize, "gateway.upstream_max_connections"),
            (ProblemKind::InvalidSize, "gateway.upstream_queue_size"),
        ];
        for w in want {
            assert!(got.contains(&w), "{w:?} not in {got:?}");
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }
}
