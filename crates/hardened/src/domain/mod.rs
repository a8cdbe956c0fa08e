//! Parsing and normalization of `security_domains` entries.
//!
//! One entry, in any format the guide accepts, becomes one [`DomainEntry`]: a
//! normalized origin (`scheme://host[:port]`), a subdomain pattern
//! (`.example.com`, `*.example.com`, `https://*.example.com`) or the development-only
//! wildcard `*`.
//!
//! ```
//! use hardened::domain::{DomainEntry, parse_entry};
//!
//! let entry = parse_entry("Example.COM.").unwrap();
//! assert_eq!(entry.to_string(), "https://example.com");
//! assert_eq!(parse_entry("192.168.1.10").unwrap().to_string(), "http://192.168.1.10");
//! assert_eq!(parse_entry("https://api.example.com:443").unwrap().to_string(), "https://api.example.com");
//! assert!(matches!(parse_entry("*").unwrap(), DomainEntry::Any));
//! assert!(parse_entry("https://example.com/path").is_err());
//! ```

mod error;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};

pub use error::DomainError;
pub use parse::{is_public_suffix, parse_entry, parse_host};
use parse::{parse_host_lenient, split_authority};

/// The scheme of an origin: only `http` and `https` are web origins we protect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme's name, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL of this scheme uses when none is written.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// Parses a scheme case-insensitively; `None` for anything but http/https.
    pub fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalized host: an ASCII (punycode) lowercase domain name without trailing dot,
/// or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A domain name, lowercase ASCII, IDNA-encoded, no trailing dot.
    Domain(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Whether this host is a loopback name or address (`localhost`, `*.localhost`,
    /// `127.0.0.0/8`, `::1`).
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Domain(d) => d == "localhost" || d.ends_with(".localhost"),
            Host::Ipv4(ip) => ip.is_loopback(),
            Host::Ipv6(ip) => ip.is_loopback(),
        }
    }

    /// Whether this host is an IP literal.
    pub fn is_ip(&self) -> bool {
        !matches!(self, Host::Domain(_))
    }

    /// The IP address, for IP literals.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(ip) => Some((*ip).into()),
            Host::Ipv6(ip) => Some((*ip).into()),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => write!(f, "[{ip}]"),
        }
    }
}

impl Serialize for Host {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A web origin `scheme://host[:port]`, the port omitted when it is the scheme's default.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The normalized host.
    pub host: Host,
    /// The port, `None` when it is the scheme's default.
    pub port: Option<u16>,
}

impl Origin {
    /// Builds an origin, dropping the port when it is the scheme's default.
    pub fn new(scheme: Scheme, host: Host, port: Option<u16>) -> Origin {
        let port = port.filter(|p| *p != scheme.default_port());
        Origin { scheme, host, port }
    }

    /// The port actually used: the explicit one or the scheme's default.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// `host[:port]` as it appears in a `Host` header or a URL's netloc.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// Parses an `Origin` header value (or the origin part of a URL) the way a browser
    /// serializes it, normalizing case, default port and trailing dot. Returns `None` for
    /// anything that is not an http(s) origin, including `null`.
    pub fn parse_header(value: &str) -> Option<Origin> {
        let (scheme, rest) = value.split_once("://")?;
        let scheme = Scheme::parse(scheme)?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '\\']) {
            return None;
        }
        let (host, port) = split_authority(rest).ok()?;
        let host = parse_host_lenient(host)?;
        Some(Origin::new(scheme, host, port))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One parsed `security_domains` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DomainEntry {
    /// One origin.
    Origin(Origin),
    /// A domain and all of its subdomains (`.example.com`, `*.example.com`,
    /// `https://*.example.com`), on one scheme and port.
    Subdomains {
        /// Scheme of the origins the pattern covers.
        scheme: Scheme,
        /// The parent domain (matches itself and every subdomain).
        domain: String,
        /// The port, `None` for the scheme's default.
        port: Option<u16>,
    },
    /// `*`: any host. Accepted only in development and test.
    Any,
}

impl fmt::Display for DomainEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainEntry::Origin(o) => o.fmt(f),
            DomainEntry::Subdomains {
                scheme,
                domain,
                port,
            } => {
                write!(f, "{scheme}://*.{domain}")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
            DomainEntry::Any => f.write_str("*"),
        }
    }
}

impl Serialize for DomainEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A list that keeps first occurrences in order, deduplicating in O(1) per push (a
/// linear `contains` makes 10 000 domains quadratic).
pub(crate) struct Unique<T> {
    items: Vec<T>,
    seen: std::collections::HashSet<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Unique<T> {
    pub(crate) fn new() -> Self {
        Unique {
            items: Vec::new(),
            seen: std::collections::HashSet::new(),
        }
    }

    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        let mut u = Unique::new();
        for x in v {
            u.push(x);
        }
        u
    }

    pub(crate) fn push(&mut self, x: T) {
        if self.seen.insert(x.clone()) {
            self.items.push(x);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<T> {
        self.items
    }
}
