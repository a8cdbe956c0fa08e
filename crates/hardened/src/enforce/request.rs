//! The request head, parsed once per request: every check reads this instead of the
//! raw headers. Parsing borrows from the request and allocates only for a mixed-case
//! Host (Django lowercases before validating). What every request needs (host, origin,
//! secure, gRPC, method class) is parsed up front; what one check needs on some
//! requests (`Referer`, `Upgrade`) is read when asked.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderValue};
use http::{Method, request};

use super::matcher::split_domain_port;

/// The peer's socket address, for deciding whether to believe `X-Forwarded-Proto`.
///
/// Insert it into request extensions (hyper servers), or enable the `axum` feature to
/// have axum's `ConnectInfo<SocketAddr>` read directly. Without a peer address,
/// forwarded headers are believed only when `trusted_proxies` is `"*"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Marks a request that arrived over TLS terminated in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsConnection;

/// Exempts one request from the CSRF check. Insert it into request extensions before
/// the security layer sees the request (for exemption by route pattern, use
/// `csrf_exempt_paths`, which accepts axum route syntax such as `/hooks/{id}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsrfExempt;

/// The peer IP from request extensions ([`PeerAddr`], or axum's `ConnectInfo`).
pub fn peer_ip(parts: &request::Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(a)) = parts.extensions.get::<PeerAddr>() {
        return Some(a.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(a)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(a.ip());
    }
    None
}

/// What the method means to the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodClass {
    /// `GET`, `HEAD` or `TRACE`: no CSRF check.
    Safe,
    /// `OPTIONS` without `Access-Control-Request-Method`: safe, gets the CORS
    /// allow-headers/methods.
    Options,
    /// `OPTIONS` with `Access-Control-Request-Method`: a CORS preflight.
    Preflight,
    /// Any other method (`POST`, `PUT`, `DELETE`, ...): subject to the CSRF check.
    Unsafe,
}

impl MethodClass {
    fn of(parts: &request::Parts) -> MethodClass {
        match parts.method {
            Method::GET | Method::HEAD | Method::TRACE => MethodClass::Safe,
            Method::OPTIONS
                if parts
                    .headers
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) =>
            {
                MethodClass::Preflight
            }
            Method::OPTIONS => MethodClass::Options,
            _ => MethodClass::Unsafe,
        }
    }

    /// Whether the method is safe (Django's `GET`, `HEAD`, `OPTIONS`, `TRACE`).
    pub fn is_safe(self) -> bool {
        !matches!(self, MethodClass::Unsafe)
    }

    /// Whether the method is `OPTIONS` (a preflight or not).
    pub fn is_options(self) -> bool {
        matches!(self, MethodClass::Options | MethodClass::Preflight)
    }
}

/// The request's host, split as Django's `split_domain_port` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHost<'a> {
    raw: &'a str,
    domain: Cow<'a, str>,
    port: &'a str,
}

impl<'a> RequestHost<'a> {
    /// The Host header (or authority) as sent, e.g. `Example.com:8443`.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The domain: lowercased, without port and one trailing dot, e.g. `example.com`;
    /// IPv6 addresses keep their brackets.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The port digits, when the host has a port.
    pub fn port(&self) -> Option<&'a str> {
        (!self.port.is_empty()).then_some(self.port)
    }
}

/// Why the request has no usable host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostError<'a> {
    /// More than one Host header.
    Duplicate,
    /// A Host header that is not visible ASCII.
    NotAscii,
    /// The Host header and the request target's authority disagree.
    Conflict { host: &'a str, authority: &'a str },
    /// Neither a Host header nor an authority.
    Missing,
    /// Not a host Django accepts.
    Malformed(&'a str),
}

/// How a request asks to switch protocols (an HTTP/1.1 `Upgrade`, e.g. a WebSocket
/// handshake), parsed but not checked: the one reading of `Connection` and `Upgrade`
/// that both the WebSocket Origin check and a proxy's tunnel use, so that nothing is
/// tunnelled that the check did not judge.
///
/// Any request with an `Upgrade` header is an upgrade request to the checks, however
/// its value is spelled; only a [well-formed](Upgrade::tunnel) one may be tunnelled.
///
/// ```
/// let req = http::Request::get("/ws")
///     .header("host", "example.com")
///     .header("connection", "keep-alive, Upgrade")
///     .header("upgrade", "websocket")
///     .body(())?;
/// let (parts, ()) = req.into_parts();
/// let up = hardened::Upgrade::parse(&parts).expect("an upgrade request");
/// assert!(up.is_websocket() && up.tunnel());
/// // An empty list element, a second line or non-ASCII: judged, never tunnelled.
/// let req = http::Request::get("/ws")
///     .header("connection", "upgrade")
///     .header("upgrade", ",websocket")
///     .body(())?;
/// let (parts, ()) = req.into_parts();
/// assert!(!hardened::Upgrade::parse(&parts).expect("still an upgrade request").tunnel());
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upgrade<'a> {
    protocol: &'a str,
    connection_upgrade: bool,
    well_formed: bool,
    h2c: bool,
    get_http11: bool,
}

