//! Property tests (proptest) of the public surface: domain normalization, the origins a
//! policy derives and what its checks accept, the host check against an independent
//! oracle, internal-network matching against `ipnet` containment, and `decide` on
//! arbitrary header bytes.
//!
//! The matchers are crate-private, so everything goes through public APIs:
//! [`parse_entry`], [`Origin::parse_header`], [`Security::decide`] and the tower layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hardened::config::{Config, DockerMode, Environment};
use hardened::domain::{DomainEntry, Host, Origin, Scheme, parse_entry};
use hardened::enforce::Answer;
use hardened::policy::default_internal_networks;
use hardened::probe::RuntimeProbe;
use hardened::{Decision, PeerAddr, Security};
use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use http_body_util::Full;
use ipnet::IpNet;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use tower::{Layer, Service, service_fn};

// ---------------------------------------------------------------- helpers

fn security(env: Environment, domains: &[DomainEntry], docker: DockerMode) -> Security {
    let mut cfg = Config::development();
    cfg.environment = env;
    cfg.debug = !env.is_strict();
    cfg.security_domains = domains.to_vec();
    cfg.docker = docker;
    Security::from_config(&cfg, &RuntimeProbe::none()).unwrap()
}

fn entries(domains: &[&str]) -> Vec<DomainEntry> {
    domains.iter().map(|d| parse_entry(d).unwrap()).collect()
}

/// A request from a loopback peer (a trusted proxy by default), optionally marked https
/// by `X-Forwarded-Proto`.
fn parts(
    method: Method,
    host: HeaderValue,
    secure: bool,
    extra: &[(HeaderName, HeaderValue)],
) -> http::request::Parts {
    let mut b = Request::builder()
        .method(method)
        .uri("/form")
        .header(header::HOST, host);
    if secure {
        b = b.header("x-forwarded-proto", "https");
    }
    for (n, v) in extra {
        b = b.header(n, v.clone());
    }
    let (mut parts, ()) = b.body(()).unwrap().into_parts();
    parts
        .extensions
        .insert(PeerAddr(SocketAddr::from(([127, 0, 0, 1], 40000))));
    parts
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap()
}

fn is_allow(d: &Decision) -> bool {
    d.is_pass()
}

/// Django's `split_domain_port` from its regex, on the ASCII-lowercased raw bytes (Django
/// reads the header as latin-1, so non-ASCII bytes never match), then the trailing dot.
fn django_domain(host: &[u8]) -> Option<String> {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::Regex::new(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]+)?$").unwrap()
    });
    let lower = host.to_ascii_lowercase();
    let caps = re.captures(&lower)?;
    let d = std::str::from_utf8(caps.get(1)?.as_bytes()).ok()?;
    let d = d.strip_suffix('.').unwrap_or(d);
    Some(d.to_owned())
}

fn ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the layer's future was not ready at once"),
    }
}

// ---------------------------------------------------------------- generators

/// A label: ASCII letters/digits/hyphens in any case, sometimes with a non-ASCII letter.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9][a-zA-Z0-9-]{0,8}[a-zA-Z0-9]",
        2 => "[a-z]{1,6}",
        1 => "[a-z]{0,3}[üßéаоеçñ中][a-z]{0,3}",
        1 => "xn--[a-z0-9]{2,8}",
    ]
}

fn domain_name() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-zA-Z]{2,6}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn ipv6_text() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|v| Ipv6Addr::from(v).to_string())
}

/// A `security_domains` entry as a person might write it, valid or not.
fn entry_text() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        6 => domain_name(),
        2 => any::<u32>().prop_map(|v| Ipv4Addr::from(v).to_string()),
        1 => ipv6_text().prop_map(|v| format!("[{v}]")),
        1 => Just("localhost".to_owned()),
        1 => label().prop_map(|l| format!("{l}.localhost")),
    ];
    let scheme = prop::sample::select(vec![
        "", "", "http://", "https://", "HTTPS://", "HtTp://", "ftp://",
    ]);
    let wildcard = prop::sample::select(vec!["", "", "", "*.", "."]);
    let dot = prop::sample::select(vec!["", "", ".", ".."]);
    let port = prop::sample::select(vec![
        "", "", "", ":80", ":443", ":8080", ":0443", ":65535", ":0", ":65536", ":",
    ]);
    let tail = prop::sample::select(vec!["", "", "", "/", "/path", "?q", "#f"]);
    let pad = prop::sample::select(vec!["", "", " ", "\t"]);
    (pad.clone(), scheme, wildcard, host, dot, port, tail, pad)
        .prop_map(|(p1, s, w, h, d, po, t, p2)| format!("{p1}{s}{w}{h}{d}{po}{t}{p2}"))
}

