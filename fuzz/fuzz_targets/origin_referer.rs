//! Origin and Referer parsing: arbitrary `Origin` / `Referer` values on a POST (the CSRF
//! check) and on a GET (CORS), secure or not. Accepted values must name a trusted origin;
//! in production every value the library's own normalizer maps to a trusted origin must
//! be accepted too (the allocation-free fast path and the normalizer agree).
#![no_main]

use arbitrary::Arbitrary;
use hardened::domain::Scheme;
use hardened::{Decision, PeerAddr};
use hardened_fuzz::{Fixture, loose_origin, normalized, origin_trusted};
use http::{HeaderValue, Method, Request, header};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    fixture: u8,
    secure: bool,
    post: bool,
    sec_fetch_cross_site: bool,
    origin: Option<Vec<u8>>,
    referer: Option<Vec<u8>>,
}

/// Django's `urlsplit` netloc of a Referer, lowercased, when the scheme is https.
fn https_netloc(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = rest.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_lowercase())
}

fn referer_trusted(netloc: &str) -> bool {
    [
        "example.com",
        "app.example.com",
        "staging.example.com:8080",
        "192.168.1.10",
        "[2001:db8::1]",
        "example.org",
    ]
    .contains(&netloc)
        || netloc.ends_with(".example.org")
}

fuzz_target!(|input: Input| {
    let fixture = Fixture::from_byte(input.fixture);
    let security = fixture.security();
    let origin = match &input.origin {
        Some(b) => match HeaderValue::from_bytes(b) {
            Ok(v) => Some(v),
            Err(_) => return,
        },
        None => None,
    };
    let referer = match &input.referer {
        Some(b) => match HeaderValue::from_bytes(b) {
            Ok(v) => Some(v),
            Err(_) => return,
        },
        None => None,
    };
    let method = if input.post {
        Method::POST
    } else {
        Method::GET
    };
    let mut req = Request::builder()
        .method(method)
        .uri("/transfer")
        .header(header::HOST, "example.com");
    if let Some(o) = &origin {
        req = req.header(header::ORIGIN, o.clone());
    }
    if let Some(r) = &referer {
        req = req.header(header::REFERER, r.clone());
    }
    if input.secure {
        req = req.header("x-forwarded-proto", "https");
    }
    if input.sec_fetch_cross_site {
        req = req.header("sec-fetch-site", "cross-site");
    }
    let (mut parts, ()) = req.body(()).unwrap().into_parts();
    parts
        .extensions
        .insert(PeerAddr("127.0.0.1:50000".parse().unwrap()));
    let decision = security.decide(&parts);
    let strict = fixture != Fixture::Development;
    // Secure only in production (development has no proxy header).
    let secure = input.secure && strict;

    let lossy = origin
        .as_ref()
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    let trusted = |v: &str| {
        let own = |(s, h, p): &(Scheme, String, u16)| {
            let scheme = if secure { Scheme::Https } else { Scheme::Http };
            *s == scheme && h == "example.com" && *p == scheme.default_port()
        };
        let ok = |t: &(Scheme, String, u16)| origin_trusted(fixture, t.0, &t.1, t.2) || own(t);
        loose_origin(v).is_some_and(|t| ok(&t)) || normalized(v).is_some_and(|t| ok(&t))
    };

    if !input.post {
        // GET: never rejected here (the Host is allowed); CORS echoes allowed origins only.
        let Decision::Pass(a) = &decision else {
            panic!("GET rejected: {decision:?}");
        };
        if let Some(echo) = a.cors_origin() {
            assert_eq!(Some(echo), origin.as_ref());
            let v = echo.to_str().unwrap();
            assert!(
                normalized(v).is_some_and(|t| origin_trusted(fixture, t.0, &t.1, t.2))
                    || loose_origin(v).is_some_and(|t| origin_trusted(fixture, t.0, &t.1, t.2)),
                "{fixture:?}: CORS allowed Origin {v:?}"
            );
        } else if strict && let Some(v) = origin.as_ref().and_then(|o| o.to_str().ok()) {
            assert!(
                !normalized(v).is_some_and(|t| origin_trusted(fixture, t.0, &t.1, t.2)),
                "{fixture:?}: CORS refused trusted Origin {v:?}"
            );
        }
        return;
    }

    let allowed = decision.is_pass();
    if let Some(r) = decision.rejection() {
        assert_eq!(r.status(), 403, "{r}");
    }
    match &lossy {
        Some(v) => {
            if allowed {
                assert!(
                    trusted(v),
                    "{fixture:?}: CSRF accepted Origin {v:?} (secure={secure})"
                );
            } else if strict {
                assert!(
                    !normalized(v).is_some_and(|t| origin_trusted(fixture, t.0, &t.1, t.2)),
                    "{fixture:?}: CSRF rejected trusted Origin {v:?}"
                );
            }
        }
        None if input.sec_fetch_cross_site => {
            assert!(!allowed, "cross-site request without Origin accepted");
        }
        None if !secure => assert!(
            allowed,
            "plain-http POST without Origin rejected: {decision:?}"
        ),
        None => {
            let netloc = referer
                .as_ref()
                .and_then(|r| https_netloc(&String::from_utf8_lossy(r.as_bytes())))
                .filter(|n| !n.is_empty());
            // No Origin, no Referer, no Sec-Fetch-Site and (here, never) a Cookie: a
            // non-browser client with no ambient credential passes on https too.
            let expected = referer.is_none() || netloc.as_deref().is_some_and(referer_trusted);
            assert_eq!(
                allowed, expected,
                "{fixture:?}: Referer {referer:?} (netloc {netloc:?}) gave {decision:?}"
            );
        }
    }
});
