//! Every `gateway:` setting, described once: its key, what its value is (and so how
//! it is read and checked), its default, its `hardened serve` flag, whether a reload
//! applies it, and its documentation. The typed [`GatewayConfig`], the keys the loader
//! accepts, the `HARDENED_GATEWAY_*` variables, the `serve` flags and the list of
//! restart-only settings are all made from this one table; a value is read by the same
//! code whether a file, a variable or a flag gave it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{GatewayCsrf, GatewayTls, LogFormat, format_duration};

/// What a setting's value is, and so how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// An IP address and port: `127.0.0.1:8000`, `[::]:8443`.
    Address,
    /// The upstream: an absolute `http://` URL with a host.
    Upstream,
    /// A duration more than zero: seconds (`30`) or with a unit (`250ms`, `30s`, `5m`, `1h`).
    Duration,
    /// A number of bytes, at least `min`: digits and an optional unit (`64k`, `10MiB`, `10MB`).
    Bytes {
        /// The least value accepted.
        min: u64,
    },
    /// A whole number from `min` to `max`.
    Number {
        /// The least value accepted.
        min: u64,
        /// The greatest value accepted.
        max: u64,
    },
    /// `true` or `false` (`on`/`off`, `yes`/`no`, `1`/`0`).
    Switch,
    /// A list of path patterns (`/upload`, `/upload/*`, `/u/{id}/file`); from a variable,
    /// comma-separated.
    Paths,
    /// An existing directory.
    Directory,
    /// A file path; relative to the config file's directory when a file gave it.
    Path,
    /// A readable file; relative to the config file's directory when a file gave it.
    ReadableFile,
    /// One of these words (case-insensitive).
    Choice(&'static [&'static str]),
    /// A mapping of the settings in [`TLS_SETTINGS`].
    Tls,
    /// A request header name of the gateway's own: letters, digits and `-`, none of the
    /// headers it sets, removes or judges
    /// ([`csp_nonce_header_problem`](super::csp_nonce_header_problem)).
    HeaderName,
}

/// When a changed value takes effect in a running `hardened serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applies {
    /// At the next start: a reload reports the change as needing a restart.
    Restart,
    /// At the next reload, with the policy.
    Reload,
}

/// One `gateway:` setting.
#[derive(Debug)]
#[non_exhaustive]
pub struct Setting {
    /// The key in `gateway:` (`client_max_body_size`), or in `gateway.tls:` (`cert`).
    pub key: &'static str,
    /// What its value is.
    pub kind: Kind,
    /// Its default as written in the file (`"30s"`), or a description (`"none"`).
    pub default: &'static str,
    /// Its `hardened serve` flag without the dashes, if it has one.
    pub flag: Option<&'static str>,
    /// When a change takes effect.
    pub applies: Applies,
    /// What it does.
    pub doc: &'static str,
}

impl Setting {
    /// The placeholder of its value in `--help` (`SECS`, `BYTES`, `ADDR`).
    pub fn value_name(&self) -> &'static str {
        match self.kind {
            Kind::Address => "ADDR",
            Kind::Upstream => "URL",
            Kind::Duration => "DURATION",
            Kind::Bytes { .. } => "BYTES",
            Kind::Number { .. } => "N",
            Kind::Switch => "on|off",
            Kind::Paths => "PATTERN",
            Kind::Directory => "DIR",
            Kind::Path | Kind::ReadableFile => "FILE",
            Kind::Choice(_) => "WORD",
            Kind::Tls => "",
            Kind::HeaderName => "NAME",
        }
    }

    /// A value that reads well in an example fix (`10m`, `127.0.0.1:8000`).
    pub fn example(&self) -> &'static str {
        match self.kind {
            Kind::Address => "127.0.0.1:8000",
            Kind::Upstream => "http://127.0.0.1:9000",
            Kind::Duration => "30s",
            Kind::Bytes { .. } => "10m",
            Kind::Number { .. } => "64",
            Kind::Switch => "true",
            Kind::Paths => "[/upload/*]",
            Kind::Directory => "/var/tmp/hardened",
            Kind::Path => "app/security_settings.py",
            Kind::ReadableFile => "/etc/tls/tls.crt",
            Kind::Choice(words) => match words.first() {
                Some(w) => w,
                None => "",
            },
            Kind::Tls => "{ cert: /etc/tls/tls.crt, key: /etc/tls/tls.key }",
            Kind::HeaderName => "X-CSP-Nonce",
        }
    }
}