/// A valid entry that names origins (not `*`).
fn valid_entry() -> impl Strategy<Value = DomainEntry> {
    entry_text()
        .prop_filter_map("not a valid entry", |s| parse_entry(&s).ok())
        .prop_filter("not the wildcard", |e| !matches!(e, DomainEntry::Any))
}

// ---------------------------------------------------------------- 1. normalization

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// parse(display(parse(x))) == parse(x), and display is a fixed point.
    #[test]
    fn normalization_is_idempotent(raw in prop_oneof![4 => entry_text(), 1 => any::<String>(), 1 => "\\PC{0,30}"]) {
        if let Ok(entry) = parse_entry(&raw) {
            let shown = entry.to_string();
            prop_assert!(shown.is_ascii(), "{raw:?} -> {shown:?}");
            let again = parse_entry(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&entry), "{:?} -> {:?}", raw, shown);
            prop_assert_eq!(again.unwrap().to_string(), shown);
            if let DomainEntry::Origin(o) = &entry {
                // An origin's display is also an `Origin` header naming it.
                let back = Origin::parse_header(&o.to_string());
                prop_assert_eq!(back.as_ref(), Some(o));
            }
        }
    }

    /// Origin headers: normalizing a parsed origin's display gives the same origin.
    #[test]
    fn origin_header_normalization_is_idempotent(raw in prop_oneof![
        entry_text().prop_map(|e| if e.contains("://") { e } else { format!("https://{e}") }),
        "\\PC{0,30}",
    ]) {
        if let Some(o) = Origin::parse_header(&raw) {
            prop_assert_eq!(Origin::parse_header(&o.to_string()), Some(o));
        }
    }
}

// ------------------------------------------- 2. derived origins are accepted

/// Variants of an origin a browser or a hand-written client may send for the same
/// origin: uppercase scheme and host, explicit default port, trailing dot on names.
fn origin_variants(o: &Origin) -> Vec<String> {
    let mut v = vec![o.to_string()];
    v.push(format!(
        "{}://{}",
        o.scheme,
        o.authority().to_ascii_uppercase()
    ));
    v.push(format!(
        "{}://{}",
        o.scheme.as_str().to_ascii_uppercase(),
        o.authority()
    ));
    v.push(format!(
        "{}://{}",
        o.scheme.as_str().to_ascii_uppercase(),
        o.authority().to_ascii_uppercase()
    ));
    if o.port.is_none() {
        v.push(format!(
            "{}://{}:{}",
            o.scheme,
            o.host,
            o.scheme.default_port()
        ));
    }
    if let Host::Domain(d) = &o.host {
        let port = o.port.map(|p| format!(":{p}")).unwrap_or_default();
        v.push(format!("{}://{d}.{port}", o.scheme));
    }
    v
}

/// Origins a pattern entry covers: the parent domain and a subdomain of it.
fn covered_origins(entry: &DomainEntry, sub: &str) -> Vec<Origin> {
    match entry {
        DomainEntry::Origin(o) => vec![o.clone()],
        DomainEntry::Subdomains {
            scheme,
            domain,
            port,
        } => [domain.clone(), format!("{sub}.{domain}")]
            .into_iter()
            .map(|d| Origin::new(*scheme, Host::Domain(d), *port))
            .collect(),
        DomainEntry::Any => Vec::new(),
    }
}

