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
mod forwarded;
mod nonce;
mod settings;
#[cfg(test)]
mod tests;
#[cfg(feature = "config-file")]
mod typing;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use forwarded::{from_no_one, from_trusted_proxies_only};
pub use nonce::{DEFAULT_CSP_NONCE_HEADER, csp_nonce_header_problem};
#[cfg(feature = "config-file")]
pub(crate) use settings::Typed;
pub use settings::{
    Applies, DEFAULT_LISTEN, GatewayConfig, Kind, MAX_WORKERS, SETTINGS, Setting, TLS_SETTINGS,
    flags, setting,
};

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
pub(crate) use env::{env_overrides, flag_overrides, variables};

/// Every key of `gateway:`.
pub fn keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.key)
}

/// Every key of `gateway.tls:`.
pub fn tls_keys() -> impl Iterator<Item = &'static str> {
    TLS_SETTINGS.iter().map(|s| s.key)
}

/// Why an upstream URL is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamProblem {
    /// Not a URL at all.
    NotUrl,
    /// An `https` URL: the gateway speaks plain HTTP to a local or internal service.
    Https,
    /// Another scheme, or no scheme.
    NotHttp,
    /// An `http://` URL without a host.
    NoHost,
    /// User name or password in the URL: the gateway sends no credentials upstream.
    Credentials,
    /// A query or fragment: the request's own are forwarded, these would be dropped.
    QueryOrFragment,
    /// A port that is not 1 to 65535.
    BadPort,
}

impl fmt::Display for UpstreamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamProblem::NotUrl => "not a URL",
            UpstreamProblem::Https => {
                "https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
            }
            UpstreamProblem::NotHttp => "not an absolute http:// URL",
            UpstreamProblem::NoHost => "the URL names no host",
            UpstreamProblem::Credentials => {
                "a user name or password in the URL; the gateway sends no credentials upstream (and would print them)"
            }
            UpstreamProblem::QueryOrFragment => {
                "a query or fragment in the URL; each request's own are forwarded, these would be dropped"
            }
            UpstreamProblem::BadPort => "the port is not a number from 1 to 65535",
        })
    }
}

/// Whether an authority names a port (`host:port`, `[::1]:port`): `http` reads a port
/// that is no `u16` (`:99999`) as no port at all.
fn has_port(authority: &str) -> bool {
    let after_host = match authority.rfind(']') {
        Some(i) => authority.get(i + 1..).unwrap_or(""),
        None => authority,
    };
    after_host.contains(':')
}

/// Checks an upstream URL: absolute, `http`, with a host. The one check of the
/// `gateway.upstream` key, its variable, the `--upstream` flag and the gateway's own
/// `parse_upstream`.
///
/// ```
/// use hardened::config::gateway::{check_upstream, UpstreamProblem};
///
/// assert!(check_upstream("http://127.0.0.1:9000/api").is_ok());
/// assert_eq!(check_upstream("https://app.internal").unwrap_err(), UpstreamProblem::Https);
/// assert_eq!(check_upstream("ftp://x").unwrap_err(), UpstreamProblem::NotHttp);
/// assert_eq!(check_upstream("http://u:p@app:9000").unwrap_err(), UpstreamProblem::Credentials);
/// assert_eq!(check_upstream("http://app:99999").unwrap_err(), UpstreamProblem::BadPort);
/// assert_eq!(check_upstream("http://app/?x=1").unwrap_err(), UpstreamProblem::QueryOrFragment);
/// ```
///
/// # Errors
/// What is wrong with it.
pub fn check_upstream(input: &str) -> Result<http::Uri, UpstreamProblem> {
    let input = input.trim();
    if input.contains(['?', '#']) {
        return Err(UpstreamProblem::QueryOrFragment);
    }
    let uri: http::Uri = input.parse().map_err(|_| UpstreamProblem::NotUrl)?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(a)) if a.as_str().contains('@') => Err(UpstreamProblem::Credentials),
        (Some("http"), Some(a)) if has_port(a.as_str()) && a.port_u16().is_none_or(|p| p == 0) => {
            Err(UpstreamProblem::BadPort)
        }
        (Some("http"), Some(a)) if !a.host().is_empty() => Ok(uri),
        (Some("http"), _) => Err(UpstreamProblem::NoHost),
        (Some("https"), _) => Err(UpstreamProblem::Https),
        _ => Err(UpstreamProblem::NotHttp),
    }
}
