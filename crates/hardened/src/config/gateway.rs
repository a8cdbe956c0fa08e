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

    use super::{GatewayConfig, GatewayTls, LogFormat, parse_duration};
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
    ];

    /// The keys of `gateway.tls:`.
    const TLS_KEYS: &[&str] = &["cert", "key"];

    /// Environment variables and the `gateway` key path each sets.
    const ENV: &[(&str, &[&str])] = &[
        ("HARDENED_GATEWAY_LISTEN", &["listen"]),
        ("HARDENED_GATEWAY_UPSTREAM", &["upstream"]),
        ("HARDENED_GATEWAY_UPSTREAM_TIMEOUT", &["upstream_timeout"]),
        (
            "HARDENED_GATEWAY_HEADER_READ_TIMEOUT",
            &["header_read_timeout"],
        ),
        ("HARDENED_GATEWAY_IDLE_TIMEOUT", &["idle_timeout"]),
        ("HARDENED_GATEWAY_TLS_CERT", &["tls", "cert"]),
        ("HARDENED_GATEWAY_TLS_KEY", &["tls", "key"]),
        ("HARDENED_GATEWAY_LISTEN_HTTP", &["listen_http"]),
        ("HARDENED_GATEWAY_ADMIN_LISTEN", &["admin_listen"]),
        ("HARDENED_GATEWAY_LOG_FORMAT", &["log_format"]),
    ];

    /// Sets `gateway.*` keys from the `HARDENED_GATEWAY_*` variables that are set and
    /// not empty, over whatever the files said. `node(name, value)` makes the key and
    /// value nodes of a variable, as the loader does for its other variables.
    pub(crate) fn env_overrides(
        merged: &mut BTreeMap<String, (Node, Node)>,
        vars: &BTreeMap<String, (String, bool)>,
        node: &dyn Fn(&str, Value) -> (Node, Node),
    ) {
        for (name, path) in ENV {
            let Some((v, _)) = vars.get(*name) else {
                continue;
            };
            if v.trim().is_empty() {
                continue;
            }
            let (k, n) = node(name, Value::Str(v.clone()));
            let slot = merged.entry("gateway".to_owned()).or_insert_with(|| {
                (
                    Node::new(Value::Str("gateway".into()), k.source.clone()),
                    Node::new(Value::Map(Vec::new()), k.source.clone()),
                )
            });
            set_path(&mut slot.1, path, k, n);
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
            let given = Path::new(s.trim());
            let path = match (given.is_relative(), n.source.is_file()) {
                (true, true) => Path::new(&*n.source.origin)
                    .parent()
                    .map_or_else(|| given.to_owned(), |dir| dir.join(given)),
                _ => given.to_owned(),
            };
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
