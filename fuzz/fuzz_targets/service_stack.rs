//! The whole tower stack on arbitrary request heads: `Security::layer()` over a trivial
//! service, polled directly (every part is synchronous). Invariants: no panic; the
//! future is ready at once; the service is reached exactly when `decide` allows; only
//! 200/301/400/403 come back; every response carries the security headers; CORS headers
//! only for the echoed allowed origin; in production every cookie is `Secure`; a request
//! that reaches the service outside a health-check path has an allowed host.
#![no_main]

use std::cell::Cell;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use bytes::Bytes;
use hardened::enforce::Answer;
use hardened::{CsrfExempt, Decision, PeerAddr, TlsConnection};
use hardened_fuzz::{Fixture, django_domain, host_allowed, ready};
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, Service, service_fn};

const NAMES: [&str; 14] = [
    "host",
    "origin",
    "referer",
    "x-forwarded-proto",
    "x-forwarded-host",
    "access-control-request-method",
    "access-control-request-headers",
    "sec-fetch-site",
    "cookie",
    "content-type",
    "forwarded",
    "vary",
    "transfer-encoding",
    "content-length",
];

const VALUES: [&str; 16] = [
    "example.com",
    "https://example.com",
    "https://app.example.com",
    "https://evil.com",
    "null",
    "https",
    "http",
    "cross-site",
    "same-origin",
    "POST",
    "x.example.org",
    "10.1.2.3",
    "[::1]:8000",
    "localhost:3000",
    "http://localhost:3000",
    "https://example.com/form",
];

