//! Shared fixtures of the per-check decision tables.

use std::net::{IpAddr, SocketAddr};

use http::request;

use super::decision::{Answer, Decision};
use super::request::PeerAddr;
use super::security::Security;
use crate::config::{Config, ConfigErrors};
use crate::probe::RuntimeProbe;

/// A table row's request headers.
pub(crate) type Headers<'a> = &'a [(&'a str, &'a str)];

/// What a table row expects from `decide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Passes to the service.
    Pass,
    /// Passes with this CORS origin echoed.
    PassCors(&'static str),
    /// Rejected with this code.
    Reject(&'static str),
    /// Redirected to this location.
    Redirect(&'static str),
    /// A preflight answer; with the origin echoed or not.
    Preflight(bool),
}

/// Compiles a configuration (or fails the test).
pub(crate) fn security(cfg: Result<Config, ConfigErrors>) -> Security {
    cfg.and_then(|c| Security::from_config(&c, &RuntimeProbe::none()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A request head.
pub(crate) fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(())
        .map(|r| r.into_parts().0)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `parts` from the peer `ip`.
pub(crate) fn from_peer(mut parts: request::Parts, ip: &str) -> request::Parts {
    let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
    parts.extensions.insert(PeerAddr(SocketAddr::new(ip, 4000)));
    parts
}

/// Asserts the decision on `parts`.
pub(crate) fn expect(sec: &Security, parts: &request::Parts, expected: Expect) {
    let d = sec.decide(parts);
    let what = format!("{} {} {:?}", parts.method, parts.uri, parts.headers);
    match (&d, expected) {
        (Decision::Pass(f), Expect::Pass) => {
            assert!(f.cors_origin().is_none(), "{what}: {d:?}");
        }
        (Decision::Pass(f), Expect::PassCors(o)) => {
            assert_eq!(
                f.cors_origin().and_then(|v| v.to_str().ok()),
                Some(o),
                "{what}"
            );
        }
        (Decision::Answer(Answer::Reject(r), _), Expect::Reject(code)) => {
            assert_eq!(r.code(), code, "{what}: {r}");
            assert_eq!(r.kind().code(), code);
            assert!(
                !r.reason().is_empty() && !r.fix().is_empty(),
                "{what}: {r:?}"
            );
        }
        (Decision::Answer(Answer::Redirect(loc), _), Expect::Redirect(to)) => {
            assert_eq!(loc.to_str().ok(), Some(to), "{what}");
        }
        (Decision::Answer(Answer::Preflight, f), Expect::Preflight(echo)) => {
            assert_eq!(f.cors_origin().is_some(), echo, "{what}: {d:?}");
        }
        _ => panic!("{what}: expected {expected:?}, got {d:?}"),
    }
}