impl<'a> Upgrade<'a> {
    /// The upgrade `parts` asks for: `Some` whenever it has an `Upgrade` header.
    pub fn parse(parts: &'a request::Parts) -> Option<Upgrade<'a>> {
        parse_upgrade(parts)
    }

    /// The first protocol of the `Upgrade` header, e.g. `websocket`, as sent (empty
    /// when the header is not a well-formed protocol list).
    pub fn protocol(&self) -> &'a str {
        self.protocol
    }

    /// Whether the protocol is `websocket` (any case).
    pub fn is_websocket(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("websocket")
    }

    /// Whether a `Connection` header lists `upgrade`, as the handshake requires.
    pub fn connection_upgrade(&self) -> bool {
        self.connection_upgrade
    }

    /// Whether a proxy may tunnel this request once the upstream switches protocols:
    /// a `GET` over HTTP/1.1 with `Connection: upgrade` and exactly one `Upgrade` line
    /// that is a list of protocol tokens (`name` or `name/version`, no empty
    /// elements), none of them `h2c` (a cleartext HTTP/2 connection opened past the
    /// policy would carry every later request unchecked). Anything else is forwarded,
    /// if at all, as a plain request without its `Upgrade`.
    pub fn tunnel(&self) -> bool {
        self.get_http11 && self.connection_upgrade && self.well_formed && !self.h2c
    }
}

/// Whether `s` is an RFC 9110 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` is an upgrade protocol: `name` or `name/version` (RFC 9110 §7.8).
fn is_protocol(s: &str) -> bool {
    match s.split_once('/') {
        Some((name, version)) => is_token(name) && is_token(version),
        None => is_token(s),
    }
}

/// The request head as the checks see it, parsed once per request by
/// the security layer (see [`Security::client`](crate::Security::client)).
#[derive(Clone, Debug)]
pub struct RequestHead<'a> {
    parts: &'a request::Parts,
    host: Result<RequestHost<'a>, HostError<'a>>,
    origin: Option<&'a HeaderValue>,
    duplicate_origin: bool,
    secure: bool,
    grpc: bool,
    method: MethodClass,
}

impl<'a> RequestHead<'a> {
    /// Parses `parts`; `secure` is the TLS check's verdict on the connection.
    pub(crate) fn new(parts: &'a request::Parts, secure: bool) -> RequestHead<'a> {
        let mut origins = parts.headers.get_all(header::ORIGIN).iter();
        let origin = origins.next();
        let duplicate_origin = origins.next().is_some();
        RequestHead {
            parts,
            host: parse_host(parts),
            origin,
            duplicate_origin,
            secure,
            grpc: is_grpc(parts),
            method: MethodClass::of(parts),
        }
    }

    /// The request head this was parsed from.
    pub fn parts(&self) -> &'a request::Parts {
        self.parts
    }

    /// The host, when the request has exactly one well-formed host.
    pub fn host(&self) -> Option<&RequestHost<'a>> {
        self.host.as_ref().ok()
    }

    /// The host, or why there is none.
    pub(crate) fn host_result(&self) -> Result<&RequestHost<'a>, HostError<'a>> {
        self.host.as_ref().map_err(|e| *e)
    }

    /// The `Origin` header, when there is exactly one.
    pub fn origin(&self) -> Option<&'a HeaderValue> {
        self.origin.filter(|_| !self.duplicate_origin)
    }

    /// The first `Origin` header, even when there are several.
    pub(crate) fn first_origin(&self) -> Option<&'a HeaderValue> {
        self.origin
    }

    /// Whether the request carries more than one `Origin` header.
    pub fn duplicate_origin(&self) -> bool {
        self.duplicate_origin
    }

    /// The `Referer` header (read when asked: only the CSRF check of secure unsafe
    /// requests without Origin needs it).
    pub fn referer(&self) -> Option<&'a HeaderValue> {
        self.parts.headers.get(header::REFERER)
    }

    /// Whether the request is secure (TLS here, or https from a trusted proxy).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether the request is gRPC (`application/grpc`, `application/grpc+proto`, ...;
    /// not gRPC-Web, which browsers send).
    pub fn grpc(&self) -> bool {
        self.grpc
    }

    /// What the method means to the checks.
    pub fn method(&self) -> MethodClass {
        self.method
    }

    /// The request path.
    pub fn path(&self) -> &'a str {
        self.parts.uri.path()
    }

    /// The path and query, `/` when the target has none.
    pub fn path_and_query(&self) -> &'a str {
        self.parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
    }

    /// The `Upgrade` request, when the request asks for one (parsed when asked, so
    /// requests pay nothing for it until a check reads it).
    pub fn upgrade(&self) -> Option<Upgrade<'a>> {
        parse_upgrade(self.parts)
    }
}