/// The request's Host: a domain of the policy that is none of the tested origins, so
/// acceptance comes from the trusted lists and not from "same origin as the request".
const GATEWAY: &str = "gateway.example.net";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn derived_origins_pass_cors_and_csrf(
        domains in prop::collection::vec(valid_entry(), 1..4),
        sub in "[a-z][a-z0-9]{0,6}",
        strict in any::<bool>(),
    ) {
        let env = if strict { Environment::Production } else { Environment::Development };
        let mut all = domains.clone();
        all.push(parse_entry(GATEWAY).unwrap());
        let sec = security(env, &all, DockerMode::Off);
        for entry in &domains {
            for o in covered_origins(entry, &sub) {
                for value in origin_variants(&o) {
                    let origin = hv(&value);
                    for secure in [false, true] {
                        let post = sec.decide(&parts(Method::POST, hv(GATEWAY), secure, &[(header::ORIGIN, origin.clone())]));
                        prop_assert!(is_allow(&post), "{env}: CSRF rejected {value:?} derived from {entry} (secure={secure}): {post:?}");
                    }
                    let get = sec.decide(&parts(Method::GET, hv(GATEWAY), false, &[(header::ORIGIN, origin.clone())]));
                    match get {
                        Decision::Pass(a) => prop_assert_eq!(a.cors_origin(), Some(&origin), "{}: CORS refused {:?} from {}", env, value, entry),
                        other => prop_assert!(false, "{env}: GET rejected: {other:?}"),
                    }
                    let pre = sec.decide(&parts(Method::OPTIONS, hv(GATEWAY), false, &[
                        (header::ORIGIN, hv(&value)),
                        (header::ACCESS_CONTROL_REQUEST_METHOD, hv("POST")),
                    ]));
                    prop_assert!(
                        matches!(&pre, Decision::Answer(Answer::Preflight, a) if a.cors_origin().is_some()),
                        "{env}: preflight from {value:?}: {pre:?}"
                    );
                }
                // Django's Referer check on a secure POST without Origin: https pages of
                // a trusted origin's host pass, whatever that origin's scheme.
                let referer = format!("https://{}/page?x=1", o.authority());
                let post = sec.decide(&parts(Method::POST, hv(GATEWAY), true, &[(header::REFERER, hv(&referer))]));
                if strict {
                    prop_assert!(is_allow(&post), "{env}: Referer {referer:?} from {entry}: {post:?}");
                }
            }
        }
    }

    /// Development also trusts loopback front-ends: CORS on any port, CSRF on the
    /// dev-server port ranges.
    #[test]
    fn development_loopback_origins(
        host in prop::sample::select(vec!["localhost", "127.0.0.1", "[::1]", "app.localhost"]),
        scheme in prop::sample::select(vec!["http", "https"]),
        port in prop_oneof![3000u16..=5000, 8000u16..=9000, 1u16..=65535],
    ) {
        let sec = security(Environment::Development, &entries(&["example.com"]), DockerMode::Off);
        let origin = format!("{scheme}://{host}:{port}");
        let get = sec.decide(&parts(Method::GET, hv("localhost:8000"), false, &[(header::ORIGIN, hv(&origin))]));
        prop_assert!(matches!(&get, Decision::Pass(a) if a.cors_origin().is_some()), "{origin}: {get:?}");
        // Host differs from the origin, so only the trusted-origin rule can accept.
        let post = sec.decide(&parts(Method::POST, hv("example.com"), false, &[(header::ORIGIN, hv(&origin))]));
        let in_range = (3000..=5000).contains(&port) || (8000..=9000).contains(&port);
        prop_assert_eq!(is_allow(&post), in_range, "{} -> {:?}", origin, post);
    }
}

// ------------------------------------------- 3. no host outside the policy

const POLICY_DOMAINS: [&str; 3] = [
    "example.com",
    ".example.org",
    "https://api.example.net:8443",
];

fn host_in_policy(domain: &str) -> bool {
    domain == "example.com"
        || domain == "api.example.net"
        || domain == "example.org"
        || domain.ends_with(".example.org")
}

/// A Cyrillic or fullwidth look-alike of an ASCII letter.
fn homograph(c: char) -> Option<char> {
    Some(match c {
        'a' => 'а',
        'e' => 'е',
        'o' => 'о',
        'p' => 'р',
        'c' => 'с',
        'x' => 'х',
        'm' => 'ｍ',
        'l' => 'ӏ',
        _ => return None,
    })
}

