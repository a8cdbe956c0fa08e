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

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Serialize, Serializer};

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

/// Why a domain entry was rejected. Each variant's message names the problem; use
/// [`DomainError::hint`] for the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The entry is empty or only whitespace.
    #[error("empty domain entry")]
    Empty,
    /// The scheme is not http or https.
    #[error("unsupported scheme {0:?}: only http and https are web origins")]
    Scheme(String),
    /// The entry carries a path.
    #[error("a domain entry must not contain a path ({0:?})")]
    Path(String),
    /// The entry carries a query string.
    #[error("a domain entry must not contain a query string")]
    Query,
    /// The entry carries a fragment.
    #[error("a domain entry must not contain a fragment")]
    Fragment,
    /// The entry carries user information (`user:pass@`).
    #[error("a domain entry must not contain user information (`user@`)")]
    Userinfo,
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}: must be a number from 1 to 65535")]
    Port(String),
    /// The host is not a valid domain name or IP address.
    #[error("invalid host {host:?}: {why}")]
    Host {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A wildcard in a place where only a leading `*.` is allowed.
    #[error("wildcards are only allowed as `*` or a leading `*.` label")]
    Wildcard,
    /// A subdomain pattern over a public suffix (`.co.uk`, `*.github.io`): every site
    /// registered under it would be trusted.
    #[error(
        "{0:?} is a public suffix: a subdomain pattern over it would trust every site registered under it"
    )]
    PublicSuffix(String),
}

impl DomainError {
    /// A one-line suggestion for fixing the entry.
    pub fn hint(&self) -> &'static str {
        match self {
            DomainError::Empty => "remove the empty entry",
            DomainError::Scheme(_) => {
                "write the domain as `example.com`, `https://example.com` or `http://example.com:8080`"
            }
            DomainError::Path(_) | DomainError::Query | DomainError::Fragment => {
                "list origins only: `https://example.com`, without path, query or fragment"
            }
            DomainError::Userinfo => {
                "remove the `user@` part; credentials never belong in a domain"
            }
            DomainError::Port(_) => "use a port from 1 to 65535, e.g. `https://example.com:8443`",
            DomainError::Host { .. } => {
                "use a domain name such as `example.com`, an IPv4 address or a bracketed IPv6 address like `[::1]`"
            }
            DomainError::Wildcard => {
                "use `*.example.com` (or `.example.com`) for a domain and its subdomains"
            }
            DomainError::PublicSuffix(_) => {
                "list the exact hosts you own, e.g. `myapp.github.io`, or a pattern over your own registered domain (`.myapp.co.uk`)"
            }
        }
    }
}

/// Parses one `security_domains` entry into its normalized form.
///
/// Accepted: `example.com` (→ `https://`), `https://api.example.com`,
/// `http://staging.example.com:8080`, `staging-api.example.com:8443`, IP literals
/// (→ `http://`), `[::1]`, `.example.com` / `*.example.com` / `https://*.example.com`
/// (domain and subdomains) and `*`. Names are case-folded, IDNA-encoded and lose a
/// trailing dot; a scheme's default port is dropped; a lone trailing `/` is tolerated.
///
/// Loopback names (`localhost`, `*.localhost`) without a scheme default to `http://`,
/// like IP literals: local servers rarely have a certificate.
pub fn parse_entry(raw: &str) -> Result<DomainEntry, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::Empty);
    }
    if s == "*" {
        return Ok(DomainEntry::Any);
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => {
            let (sch, rest) = (s.get(..i).unwrap_or(""), s.get(i + 3..).unwrap_or(""));
            let scheme = Scheme::parse(sch).ok_or_else(|| DomainError::Scheme(sch.to_owned()))?;
            (Some(scheme), rest)
        }
        None => {
            // `mailto:x`, `ftp:/x`: a scheme-like prefix that is not followed by a port.
            if let Some((before, after)) = s.split_once(':')
                && !before.contains(['[', '.'])
                && !after.is_empty()
                && !after.bytes().all(|b| b.is_ascii_digit() || b == b'/')
                && !s.starts_with('[')
                && Ipv6Addr::from_str(s).is_err()
            {
                return Err(DomainError::Scheme(before.to_owned()));
            }
            (None, s)
        }
    };
    if rest.contains('#') {
        return Err(DomainError::Fragment);
    }
    if rest.contains('?') {
        return Err(DomainError::Query);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at_checked(i).unwrap_or((rest, "")),
        None => (rest, ""),
    };
    if !path.is_empty() && path != "/" {
        return Err(DomainError::Path(path.to_owned()));
    }
    if authority.contains('@') {
        return Err(DomainError::Userinfo);
    }
    if authority.contains('\\') {
        return Err(DomainError::Path(authority.to_owned()));
    }
    let (host_str, port) = split_authority(authority)?;
    // Subdomain patterns.
    let (wildcard, host_str) = if let Some(h) = host_str.strip_prefix("*.") {
        (true, h)
    } else if let Some(h) = host_str.strip_prefix('.') {
        (true, h)
    } else {
        (false, host_str)
    };
    if host_str.contains('*') {
        return Err(DomainError::Wildcard);
    }
    let host = parse_host(host_str)?;
    if wildcard {
        let Host::Domain(domain) = host else {
            return Err(DomainError::Host {
                host: host_str.to_owned(),
                why: "a subdomain pattern needs a domain name, not an IP address",
            });
        };
        // `.com` would open every `*.com` site; `localhost` is the one safe single label.
        if !domain.contains('.') && domain != "localhost" {
            return Err(DomainError::Host {
                host: host_str.to_owned(),
                why: "a subdomain pattern needs a registered domain such as `example.com`, not a top-level domain",
            });
        }
        if domain != "localhost" && is_public_suffix(&domain) {
            return Err(DomainError::PublicSuffix(domain));
        }
        let scheme = scheme.unwrap_or(Scheme::Https);
        let port = port.filter(|p| *p != scheme.default_port());
        return Ok(DomainEntry::Subdomains {
            scheme,
            domain,
            port,
        });
    }
    let scheme = scheme.unwrap_or(if host.is_ip() || host.is_loopback() {
        Scheme::Http
    } else {
        Scheme::Https
    });
    Ok(DomainEntry::Origin(Origin::new(scheme, host, port)))
}