/// Whether the request is gRPC (`application/grpc`, `application/grpc+proto`, ...;
/// not gRPC-Web, which browsers send).
fn is_grpc(parts: &request::Parts) -> bool {
    parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
            && !v.get(16..).is_some_and(|rest| rest.starts_with(b"-web"))
    })
}

/// The `Upgrade` request of `parts`, when it has an `Upgrade` header at all (see
/// [`Upgrade`]).
fn parse_upgrade(parts: &request::Parts) -> Option<Upgrade<'_>> {
    let mut lines = parts.headers.get_all(header::UPGRADE).iter();
    let first = lines.next()?;
    let single = lines.next().is_none();
    let value = first.to_str().ok();
    let mut well_formed = single && value.is_some();
    let mut h2c = false;
    let mut protocol = "";
    for element in value.unwrap_or("").split(',') {
        let element = element.trim_matches([' ', '\t']);
        if !is_protocol(element) {
            well_formed = false;
            continue;
        }
        if protocol.is_empty() {
            protocol = element;
        }
        let name = element.split_once('/').map_or(element, |(n, _)| n);
        h2c |= name.eq_ignore_ascii_case("h2c");
    }
    // Every line is looked at for `h2c`, whatever the first one says.
    for other in parts.headers.get_all(header::UPGRADE).iter().skip(1) {
        h2c |= other
            .as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
    }
    if !well_formed {
        protocol = "";
    }
    let connection_upgrade = parts.headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    Some(Upgrade {
        protocol,
        connection_upgrade,
        well_formed,
        h2c,
        get_http11: parts.method == Method::GET && parts.version == http::Version::HTTP_11,
    })
}