/// Near misses of the policy's hosts, and legitimate variants (case, one trailing dot,
/// ports) that must stay accepted.
fn near_miss_host() -> impl Strategy<Value = Vec<u8>> {
    let base = prop::sample::select(vec![
        "example.com",
        "api.example.net",
        "example.org",
        "www.example.org",
        "a.b.example.org",
    ]);
    let mutation = 0u8..22;
    (
        base,
        mutation,
        any::<prop::sample::Index>(),
        "[a-z0-9]{1,6}",
        0u16..=65535,
    )
        .prop_map(|(base, m, idx, junk, port)| {
            let b = base.to_owned();
            let s: String = match m {
                0 => b,
                1 => format!("{b}.evil.com"),
                2 => format!("evil{b}"),
                3 => format!("{junk}{b}"),
                4 => format!("{b}{junk}"),
                5 => {
                    // One homograph substitution.
                    let chars: Vec<char> = b.chars().collect();
                    let positions: Vec<usize> = (0..chars.len())
                        .filter(|i| homograph(chars[*i]).is_some())
                        .collect();
                    let mut c = chars.clone();
                    if !positions.is_empty() {
                        let i = positions[idx.index(positions.len())];
                        c[i] = homograph(c[i]).unwrap();
                    }
                    c.into_iter().collect()
                }
                6 => b.to_ascii_uppercase(),
                7 => {
                    let i = idx.index(b.len());
                    let mut c: Vec<char> = b.chars().collect();
                    c[i] = c[i].to_ascii_uppercase();
                    c.into_iter().collect()
                }
                8 => format!("{b}."),
                9 => format!("{b}.."),
                10 => format!("{b}:{port}"),
                11 => format!("{b}.:{port}"),
                12 => format!("user@{b}"),
                13 => format!("{b}@evil.com"),
                14 => format!("evil.com#{b}"),
                15 => format!("{b} "),
                16 => format!("{b}:"),
                17 => format!("{b}:{port}:{port}"),
                18 => b.replace('.', "%2e"),
                19 => format!("{b}\\evil.com"),
                20 => format!(".{b}"),
                _ => format!("{b}/"),
            };
            s.into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// The host check accepts exactly Django's `validate_host` over the policy's hosts:
    /// never a near miss, always a legitimate variant.
    #[test]
    fn no_host_outside_the_policy(host in prop_oneof![
        8 => near_miss_host(),
        1 => prop::collection::vec(any::<u8>(), 0..24),
        1 => "[a-zA-Z0-9.:\\[\\]@-]{0,20}".prop_map(String::into_bytes),
    ]) {
        static SEC: std::sync::OnceLock<Security> = std::sync::OnceLock::new();
        let sec = SEC.get_or_init(|| security(Environment::Production, &entries(&POLICY_DOMAINS), DockerMode::Off));
        let Ok(value) = HeaderValue::from_bytes(&host) else {
            return Ok(());
        };
        let d = sec.decide(&parts(Method::GET, value, false, &[]));
        let expected = django_domain(&host).is_some_and(|d| host_in_policy(&d));
        prop_assert_eq!(is_allow(&d), expected, "Host {:?}: {:?}", String::from_utf8_lossy(&host), d);
    }
}

// ------------------------------------------- 4. internal networks = ipnet containment

/// The container policy: production, Docker forced on, `100.64.0.0/10` added.
fn container_security() -> &'static (Security, Vec<IpNet>) {
    static SEC: std::sync::OnceLock<(Security, Vec<IpNet>)> = std::sync::OnceLock::new();
    SEC.get_or_init(|| {
        let mut cfg = Config::production(["example.com"]).unwrap();
        cfg.docker = DockerMode::On;
        let extra: IpNet = "100.64.0.0/10".parse().unwrap();
        cfg.internal_networks = vec![extra];
        let sec = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
        // The oracle's networks are written here, not read from the policy.
        let mut nets = default_internal_networks();
        nets.push(extra);
        assert_eq!(sec.policy().internal_networks, nets);
        let want: Vec<IpNet> = [
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
        assert_eq!(nets, want);
        (sec, want)
    })
}

fn ip_host_allowed(ip: IpAddr, host: String) -> (bool, bool) {
    let (sec, nets) = container_security();
    let d = sec.decide(&parts(Method::GET, hv(&host), false, &[]));
    (is_allow(&d), nets.iter().any(|n| n.contains(&ip)))
}

/// IPv4 sample: all 2^32 addresses are too many, so addresses are drawn mostly within
/// ±1024 of the first and last address of each internal network and of its neighbours
/// (where an off-by-one in a prefix length shows), and otherwise uniformly at random.
fn ipv4_sample() -> impl Strategy<Value = Ipv4Addr> {
    let edges: Vec<u32> = [
        ([10, 0, 0, 0], [10, 255, 255, 255]),
        ([172, 16, 0, 0], [172, 31, 255, 255]),
        ([192, 168, 0, 0], [192, 168, 255, 255]),
        ([127, 0, 0, 0], [127, 255, 255, 255]),
        ([100, 64, 0, 0], [100, 127, 255, 255]),
        ([169, 254, 0, 0], [172, 15, 255, 255]),
        ([192, 167, 255, 255], [192, 169, 0, 0]),
    ]
    .iter()
    .flat_map(|(a, b)| [u32::from(Ipv4Addr::from(*a)), u32::from(Ipv4Addr::from(*b))])
    .collect();
    prop_oneof![
        3 => (prop::sample::select(edges), -1024i64..=1024)
            .prop_map(|(e, d)| Ipv4Addr::from((i64::from(e) + d).clamp(0, i64::from(u32::MAX)) as u32)),
        2 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

/// IPv6 sample: around the edges of fc00::/7 and ::1, IPv4-mapped internal addresses
/// (not contained: `ipnet` does not map them, and neither does the host check), and
/// uniformly random addresses.
fn ipv6_sample() -> impl Strategy<Value = Ipv6Addr> {
    let edges: Vec<u128> = vec![
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        0xfdff_ffff_ffff_ffff_ffff_ffff_ffff_ffff,
        0xfbff_ffff_ffff_ffff_ffff_ffff_ffff_ffff,
        0xfe00_0000_0000_0000_0000_0000_0000_0000,
        1,
        0xffff_0a00_0001,
        0xffff_ac10_0001,
        0xffff_7f00_0001,
    ];
    prop_oneof![
        2 => (prop::sample::select(edges), -4096i128..=4096)
            .prop_map(|(e, d)| Ipv6Addr::from((e as i128 + d).max(0) as u128)),
        1 => (0xfc00u16..=0xfdff, any::<u128>()).prop_map(|(h, r)| Ipv6Addr::from((u128::from(h) << 112) | (r >> 16))),
        2 => any::<u128>().prop_map(Ipv6Addr::from),
    ]
}

/// An IPv6 literal as a Host header: canonical, fully expanded, or uppercase; with or
/// without a port.
fn v6_host(ip: Ipv6Addr, form: u8, port: Option<u16>) -> String {
    let text = match form % 3 {
        0 => ip.to_string(),
        1 => ip
            .segments()
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect::<Vec<_>>()
            .join(":"),
        _ => ip.to_string().to_ascii_uppercase(),
    };
    match port {
        Some(p) => format!("[{text}]:{p}"),
        None => format!("[{text}]"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// In a container, an IPv4-literal Host is allowed iff an internal network contains it.
    #[test]
    fn internal_ipv4_equals_ipnet_containment(ip in ipv4_sample(), port in prop::option::of(1u16..)) {
        let host = match port {
            Some(p) => format!("{ip}:{p}"),
            None => ip.to_string(),
        };
        let (got, want) = ip_host_allowed(IpAddr::V4(ip), host.clone());
        prop_assert_eq!(got, want, "Host {}", host);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// The same for IPv6 literals, in the textual forms a client may send.
    #[test]
    fn internal_ipv6_equals_ipnet_containment(ip in ipv6_sample(), form in any::<u8>(), port in prop::option::of(1u16..)) {
        let host = v6_host(ip, form, port);
        let (got, want) = ip_host_allowed(IpAddr::V6(ip), host.clone());
        prop_assert_eq!(got, want, "Host {}", host);
    }

    /// Outside a container no IP literal is allowed unless listed (here: none is).
    #[test]
    fn no_internal_network_outside_a_container(ip in ipv4_sample()) {
        static SEC: std::sync::OnceLock<Security> = std::sync::OnceLock::new();
        let sec = SEC.get_or_init(|| security(Environment::Production, &entries(&["example.com"]), DockerMode::Off));
        let d = sec.decide(&parts(Method::GET, hv(&ip.to_string()), false, &[]));
        prop_assert!(!is_allow(&d), "{ip}: {d:?}");
    }
}

// ------------------------------------------- 5. decide never panics

const HEADER_NAMES: [&str; 12] = [
    "host",
    "origin",
    "referer",
    "x-forwarded-proto",
    "x-forwarded-host",
    "access-control-request-method",
    "sec-fetch-site",
    "cookie",
    "forwarded",
    "content-length",
    "transfer-encoding",
    "vary",
];

fn header_pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let name = prop_oneof![
        4 => prop::sample::select(HEADER_NAMES.to_vec()).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..12),
    ];
    let value = prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..48),
        2 => "[ -~]{0,40}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec!["example.com", "https://example.com", "null", "https", "[::1]:80", "10.0.0.1"])
            .prop_map(|s| s.as_bytes().to_vec()),
    ];
    (name, value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Arbitrary header bytes (whatever `http` lets through) never make `decide` or the
    /// layer panic, in any mode; the layer reaches the service exactly on `Allow`.
    #[test]
    fn decide_never_panics(
        headers in prop::collection::vec(header_pair(), 0..8),
        method in prop::sample::select(vec!["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "BREW"]),
        target in prop::sample::select(vec!["/", "/healthz", "http://example.com/x", "https://EXAMPLE.com:443/", "*", "/a/../b?x=%00"]),
        peer in prop::option::of(any::<[u8; 4]>()),
        mode in 0u8..4,
    ) {
        static SECS: std::sync::OnceLock<[Security; 4]> = std::sync::OnceLock::new();
        let secs = SECS.get_or_init(|| {
            let d = entries(&POLICY_DOMAINS);
            // Production with every new feature on: report-only checks, a nonce CSP,
            // exposed headers.
            let mut cfg = Config::development();
            cfg.environment = Environment::Production;
            cfg.debug = false;
            cfg.security_domains = d.clone();
            cfg.ssl_redirect = Some(true);
            cfg.report_only = hardened::config::ReportOnly::ALL;
            cfg.headers.content_security_policy = hardened::config::HeaderOverride::Set(
                "default-src 'none'; script-src 'nonce-{nonce}'".into(),
            );
            cfg.cors_expose_headers = vec!["x-request-id".into()];
            [
                security(Environment::Production, &d, DockerMode::Off),
                security(Environment::Production, &d, DockerMode::On),
                security(Environment::Development, &d, DockerMode::Off),
                Security::from_config(&cfg, &RuntimeProbe::none()).unwrap(),
            ]
        });
        let sec = &secs[usize::from(mode)];
        let build = || {
            let mut b = Request::builder().method(method).uri(target);
            for (n, v) in &headers {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
                    b = b.header(n, v);
                }
            }
            let mut req = b.body(Full::new(Bytes::new())).unwrap();
            if let Some(p) = peer {
                req.extensions_mut().insert(PeerAddr(SocketAddr::from((p, 1234))));
            }
            req
        };
        let (parts, _) = build().into_parts();
        let decision = sec.decide(&parts);
        if mode == 3 {
            // Report-only: every request the checks would stop goes through, but for
            // one without exactly one well-formed Host (its syntax is always enforced).
            let passes = match decision.answer() {
                Some(hardened::enforce::Answer::Redirect(_)) => false,
                Some(hardened::enforce::Answer::Reject(r)) => {
                    r.check() == hardened::Check::Host
                        && r.kind() != hardened::enforce::RejectionKind::HostNotAllowed
                }
                _ => true,
            };
            prop_assert!(passes, "{:?}", decision.answer());
        }
        let reached = std::cell::Cell::new(false);
        let inner = service_fn(|_r: Request<Full<Bytes>>| {
            reached.set(true);
            std::future::ready(Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new()))))
        });
        let resp = ready(sec.layer().layer(inner).call(build())).unwrap();
        prop_assert_eq!(reached.get(), is_allow(&decision));
        prop_assert!([200u16, 301, 400, 403].contains(&resp.status().as_u16()), "{:?}", resp.status());
        prop_assert_eq!(resp.headers().get(header::X_CONTENT_TYPE_OPTIONS), Some(&hv("nosniff")));
    }
}

/// A fixed check that the scheme helper round-trips (keeps `Scheme` in use for readers
/// of the generators above).
#[test]
fn scheme_parse_round_trip() {
    for s in [Scheme::Http, Scheme::Https] {
        assert_eq!(Scheme::parse(&s.as_str().to_ascii_uppercase()), Some(s));
    }
}

/// Regression: an `Origin` canonical but for an uppercase scheme was once checked by
/// the allocation-free fast path against the subdomain and loopback rules only, never
/// against the exact origins, and refused.
#[test]
fn uppercase_scheme_origins_are_accepted() {
    let sec = security(
        Environment::Production,
        &entries(&["example.com", "app.example.com", "http://10.0.0.1"]),
        DockerMode::Off,
    );
    for origin in [
        "HTTPS://app.example.com",
        "Https://app.example.com",
        "HTTP://10.0.0.1",
    ] {
        // Host example.com: the origin is a trusted one, not the request's own.
        let post = sec.decide(&parts(
            Method::POST,
            hv("example.com"),
            true,
            &[(header::ORIGIN, hv(origin))],
        ));
        let get = sec.decide(&parts(
            Method::GET,
            hv("example.com"),
            false,
            &[(header::ORIGIN, hv(origin))],
        ));
        assert!(is_allow(&post), "CSRF refused {origin}: {post:?}");
        assert!(
            matches!(&get, Decision::Pass(a) if a.cors_origin().is_some()),
            "CORS refused {origin}: {get:?}"
        );
    }
}
