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

#[cfg(feature = "config-file")]
mod env;
mod nonce;
#[cfg(test)]
mod tests;
#[cfg(feature = "config-file")]
mod typing;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use nonce::{DEFAULT_CSP_NONCE_HEADER, csp_nonce_header_problem};

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
    /// Most upstream connections held by WebSocket (and other upgrade) tunnels, pending
    /// handshakes included (0 = half of `upstream_max_connections`).
    pub upstream_max_tunnels: Option<u64>,
    /// Worker threads, each with its own event loop (1 to 1024; default one per core).
    pub workers: Option<u64>,
    /// Who checks CSRF on the requests the gateway forwards: the gateway (the default)
    /// or the upstream application (a Django project, whose `@csrf_exempt` views are
    /// then the only exemptions). Takes effect with `role: gateway` only.
    pub csrf: Option<GatewayCsrf>,
    /// The Django settings fragment the upstream imports (`hardened show --format
    /// django` output): `check --deploy` verifies that it is current, i.e. that the
    /// upstream enforces the settings this file derives.
    pub django_settings: Option<PathBuf>,
    /// The request header that carries the response's CSP nonce to the upstream when
    /// the CSP has `{nonce}` (default `X-CSP-Nonce`); a copy sent by the client is
    /// always removed.
    pub csp_nonce_header: Option<String>,
}

/// Who checks CSRF on forwarded requests (`gateway.csrf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GatewayCsrf {
    /// The gateway checks, with `csrf_exempt_paths` as its exemptions.
    #[default]
    Enforce,
    /// The upstream application checks (Django's `CsrfViewMiddleware`, with the
    /// `CSRF_TRUSTED_ORIGINS` of `hardened show --format django`); the gateway lets
    /// cross-origin writes through to it.
    Upstream,
}

impl GatewayCsrf {
    /// `enforce` or `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayCsrf::Enforce => "enforce",
            GatewayCsrf::Upstream => "upstream",
        }
    }

    /// Parses `enforce` or `upstream` (case-insensitive).
    pub fn parse(s: &str) -> Option<GatewayCsrf> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Some(GatewayCsrf::Enforce),
            "upstream" => Some(GatewayCsrf::Upstream),
            _ => None,
        }
    }
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

/// The units [`parse_bytes`] reads, case-insensitive, and what each multiplies by.
/// nginx's one-letter units and the IEC units are binary; `kB`, `MB`, `GB` are decimal
/// (SI, as Caddy reads them).
pub const BYTE_UNITS: [(&str, u64); 10] = [
    ("b", 1),
    ("k", 1 << 10),
    ("m", 1 << 20),
    ("g", 1 << 30),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
];

/// Parses a number of bytes: digits, then optionally a unit of [`BYTE_UNITS`]
/// (case-insensitive, a space allowed before it): `65536`, `64k`, `10m` and `10MiB`
/// (binary: 10 × 2²⁰), `10MB` (decimal: 10 × 10⁶). `None` for anything else (negative
/// or fractional numbers included), or on overflow.
///
/// ```
/// use hardened::config::gateway::parse_bytes;
///
/// assert_eq!(parse_bytes("10M"), Some(10 << 20));
/// assert_eq!(parse_bytes("10MiB"), Some(10 << 20));
/// assert_eq!(parse_bytes("10MB"), Some(10_000_000));
/// assert_eq!(parse_bytes("1.5m"), None);
/// ```
pub fn parse_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let factor = if unit.is_empty() {
        1
    } else {
        BYTE_UNITS.iter().find(|(u, _)| *u == unit)?.1
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
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
pub(crate) use env::{env_overrides, variables};

/// The keys of `gateway:`.
#[cfg(feature = "config-file")]
pub(crate) const KEYS: &[&str] = &[
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
    "upstream_max_tunnels",
    "workers",
    "csrf",
    "django_settings",
    "csp_nonce_header",
];

/// The keys of `gateway.tls:`.
#[cfg(feature = "config-file")]
pub(crate) const TLS_KEYS: &[&str] = &["cert", "key"];