/// A value written back as the file would say it (for reload comparisons and `show`).
pub(crate) trait Written {
    fn written(&self) -> String;
}

impl Written for SocketAddr {
    fn written(&self) -> String {
        self.to_string()
    }
}
impl Written for String {
    fn written(&self) -> String {
        self.clone()
    }
}
impl Written for Duration {
    fn written(&self) -> String {
        format_duration(*self)
    }
}
impl Written for u64 {
    fn written(&self) -> String {
        self.to_string()
    }
}
impl Written for bool {
    fn written(&self) -> String {
        self.to_string()
    }
}
impl Written for Vec<String> {
    fn written(&self) -> String {
        format!("[{}]", self.join(", "))
    }
}
impl Written for PathBuf {
    fn written(&self) -> String {
        self.display().to_string()
    }
}
impl Written for LogFormat {
    fn written(&self) -> String {
        self.as_str().to_owned()
    }
}
impl Written for GatewayCsrf {
    fn written(&self) -> String {
        self.as_str().to_owned()
    }
}
impl Written for GatewayTls {
    fn written(&self) -> String {
        // Paths only: the key file's content is never read by the configuration.
        format!(
            "{{ cert: {}, key: {} }}",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// A value as the typer read it, before it takes its field's type.
#[cfg(feature = "config-file")]
pub(crate) enum Typed {
    Address(SocketAddr),
    Text(String),
    Duration(Duration),
    Number(u64),
    Switch(bool),
    Paths(Vec<String>),
    Path(PathBuf),
    Tls(GatewayTls),
}

/// The field's type from a [`Typed`] value of its kind.
#[cfg(feature = "config-file")]
pub(crate) trait FromTyped: Sized {
    fn from_typed(t: Typed) -> Option<Self>;
}

#[cfg(feature = "config-file")]
mod from_typed {
    use super::{FromTyped, Typed};
    use crate::config::gateway::{GatewayCsrf, GatewayTls, LogFormat};
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    macro_rules! from_typed {
        ($ty:ty, $variant:ident) => {
            impl FromTyped for $ty {
                fn from_typed(t: Typed) -> Option<Self> {
                    match t {
                        Typed::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            }
        };
    }
    from_typed!(SocketAddr, Address);
    from_typed!(String, Text);
    from_typed!(Duration, Duration);
    from_typed!(u64, Number);
    from_typed!(bool, Switch);
    from_typed!(Vec<String>, Paths);
    from_typed!(PathBuf, Path);
    from_typed!(GatewayTls, Tls);

    impl FromTyped for LogFormat {
        fn from_typed(t: Typed) -> Option<Self> {
            match t {
                Typed::Text(s) => LogFormat::parse(&s),
                _ => None,
            }
        }
    }
    impl FromTyped for GatewayCsrf {
        fn from_typed(t: Typed) -> Option<Self> {
            match t {
                Typed::Text(s) => GatewayCsrf::parse(&s),
                _ => None,
            }
        }
    }
}

/// The address `hardened serve` listens on without `gateway.listen`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8000);

/// A field's value as the loader's untyped tree holds it, to be read back by the
/// loader's own checks ([`GatewayConfig::problems`]).
#[cfg(feature = "config-file")]
pub(crate) trait ToValue {
    fn to_value(&self, source: &crate::config::Source) -> crate::config::node::Value;
}

#[cfg(feature = "config-file")]
mod to_value {
    use super::{ToValue, Written};
    use crate::config::Source;
    use crate::config::gateway::{GatewayCsrf, GatewayTls, LogFormat};
    use crate::config::node::{Node, Value};
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    macro_rules! as_text {
        ($($ty:ty),+) => {$(
            impl ToValue for $ty {
                fn to_value(&self, _: &Source) -> Value {
                    Value::Str(self.written())
                }
            }
        )+};
    }
    as_text!(
        SocketAddr,
        String,
        Duration,
        PathBuf,
        LogFormat,
        GatewayCsrf
    );

    impl ToValue for u64 {
        fn to_value(&self, _: &Source) -> Value {
            Value::Int(i128::from(*self))
        }
    }
    impl ToValue for bool {
        fn to_value(&self, _: &Source) -> Value {
            Value::Bool(*self)
        }
    }
    impl ToValue for Vec<String> {
        fn to_value(&self, source: &Source) -> Value {
            Value::Seq(
                self.iter()
                    .map(|p| Node::new(Value::Str(p.clone()), source.clone()))
                    .collect(),
            )
        }
    }
    impl ToValue for GatewayTls {
        fn to_value(&self, source: &Source) -> Value {
            let entry = |k: &str, p: &PathBuf| {
                (
                    Node::new(Value::Str(k.to_owned()), source.clone()),
                    Node::new(Value::Str(p.written()), source.clone()),
                )
            };
            Value::Map(vec![entry("cert", &self.cert), entry("key", &self.key)])
        }
    }
}

/// The most worker threads `gateway.workers` may ask for.
pub const MAX_WORKERS: u64 = 1024;

/// Declares the settings: the fields of [`GatewayConfig`] and the rows of [`SETTINGS`],
/// from one list.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $ty:ty = $kind:expr, default $default:literal, flag $flag:expr, $applies:ident;
    )+) => {
        /// The typed `gateway:` section: how `hardened serve` listens, forwards and
        /// terminates TLS. `None` everywhere means "the default". Each field is a row of
        /// [`SETTINGS`].
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct GatewayConfig {
            $( $(#[doc = $doc])+ pub $key: Option<$ty>, )+
        }

        /// Every `gateway:` setting, in the order of its documentation.
        pub const SETTINGS: &[Setting] = &[
            $( Setting {
                key: stringify!($key),
                kind: $kind,
                default: $default,
                flag: $flag,
                applies: Applies::$applies,
                doc: concat!($($doc, "\n"),+),
            }, )+
        ];

        impl GatewayConfig {
            /// Each setting that is set, with its value as the file would say it
            /// (paths only for TLS, never key material).
            pub fn values(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$key {
                    out.push((stringify!($key), Written::written(v)));
                } )+
                out
            }

            /// The settings that are set, as the loader's untyped `gateway:` mapping.
            #[cfg(feature = "config-file")]
            pub(crate) fn to_node(&self, source: &crate::config::Source) -> crate::config::node::Node {
                use crate::config::node::{Node, Value};
                let mut entries = Vec::new();
                $( if let Some(v) = &self.$key {
                    entries.push((
                        Node::new(Value::Str(stringify!($key).to_owned()), source.clone()),
                        Node::new(ToValue::to_value(v, source), source.clone()),
                    ));
                } )+
                Node::new(Value::Map(entries), source.clone())
            }

            /// Sets the field of `key` from a value its kind gave; `false` for a key
            /// that is not a setting.
            #[cfg(feature = "config-file")]
            pub(crate) fn set(&mut self, key: &str, value: Option<Typed>) -> bool {
                match key {
                    $( stringify!($key) => {
                        self.$key = value.and_then(FromTyped::from_typed);
                        true
                    } )+
                    _ => false,
                }
            }
        }
    };
}

settings! {
    /// The address to listen on (the TLS listener when `tls` is set).
    listen: SocketAddr = Kind::Address, default "127.0.0.1:8000", flag Some("listen"), Restart;
    /// The upstream service, an absolute `http://` URL (gateway mode).
    upstream: String = Kind::Upstream, default "none (the built-in demo app)", flag Some("upstream"), Restart;
    /// How long the upstream may take to send its response headers (504 after).
    upstream_timeout: Duration = Kind::Duration, default "30s", flag Some("upstream-timeout"), Restart;
    /// How long a new connection may take to send its first request head (TLS
    /// handshake included), from accept (slow-loris protection).
    header_read_timeout: Duration = Kind::Duration, default "30s", flag Some("header-read-timeout"), Restart;
    /// How long a connection with no request in flight stays open.
    idle_timeout: Duration = Kind::Duration, default "75s", flag Some("idle-timeout"), Restart;
    /// Direct TLS: the certificate chain and key files (reloaded on SIGHUP and when
    /// the files change).
    tls: GatewayTls = Kind::Tls, default "none", flag None, Restart;
    /// A plain HTTP listener beside the TLS one (redirects to https when
    /// `ssl_redirect` is on, serves health checks).
    listen_http: SocketAddr = Kind::Address, default "none", flag Some("listen-http"), Restart;
    /// The admin listener: /healthz, /readyz and /metrics (never on `listen`).
    admin_listen: SocketAddr = Kind::Address, default "none", flag Some("admin-listen"), Restart;
    /// The log line format on stderr: text or json (one object per line).
    log_format: LogFormat = Kind::Choice(&["text", "json"]), default "text", flag Some("log-format"), Restart;
    /// Read request bodies completely before forwarding (`false`: stream them).
    request_buffering: bool = Kind::Switch, default "true", flag Some("request-buffering"), Restart;
    /// Path patterns whose request bodies stream to the upstream (`/upload`,
    /// `/upload/*`, `/u/{id}/file`).
    unbuffered_request_paths: Vec<String> = Kind::Paths, default "none", flag Some("unbuffered-request-path"), Restart;
    /// Largest request body in bytes; larger ones are answered 413 (0 = unlimited).
    client_max_body_size: u64 = Kind::Bytes { min: 0 }, default "10m", flag Some("client-max-body-size"), Restart;
    /// Request body bytes kept in memory before a temporary file takes the rest.
    client_body_buffer_size: u64 = Kind::Bytes { min: 1 }, default "64k", flag Some("client-body-buffer-size"), Restart;
    /// Longest pause of a client sending a request body (408 after).
    client_body_timeout: Duration = Kind::Duration, default "60s", flag Some("client-body-timeout"), Restart;
    /// Read responses from the upstream as fast as it sends them (`false`: stream them).
    response_buffering: bool = Kind::Switch, default "true", flag Some("response-buffering"), Restart;
    /// Response bytes kept in memory before a temporary file takes the rest.
    response_buffer_size: u64 = Kind::Bytes { min: 1 }, default "64k", flag Some("response-buffer-size"), Restart;
    /// Largest temporary file of one response, bytes (0 = no temporary files).
    max_temp_file_size: u64 = Kind::Bytes { min: 0 }, default "1g", flag Some("max-temp-file-size"), Restart;
    /// Longest stall of a client reading a response before it is cut off.
    send_timeout: Duration = Kind::Duration, default "60s", flag Some("send-timeout"), Restart;
    /// Directory of the temporary files.
    temp_dir: PathBuf = Kind::Directory, default "the OS temporary directory", flag Some("temp-dir"), Restart;
    /// Most upstream connections open at once, idle ones included.
    upstream_max_connections: u64 = Kind::Number { min: 1, max: u32::MAX as u64 }, default "64", flag Some("upstream-max-connections"), Restart;
    /// Most upstream connections one client connection may use at once.
    upstream_max_connections_per_client: u64 = Kind::Number { min: 1, max: u32::MAX as u64 }, default "8", flag Some("upstream-max-connections-per-client"), Restart;
    /// Most requests waiting for an upstream connection (0 = none wait).
    upstream_queue_size: u64 = Kind::Number { min: 0, max: u32::MAX as u64 }, default "1024", flag Some("upstream-queue-size"), Restart;
    /// Longest wait for an upstream connection (503 after).
    upstream_queue_timeout: Duration = Kind::Duration, default "10s", flag Some("upstream-queue-timeout"), Restart;
    /// Most upstream connections held by WebSocket (and other upgrade) tunnels, pending
    /// handshakes included (0 = half of `upstream_max_connections`).
    upstream_max_tunnels: u64 = Kind::Number { min: 0, max: u32::MAX as u64 }, default "0", flag Some("upstream-max-tunnels"), Restart;
    /// Worker threads, each with its own event loop accepting on `listen`, as nginx's
    /// worker processes (1 to 1024).
    workers: u64 = Kind::Number { min: 1, max: MAX_WORKERS }, default "one per core", flag Some("workers"), Restart;
    /// Who checks CSRF on the requests the gateway forwards: the gateway (`enforce`)
    /// or the upstream application (`upstream`: a Django project, whose `@csrf_exempt`
    /// views are then the only exemptions). Takes effect with `role: gateway` only.
    csrf: GatewayCsrf = Kind::Choice(&["enforce", "upstream"]), default "enforce", flag None, Reload;
    /// The Django settings fragment the upstream imports (`hardened show --format
    /// django` output): `check --deploy` verifies that it is current, i.e. that the
    /// upstream enforces the settings this file derives.
    django_settings: PathBuf = Kind::Path, default "none", flag None, Reload;
    /// The request header that carries the response's CSP nonce to the upstream when
    /// the CSP has `{nonce}`; a copy sent by the client is always removed.
    csp_nonce_header: String = Kind::HeaderName, default "x-csp-nonce", flag None, Restart;
}

/// The settings of `gateway.tls:`. Their flags set one key of the mapping each.
pub const TLS_SETTINGS: &[Setting] = &[
    Setting {
        key: "cert",
        kind: Kind::ReadableFile,
        default: "none",
        flag: Some("tls-cert"),
        applies: Applies::Restart,
        doc: "The PEM certificate chain, leaf first.",
    },
    Setting {
        key: "key",
        kind: Kind::ReadableFile,
        default: "none",
        flag: Some("tls-key"),
        applies: Applies::Restart,
        doc: "The PEM private key of `cert` (RSA, ECDSA or Ed25519).",
    },
];

/// The setting of a key path (`client_max_body_size`, `tls.cert`).
pub fn setting(path: &str) -> Option<&'static Setting> {
    match path.split_once('.') {
        Some(("tls", sub)) => TLS_SETTINGS.iter().find(|s| s.key == sub),
        Some(_) => None,
        None => SETTINGS.iter().find(|s| s.key == path),
    }
}

/// Every setting that has a `hardened serve` flag, with the key path it sets
/// (`tls.cert` for `--tls-cert`).
pub fn flags() -> impl Iterator<Item = (&'static Setting, String)> {
    SETTINGS
        .iter()
        .filter(|s| s.kind != Kind::Tls)
        .map(|s| (s, s.key.to_owned()))
        .chain(TLS_SETTINGS.iter().map(|s| (s, format!("tls.{}", s.key))))
        .filter(|(s, _)| s.flag.is_some())
}

impl GatewayConfig {
    /// The settings a reload cannot apply, as `(gateway.key, value)`: read once at
    /// start-up, so a reload that changes one reports it as needing a restart.
    pub fn restart_only(&self) -> Vec<(String, String)> {
        self.values()
            .into_iter()
            .filter(|(k, _)| setting(k).is_some_and(|s| s.applies == Applies::Restart))
            .map(|(k, v)| (format!("gateway.{k}"), v))
            .collect()
    }
}
