//! Enforcement: the compiled policy ([`Security`]) and its per-request decision.
//!
//! A request's head is parsed once into a [`RequestHead`]; each check is a function
//! over it, in its own module (`host`, `tls`, `cors`, `websocket`, `csrf`), and
//! [`Security::decide`] is the pipeline host → TLS redirect → CORS preflight →
//! Fetch Metadata (`fetch_metadata`) → WebSocket handshake Origin → CSRF.
//! The [`Decision`] is pure data: pass (with the [`Facts`] the response needs) or an
//! [`Answer`] (rejection, redirect, preflight). The response work (`headers`,
//! `cookies`, `grpc`) follows the facts. The tower layer lives in
//! [`service`](crate::service).
//!
//! Why not tower-http's `CorsLayer`, `SetResponseHeaderLayer` and friends: the checks
//! share one parse of the request head (the host decides the CSRF "same origin", the
//! Origin feeds both CORS and CSRF), origins are compared after normalization (case,
//! default port, trailing dot) against hash sets instead of `AllowOrigin::list`'s linear
//! scan, bad configuration must be a `Result` at build time (tower-http's CORS layer
//! `assert!`s in `layer()`), and the semantics must be Django's and django-cors-headers'
//! (preflight only with `Access-Control-Request-Method`, `Vary: origin` appended to every
//! response, the CSRF Referer rules). So the decision is one synchronous function and the
//! response work one pass; headers the handler set are never overwritten.

mod cookies;
mod cors;
mod csrf;
mod decision;
mod fetch_metadata;
mod grpc;
mod headers;
mod host;
mod matcher;
mod nonce;
mod rejection;
mod request;
mod routes;
mod security;
#[cfg(test)]
mod testing;
mod tls;
mod websocket;

pub use decision::{
    Answer, Check, Checks, Client, Decision, Facts, Rejection, RejectionKind, Reported, Verdict,
};
pub use headers::{CspNonce, NONCE_PLACEHOLDER};
pub use matcher::PathSet;
#[cfg(feature = "axum")]
pub use nonce::MissingCspNonce;
pub use request::{
    CsrfExempt, MethodClass, PeerAddr, RequestHead, RequestHost, TlsConnection, Upgrade, peer_ip,
};
pub(crate) use routes::RouteRules;
pub use routes::{RouteMark, RoutePattern};
pub use security::Security;

/// Compile-time proof that the enforcement types can be shared across threads.
const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Security>();
    assert_send_sync_clone::<Decision>();
    assert_send_sync_clone::<Rejection>();
    assert_send_sync_clone::<Facts>();
    assert_send_sync_clone::<Checks>();
};