/// Whether `domain` (lowercase, punycode) is a public suffix by the Public Suffix List,
/// ICANN and private sections (`co.uk`, `github.io`, `s3.amazonaws.com`): no registered
/// domain lies at or above it. Names under an unlisted top-level domain follow the
/// list's default rule (`*`): `corp.internal` is a registered domain.
pub fn is_public_suffix(domain: &str) -> bool {
    psl::domain(domain.as_bytes()).is_none()
}

/// Splits `host[:port]` / `[v6][:port]`, validating the port.
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), DomainError> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (h, rest) = authority.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None if rest.is_empty() => (h, None),
                    None => {
                        return Err(DomainError::Host {
                            host: authority.to_owned(),
                            why: "unexpected characters after the IPv6 address",
                        });
                    }
                }
            }
            None => {
                return Err(DomainError::Host {
                    host: authority.to_owned(),
                    why: "unclosed `[` in IPv6 address",
                });
            }
        }
    } else if Ipv6Addr::from_str(authority).is_ok() {
        (authority, None)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, DomainError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::Port(p.to_owned()));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(DomainError::Port(p.to_owned())),
        Ok(n) => Ok(n),
    }
}

/// Parses and normalizes a host written in configuration: strict (STD3 rules,
/// canonical dotted-decimal IPv4 only).
pub fn parse_host(h: &str) -> Result<Host, DomainError> {
    let err = |why| DomainError::Host {
        host: h.to_owned(),
        why,
    };
    if h.is_empty() {
        return Err(err("the host is empty"));
    }
    if let Some(inner) = h.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| err("unclosed `[`"))?;
        return Ipv6Addr::from_str(inner)
            .map(Host::Ipv6)
            .map_err(|_| err("not a valid IPv6 address"));
    }
    if h.contains(':') {
        if let Ok(ip) = Ipv6Addr::from_str(h) {
            return Ok(Host::Ipv6(ip));
        }
        return Err(err(
            "a colon is only allowed before the port or inside `[IPv6]`",
        ));
    }
    let trimmed = h.strip_suffix('.').unwrap_or(h);
    if trimmed.is_empty() {
        return Err(err("the host is empty"));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ipv4Addr::from_str(trimmed)
            .map(Host::Ipv4)
            .map_err(|_| err("not a valid IPv4 address (four numbers 0-255)"));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| err("not a valid domain name (letters, digits, hyphens and dots)"))?;
    validate_ascii_domain(&ascii).map_err(err)?;
    Ok(Host::Domain(ascii))
}

fn validate_ascii_domain(d: &str) -> Result<(), &'static str> {
    if d.len() > 253 {
        return Err("a domain name is at most 253 characters");
    }
    let mut last = "";
    for label in d.split('.') {
        if label.is_empty() {
            return Err("empty label (two dots in a row)");
        }
        if label.len() > 63 {
            return Err("a label is at most 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits and hyphens are allowed in a label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label must not start or end with a hyphen");
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the last label of a domain name must not be numeric");
    }
    Ok(())
}