/// The request's host: lowercased and port-stripped as Django's `split_domain_port`
/// does. Fails on a missing Host, duplicate Host headers, an authority (HTTP/2
/// `:authority` or absolute-form target) that disagrees with Host, and malformed values.
fn parse_host(parts: &request::Parts) -> Result<RequestHost<'_>, HostError<'_>> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let header_host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let authority = parts.uri.authority().map(|a| a.as_str());
    let raw = match (header_host, authority) {
        (Some(h), auth) => {
            let Ok(h) = h.to_str() else {
                return Err(HostError::NotAscii);
            };
            if let Some(a) = auth
                && !a.eq_ignore_ascii_case(h)
            {
                return Err(HostError::Conflict {
                    host: h,
                    authority: a,
                });
            }
            h
        }
        (None, Some(a)) => a,
        (None, None) => return Err(HostError::Missing),
    };
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        // Django lowercases before validating; mixed-case hosts take this (rare)
        // allocating path.
        let lower = raw.to_ascii_lowercase();
        return match split_domain_port(&lower) {
            Some((domain, port)) if !domain.is_empty() => Ok(RequestHost {
                raw,
                domain: Cow::Owned(domain.to_owned()),
                // Lowercasing keeps lengths, and the port is digits: the same suffix.
                port: raw
                    .get(raw.len().saturating_sub(port.len())..)
                    .unwrap_or(""),
            }),
            _ => Err(HostError::Malformed(raw)),
        };
    }
    match split_domain_port(raw) {
        Some((domain, port)) if !domain.is_empty() => Ok(RequestHost {
            raw,
            domain: Cow::Borrowed(domain),
            port,
        }),
        _ => Err(HostError::Malformed(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Headers;
    use super::*;

    fn parts(method: &str, uri: &str, headers: Headers<'_>) -> request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn host_split_from_port() {
        type Split<'a> = Option<(&'a str, Option<&'a str>)>;
        let cases: &[(Headers<'_>, Split<'_>)] = &[
            (&[("host", "example.com")], Some(("example.com", None))),
            (
                &[("host", "Example.COM:8443")],
                Some(("example.com", Some("8443"))),
            ),
            (&[("host", "example.com.")], Some(("example.com", None))),
            (&[("host", "[::1]:80")], Some(("[::1]", Some("80")))),
            (&[("host", "exa mple.com")], None),
            (&[("host", "a.com"), ("host", "b.com")], None),
            (&[], None),
        ];
        for (headers, expected) in cases {
            let p = parts("GET", "/", headers);
            let head = RequestHead::new(&p, false);
            let got = head.host().map(|h| (h.domain(), h.port()));
            assert_eq!(got, *expected, "{headers:?}");
        }
    }

    #[test]
    fn method_classes() {
        let cases: &[(&str, Headers<'_>, MethodClass)] = &[
            ("GET", &[], MethodClass::Safe),
            ("HEAD", &[], MethodClass::Safe),
            ("TRACE", &[], MethodClass::Safe),
            ("OPTIONS", &[], MethodClass::Options),
            (
                "OPTIONS",
                &[("access-control-request-method", "PUT")],
                MethodClass::Preflight,
            ),
            ("POST", &[], MethodClass::Unsafe),
            ("PATCH", &[], MethodClass::Unsafe),
        ];
        for (method, headers, expected) in cases {
            let p = parts(method, "/", headers);
            assert_eq!(RequestHead::new(&p, false).method(), *expected, "{method}");
        }
    }

    #[test]
    fn upgrade_and_grpc() {
        let p = parts(
            "GET",
            "/ws",
            &[
                ("host", "a.com"),
                ("upgrade", "WebSocket"),
                ("connection", "keep-alive, Upgrade"),
            ],
        );
        let head = RequestHead::new(&p, false);
        let up = head.upgrade();
        assert!(up.is_some_and(|u| u.is_websocket() && u.connection_upgrade()));
        let p = parts("GET", "/", &[("upgrade", "h2c")]);
        let up = RequestHead::new(&p, false).upgrade();
        assert!(up.is_some_and(|u| u.protocol() == "h2c" && !u.connection_upgrade()));
        // (Upgrade lines, protocol, tunnel): one reading for the check and the tunnel.
        let upgrades: &[(&[&[u8]], &str, bool)] = &[
            (&[b"websocket"], "websocket", true),
            (&[b"WebSocket, foo/1.0"], "WebSocket", true),
            (&[b"websocket "], "websocket", true),
            (&[b",websocket"], "", false),
            (&[b"websocket,"], "", false),
            (&[b"web socket"], "", false),
            (&[b"websocket", b"websocket"], "", false),
            (&[b"h2c"], "h2c", false),
            (&[b"websocket, h2c"], "websocket", false),
            (&[b"websocket", b"h2c"], "", false),
            (&[b"/1"], "", false),
            (&[b"websocket\xff"], "", false),
            (&[b"\xe2\x80\x8bwebsocket"], "", false),
            (&[b""], "", false),
        ];
        for (lines, protocol, tunnel) in upgrades {
            let mut p = parts("GET", "/", &[("connection", "upgrade")]);
            for line in *lines {
                let v = HeaderValue::from_bytes(line).unwrap_or_else(|e| panic!("{e}"));
                p.headers.append(header::UPGRADE, v);
            }
            let Some(up) = Upgrade::parse(&p) else {
                panic!("an Upgrade header is an upgrade request: {lines:?}")
            };
            assert_eq!(up.protocol(), *protocol, "{lines:?}");
            assert_eq!(up.tunnel(), *tunnel, "{lines:?}");
        }
        // Not GET, or without `Connection: upgrade`: judged, not tunnelled.
        let p = parts(
            "POST",
            "/",
            &[("connection", "upgrade"), ("upgrade", "websocket")],
        );
        assert!(Upgrade::parse(&p).is_some_and(|u| !u.tunnel()));
        let p = parts("GET", "/", &[("upgrade", "websocket")]);
        assert!(Upgrade::parse(&p).is_some_and(|u| !u.tunnel()));
        assert!(Upgrade::parse(&parts("GET", "/", &[("connection", "upgrade")])).is_none());
        let cases: &[(&str, bool)] = &[
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC", true),
            ("application/grpc-web", false),
            ("application/json", false),
        ];
        for (ct, expected) in cases {
            let p = parts("POST", "/", &[("content-type", ct)]);
            assert_eq!(RequestHead::new(&p, false).grpc(), *expected, "{ct}");
        }
    }
}
