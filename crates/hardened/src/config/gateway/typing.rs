//! Typing the `gateway:` mapping: addresses, URLs, durations, sizes, paths and the
//! certificate files, each checked, every problem collected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most worker threads `gateway.workers` may ask for.
const MAX_WORKERS: u64 = 1024;

use super::{
    GatewayConfig, GatewayCsrf, GatewayTls, KEYS, LogFormat, TLS_KEYS, parse_bytes, parse_duration,
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
                "write bytes (`65536`) or with a unit (`64k`, `10m` or `10MiB` binary; `10MB` decimal)",
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
                    "a path pattern must start with `/` and contain no query, fragment or spaces"
                        .into(),
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
                    g.upstream_max_connections_per_client = self.gateway_number(v, &path, false, 1);
                }
                "upstream_queue_size" => {
                    g.upstream_queue_size = self.gateway_number(v, &path, false, 0);
                }
                "upstream_max_tunnels" => {
                    g.upstream_max_tunnels = self.gateway_number(v, &path, false, 0);
                }
                "upstream_queue_timeout" => {
                    g.upstream_queue_timeout = self.gateway_duration(v, &path);
                }
                "workers" => {
                    g.workers = self.gateway_number(v, &path, false, 1);
                    if g.workers.is_some_and(|n| n > MAX_WORKERS) {
                        g.workers = None;
                        self.gateway_problem(
                            ProblemKind::InvalidSize,
                            v,
                            &path,
                            format!("must be at most {MAX_WORKERS}"),
                            "give the number of cores, or leave it out for one worker per core",
                        );
                    }
                }
                "csrf" => {
                    if let Some(s) = self.gateway_str(v, &path, "upstream") {
                        match GatewayCsrf::parse(s) {
                            Some(c) => g.csrf = Some(c),
                            None => self.gateway_problem(
                                ProblemKind::WrongType,
                                v,
                                &path,
                                "expected enforce or upstream".into(),
                                "write `csrf: enforce` (the gateway checks) or `csrf: upstream` (Django checks; needs `role: gateway`)",
                            ),
                        }
                    }
                }
                "django_settings" => {
                    if let Some(s) = self.gateway_str(v, &path, "app/security_settings.py") {
                        g.django_settings = Some(relative_to_source(Path::new(s.trim()), v));
                    }
                }
                "csp_nonce_header" => {
                    if let Some(s) = self.gateway_str(v, &path, "X-CSP-Nonce") {
                        match super::csp_nonce_header_problem(s) {
                            None => g.csp_nonce_header = Some(s.trim().to_ascii_lowercase()),
                            Some(why) => self.gateway_problem(
                                ProblemKind::InvalidHeaderName,
                                v,
                                &path,
                                why.into(),
                                "name a header of your own, e.g. `csp_nonce_header: X-CSP-Nonce` (the default)",
                            ),
                        }
                    }
                }
                _ => self.gateway_unknown(kn, &k, &path, KEYS),
            }
        }
        g
    }
}