/// Lenient host parsing for request-derived origins: case-folded, trailing dot stripped,
/// IDNA applied. Returns `None` when the host is not a valid host.
fn parse_host_lenient(h: &str) -> Option<Host> {
    parse_host(h).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepted_formats() {
        let table: &[(&str, &str)] = &[
            ("example.com", "https://example.com"),
            ("https://api.example.com", "https://api.example.com"),
            (
                "http://staging.example.com:8080",
                "http://staging.example.com:8080",
            ),
            ("192.168.1.10", "http://192.168.1.10"),
            ("http://staging.com:8080", "http://staging.com:8080"),
            (
                "staging-api.example.com:8443",
                "https://staging-api.example.com:8443",
            ),
            ("EXAMPLE.com.", "https://example.com"),
            ("HTTPS://Example.Com:443", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("https://example.com:80", "https://example.com:80"),
            ("https://example.com/", "https://example.com"),
            ("[::1]", "http://[::1]"),
            ("[::1]:8000", "http://[::1]:8000"),
            ("::1", "http://[::1]"),
            ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
            ("10.0.0.1:8000", "http://10.0.0.1:8000"),
            ("https://10.0.0.1", "https://10.0.0.1"),
            ("bücher.example", "https://xn--bcher-kva.example"),
            ("localhost:3000", "http://localhost:3000"),
            ("localhost", "http://localhost"),
            ("https://localhost", "https://localhost"),
            ("  example.com  ", "https://example.com"),
            ("*.example.com", "https://*.example.com"),
            (".example.com", "https://*.example.com"),
            ("http://*.example.com:8080", "http://*.example.com:8080"),
            ("*", "*"),
        ];
        for (input, want) in table {
            let got = parse_entry(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), *want, "input {input:?}");
        }
    }

    #[test]
    fn rejected_formats() {
        let table: &[&str] = &[
            "",
            "   ",
            "ftp://example.com",
            "mailto:admin@example.com",
            "javascript:alert(1)",
            "https://example.com/api",
            "example.com/api",
            "https://example.com?x=1",
            "https://example.com#top",
            "https://user:pw@example.com",
            "user@example.com",
            "example.com:0",
            "example.com:65536",
            "example.com:http",
            "example.com:",
            "exa mple.com",
            "example..com",
            "-example.com",
            "example-.com",
            "ex_ample.com",
            "1.2.3.256",
            "1.2.3",
            "[::1",
            "[zz::1]",
            "foo.*.example.com",
            "*example.com",
            "https://",
            "*.10.0.0.1",
            "example.123",
            "a\u{0}b.com",
            ".com",
            "*.com",
            "https://*.org",
        ];
        for input in table {
            assert!(parse_entry(input).is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn subdomain_patterns_need_a_registered_domain() {
        // (entry, the public suffix it was refused for; None = accepted)
        let table: &[(&str, Option<&str>)] = &[
            ("*.github.io", Some("github.io")),
            (".co.uk", Some("co.uk")),
            ("*.herokuapp.com", Some("herokuapp.com")),
            (".s3.amazonaws.com", Some("s3.amazonaws.com")),
            ("*.com.au", Some("com.au")),
            ("https://*.blogspot.com", Some("blogspot.com")),
            ("http://*.pages.dev:8080", Some("pages.dev")),
            // A registered domain under a public suffix is a pattern's parent.
            ("*.myapp.github.io", None),
            (".example.co.uk", None),
            ("*.example.com.au", None),
            // Unlisted top-level domains follow the default rule.
            (".corp.internal", None),
            (".localhost", None),
            // Exact hosts are not patterns: a site of one's own on a shared suffix.
            ("myapp.github.io", None),
            ("github.io", None),
        ];
        for (entry, refused) in table {
            match (parse_entry(entry), refused) {
                (Err(DomainError::PublicSuffix(s)), Some(want)) => assert_eq!(s, *want, "{entry}"),
                (Ok(_), None) => {}
                (got, _) => panic!("{entry}: {got:?}"),
            }
        }
        let e = DomainError::PublicSuffix("github.io".into());
        assert!(e.hint().contains("exact hosts you own"));
    }

    #[test]
    fn header_origin_parsing() {
        assert_eq!(
            Origin::parse_header("HTTPS://Example.COM:443")
                .unwrap()
                .to_string(),
            "https://example.com"
        );
        assert!(Origin::parse_header("null").is_none());
        assert!(Origin::parse_header("https://a.com/").is_none());
        assert!(Origin::parse_header("https://u@a.com").is_none());
        assert!(Origin::parse_header("ftp://a.com").is_none());
    }
}