/// Content types worth a special case (gRPC answers rejections differently).
const CONTENT_TYPES: [&str; 4] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc-web",
    "text/plain",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Val {
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Target {
    Path(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Head {
    fixture: u8,
    method: u8,
    raw_method: Option<Vec<u8>>,
    target: Target,
    version: u8,
    headers: Vec<(Name, Val)>,
    peer: Option<(bool, u128, u16)>,
    tls: bool,
    csrf_exempt: bool,
    cookie: bool,
    cookies: Vec<Vec<u8>>,
}

const PATHS: [&str; 6] = [
    "/",
    "/healthz",
    "/hooks/1",
    "/login",
    "/a?b=c",
    "http://example.com/x",
];

fn build(head: &Head) -> Option<Request<Full<Bytes>>> {
    let method = match &head.raw_method {
        Some(m) => Method::from_bytes(m).ok()?,
        None => [
            Method::GET,
            Method::POST,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::HEAD,
        ][usize::from(head.method) % 6]
            .clone(),
    };
    let uri: Uri = match &head.target {
        Target::Path(i) => PATHS[usize::from(*i) % PATHS.len()].parse().ok()?,
        Target::Raw(b) => Uri::try_from(b.as_slice()).ok()?,
    };
    let version =
        [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2][usize::from(head.version) % 3];
    let mut req = Request::builder().method(method).uri(uri).version(version);
    for (n, v) in head.headers.iter().take(16) {
        let name = match n {
            Name::Known(i) => HeaderName::from_static(NAMES[usize::from(*i) % NAMES.len()]),
            Name::Raw(b) => HeaderName::from_bytes(b).ok()?,
        };
        let value = match v {
            Val::Known(i) if name == header::CONTENT_TYPE => {
                HeaderValue::from_static(CONTENT_TYPES[usize::from(*i) % CONTENT_TYPES.len()])
            }
            Val::Known(i) => HeaderValue::from_static(VALUES[usize::from(*i) % VALUES.len()]),
            Val::Raw(b) => HeaderValue::from_bytes(b).ok()?,
        };
        req = req.header(name, value);
    }
    let mut req = req.body(Full::new(Bytes::from_static(b"body"))).ok()?;
    if let Some((v4, addr, port)) = head.peer {
        let ip = if v4 {
            IpAddr::V4(Ipv4Addr::from(addr as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(addr))
        };
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(ip, port)));
    }
    if head.tls {
        req.extensions_mut().insert(TlsConnection);
    }
    if head.csrf_exempt {
        req.extensions_mut().insert(CsrfExempt);
    }
    Some(req)
}

fuzz_target!(|head: Head| {
    let Some(req) = build(&head) else {
        return;
    };
    let fixture = Fixture::from_byte(head.fixture);
    let security = fixture.security();
    let (parts, _) = build(&head).unwrap().into_parts();
    let decision = security.decide(&parts);

    let reached = Cell::new(false);
    let cookie = head.cookie;
    let extra: Vec<HeaderValue> = head
        .cookies
        .iter()
        .take(4)
        .filter_map(|c| HeaderValue::from_bytes(c).ok())
        .collect();
    let inner = service_fn(|_req: Request<Full<Bytes>>| {
        reached.set(true);
        let mut resp = Response::new(Full::new(Bytes::from_static(b"inner")));
        if cookie {
            resp.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static("sessionid=abc; Path=/"),
            );
            resp.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static("other=1; secure=no"),
            );
        }
        for c in &extra {
            resp.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        std::future::ready(Ok::<_, Infallible>(resp))
    });
    let mut svc = security.layer().layer(inner);
    let resp = ready(svc.call(req)).unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = ready(resp.into_body().collect()).unwrap().to_bytes();

    assert_eq!(
        reached.get(),
        decision.is_pass(),
        "{decision:?}"
    );
    match &decision {
        Decision::Pass(a) => {
            assert_eq!(status, 200);
            assert_eq!(&body[..], b"inner");
            assert_eq!(
                headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                a.cors_origin()
            );
            if let Some(o) = a.cors_origin() {
                assert_eq!(
                    parts
                        .headers
                        .get_all(header::ORIGIN)
                        .iter()
                        .collect::<Vec<_>>(),
                    [o]
                );
            }
            if parts.uri.path() != "/healthz" {
                let raw = match parts.headers.get(header::HOST) {
                    Some(h) => h.to_str().unwrap().to_owned(),
                    None => parts.uri.authority().unwrap().as_str().to_owned(),
                };
                let domain =
                    django_domain(&raw).unwrap_or_else(|| panic!("malformed {raw:?} passed"));
                assert!(
                    host_allowed(fixture, &domain),
                    "{fixture:?}: Host {raw:?} reached the app"
                );
            }
        }
        Decision::Answer(Answer::Reject(r), facts) => {
            if facts.is_grpc() {
                // A trailers-only gRPC answer: 200 with grpc-status, empty body.
                assert_eq!(status, 200);
                assert!(headers.contains_key("grpc-status"));
                assert!(body.is_empty());
            } else {
                assert_eq!(status, r.status().as_u16());
                assert!(!body.is_empty());
            }
            assert!(r.status() == 400 || r.status() == 403);
            // Only CSRF rejections carry the CORS headers of an allowed origin.
            assert_eq!(
                headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                facts.cors_origin()
            );
            if r.check() != hardened::Check::Csrf {
                assert!(facts.cors_origin().is_none());
            }
        }
        Decision::Answer(Answer::Redirect(loc), _) => {
            assert_eq!(status, 301);
            assert_eq!(headers.get(header::LOCATION), Some(loc));
            assert!(loc.to_str().unwrap().starts_with("https://"));
        }
        Decision::Answer(Answer::Preflight, a) => {
            assert_eq!(status, 200);
            assert!(body.is_empty());
            assert_eq!(
                headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                a.cors_origin()
            );
        }
        other => panic!("unknown decision {other:?}"),
    }
    assert_eq!(
        headers
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    if fixture != Fixture::Development {
        assert_eq!(
            headers.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        // RFC 6265 5.2.5: an attribute named `Secure` counts whatever its value.
        let attr = |c: &[u8], name: &[u8]| {
            c.split(|b| *b == b';').skip(1).any(|a| {
                a.split(|b| *b == b'=')
                    .next()
                    .unwrap()
                    .trim_ascii()
                    .eq_ignore_ascii_case(name)
            })
        };
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.as_bytes();
            assert!(
                attr(c, b"secure"),
                "cookie without Secure in production: {c:?}"
            );
            let name = c
                .split(|b| *b == b';')
                .next()
                .unwrap()
                .split(|b| *b == b'=')
                .next()
                .unwrap();
            if name.trim_ascii() == b"sessionid" {
                assert!(
                    attr(c, b"httponly") && attr(c, b"samesite"),
                    "session cookie {c:?}"
                );
            }
        }
    }
    if decision.rejection().is_some() {
        assert!(!reached.get());
    }
    assert!(status == 200 || status == 301 || status == 400 || status == 403);
});
