//! Shared fixtures and oracles of the fuzz targets.
//!
//! The oracles are written independently of the library's matchers (which are
//! crate-private): they state what a correct verdict is, so a fuzz target can check the
//! library's answer instead of only looking for panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use hardened::Security;
use hardened::config::{Config, DockerMode};
use hardened::domain::{Host, Origin, Scheme};
use hardened::probe::RuntimeProbe;
use ipnet::IpNet;

/// The domains of every fixture.
pub const DOMAINS: [&str; 6] = [
    "example.com",
    "https://app.example.com",
    "http://staging.example.com:8080",
    ".example.org",
    "192.168.1.10",
    "[2001:db8::1]",
];

/// Exact allowed hosts (Django's `ALLOWED_HOSTS` entries without the pattern).
pub const EXACT_HOSTS: [&str; 5] = [
    "example.com",
    "app.example.com",
    "staging.example.com",
    "192.168.1.10",
    "[2001:db8::1]",
];

/// The parent domain of the subdomain pattern.
pub const PATTERN: &str = "example.org";

/// Which fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixture {
    /// Production on a plain host.
    Production,
    /// Production in a container: internal networks, `.cluster.local`, `.svc`.
    ProductionDocker,
    /// Development: loopback on top of the domains.
    Development,
}

impl Fixture {
    /// Picks a fixture from a byte.
    pub fn from_byte(b: u8) -> Fixture {
        match b % 3 {
            0 => Fixture::Production,
            1 => Fixture::ProductionDocker,
            _ => Fixture::Development,
        }
    }

    /// The compiled policy of this fixture (built once).
    pub fn security(self) -> &'static Security {
        static CELLS: [OnceLock<Security>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let i = match self {
            Fixture::Production => 0,
            Fixture::ProductionDocker => 1,
            Fixture::Development => 2,
        };
        CELLS[i].get_or_init(|| build(self))
    }

    /// The extra internal network of the container fixture.
    pub fn internal_networks(self) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "127.0.0.0/8",
            "::1/128",
            "fc00::/7",
            "100.64.0.0/10",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        if self != Fixture::ProductionDocker {
            v.clear();
        }
        v
    }
}

fn build(f: Fixture) -> Security {
    let mut cfg = Config::production(DOMAINS).unwrap();
    cfg.docker = DockerMode::Off;
    cfg.health_check_paths = vec!["/healthz".into()];
    cfg.csrf_exempt_paths = vec!["/hooks/*".into()];
    match f {
        Fixture::Production => {}
        Fixture::ProductionDocker => {
            cfg.docker = DockerMode::On;
            cfg.internal_networks = vec!["100.64.0.0/10".parse().unwrap()];
        }
        Fixture::Development => {
            cfg.environment = hardened::config::Environment::Development;
            cfg.debug = true;
        }
    }
    Security::from_config(&cfg, &RuntimeProbe::none()).unwrap()
}

/// Django's `split_domain_port` written from its regex
/// `^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]+)?$`, on the lowercased host:
/// the domain without one trailing dot, or `None` for a malformed host.
pub fn django_domain(host: &str) -> Option<String> {
    let h = host.to_ascii_lowercase();
    let b = h.as_bytes();
    let host_end = if b.first() == Some(&b'[') {
        let close = h.find(']')?;
        let inner = &h[1..close];
        let colon = inner.find(':')?;
        let (head, tail) = (&inner[..colon], &inner[colon + 1..]);
        let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        if !head.bytes().all(hex)
            || tail.is_empty()
            || !tail.bytes().all(|c| hex(c) || c == b'.' || c == b':')
        {
            return None;
        }
        close + 1
    } else {
        let end = h.find(':').unwrap_or(h.len());
        if end == 0
            || !h[..end]
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        {
            return None;
        }
        end
    };
    let rest = &h[host_end..];
    if !rest.is_empty() {
        let port = rest.strip_prefix(':')?;
        if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let d = &h[..host_end];
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() {
        return None;
    }
    Some(d.to_owned())
}

/// Whether `domain` (as [`django_domain`] returns it) is in the fixture's allowed hosts.
pub fn host_allowed(f: Fixture, domain: &str) -> bool {
    if EXACT_HOSTS.contains(&domain) || domain == PATTERN || domain.ends_with(".example.org") {
        return true;
    }
    match f {
        Fixture::Production => false,
        Fixture::Development => {
            ["localhost", "127.0.0.1", "[::1]"].contains(&domain) || domain.ends_with(".localhost")
        }
        Fixture::ProductionDocker => {
            if domain == "cluster.local"
                || domain.ends_with(".cluster.local")
                || domain == "svc"
                || domain.ends_with(".svc")
            {
                return true;
            }
            let ip: Option<IpAddr> =
                match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
                    Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
                    None => domain.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
                };
            ip.is_some_and(|ip| f.internal_networks().iter().any(|n| n.contains(&ip)))
        }
    }
}

/// A loose, security-minded reading of an origin-like value: `(scheme, host, port)` with
/// the host lowercased and one trailing dot removed, the port effective. No IDNA, no
/// validation of the host's characters: what the bytes literally name.
pub fn loose_origin(value: &str) -> Option<(Scheme, String, u16)> {
    let (scheme, rest) = value.split_once("://")?;
    let scheme = Scheme::parse(scheme)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && !p.contains(']') =>
        {
            (h, p.parse::<u16>().ok()?)
        }
        _ => (rest, scheme.default_port()),
    };
    let host = host.to_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
    Some((scheme, host, port))
}

/// The fixture's trusted (CSRF) and allowed (CORS) origins in production: the
/// domains' origins, and `https://*.example.org`.
pub fn origin_trusted(f: Fixture, scheme: Scheme, host: &str, port: u16) -> bool {
    let exact = [
        (Scheme::Https, "example.com", 443),
        (Scheme::Https, "app.example.com", 443),
        (Scheme::Http, "staging.example.com", 8080),
        (Scheme::Http, "192.168.1.10", 80),
        (Scheme::Http, "[2001:db8::1]", 80),
    ];
    if exact.contains(&(scheme, host, port)) {
        return true;
    }
    if scheme == Scheme::Https && port == 443 && (host == PATTERN || host.ends_with(".example.org"))
    {
        return true;
    }
    if f == Fixture::Development {
        // Development adds the other scheme of each origin (CORS) and loopback.
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host == "[::1]"
            || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return true;
        }
        let twin = match scheme {
            Scheme::Http => Scheme::Https,
            Scheme::Https => Scheme::Http,
        };
        let twin_port = if port == scheme.default_port() {
            twin.default_port()
        } else {
            port
        };
        if exact.contains(&(twin, host, twin_port)) {
            return true;
        }
        if port == scheme.default_port() && (host == PATTERN || host.ends_with(".example.org")) {
            return true;
        }
    }
    false
}

/// The library's normalized reading of an `Origin` value.
pub fn normalized(value: &str) -> Option<(Scheme, String, u16)> {
    let o = Origin::parse_header(value)?;
    let host = match &o.host {
        Host::Domain(d) => d.clone(),
        h => h.to_string(),
    };
    Some((o.scheme, host, o.effective_port()))
}

/// Polls a future that must be ready at once (every service here is synchronous).
pub fn ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the security layer's future was not ready at once"),
    }
}
