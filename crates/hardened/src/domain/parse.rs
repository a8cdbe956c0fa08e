//! Parsing and normalizing entries and hosts: strict for configuration, lenient for
//! request-derived origins.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::{DomainEntry, DomainError, Host, Origin, Scheme};

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
pub(super) fn split_authority(authority: &str) -> Result<(&str, Option<u16>), DomainError> {
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
pub(super) fn parse_host_lenient(h: &str) -> Option<Host> {
    parse_host(h).ok()
}
