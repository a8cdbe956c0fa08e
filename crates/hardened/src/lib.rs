//! # hardened
//!
//! Environment-aware web security for Rust services. One `security_domains` list and
//! an environment switch derive and enforce allowed hosts, CORS, CSRF, TLS redirect
//! and HSTS behind reverse proxies, secure cookies and security headers: open for
//! localhost in development, strict in production, aware of Docker and Kubernetes.
//!
//! The pieces, in the order data flows:
//!
//! - [`config`]: `config.yaml` + overlay + `.env` + environment → a validated [`config::Config`]
//!   ([`config::load::Loader`] reads files, and takes `hardened serve`'s flags as the top
//!   layer; the `gateway:` settings are one table, [`config::gateway::SETTINGS`];
//!   everything else is pure);
//! - [`probe`]: Docker/Kubernetes detection as a value you can inject;
//! - [`policy::derive`]: `(Config, RuntimeProbe) → Policy`, the derived settings;
//! - [`enforce`]: [`Security`], the policy compiled into matchers, and its pure
//!   per-request [`Decision`];
//! - [`service`]: [`Security::layer`], the tower layer that enforces it;
//! - [`checklist`]: the deploy checklist.
//!
//! ```
//! use bytes::Bytes;
//! use hardened::{config::Config, probe::RuntimeProbe, Security};
//! use http::{header, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::production(["example.com", "app.example.com"])?;
//! let security = Security::from_config(&config, &RuntimeProbe::none())?;
//! let app = ServiceBuilder::new()
//!     .layer(security.layer())
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     }));
//!
//! // A foreign Host is rejected: 400.
//! let req = Request::get("/").header(header::HOST, "evil.com").body(Full::default())?;
//! assert_eq!(app.clone().oneshot(req).await?.status(), StatusCode::BAD_REQUEST);
//!
//! // A cross-site POST is rejected: 403.
//! let req = Request::post("/transfer")
//!     .header(header::HOST, "example.com")
//!     .header(header::ORIGIN, "https://evil.com")
//!     .body(Full::default())?;
//! assert_eq!(app.clone().oneshot(req).await?.status(), StatusCode::FORBIDDEN);
//!
//! // The frontend's credentialed request gets CORS headers and the security headers.
//! let req = Request::get("/api/user")
//!     .header(header::HOST, "example.com")
//!     .header(header::ORIGIN, "https://app.example.com")
//!     .body(Full::default())?;
//! let resp = app.oneshot(req).await?;
//! assert_eq!(resp.status(), StatusCode::OK);
//! assert_eq!(resp.headers()["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
//! assert_eq!(resp.headers()["x-frame-options"], "DENY");
//! # Ok(())
//! # }
//! ```
//!
//! # Behind a reverse proxy
//!
//! TLS usually ends at a proxy (nginx, traefik, a cloud load balancer) that forwards plain
//! HTTP. In production the layer treats a request as secure when it carries
//! `X-Forwarded-Proto: https` **from a trusted proxy**: a peer in `trusted_proxies`
//! (default: loopback and internal networks). The peer address comes from the
//! [`PeerAddr`] request extension, or from axum's `ConnectInfo<SocketAddr>` with the
//! `axum` feature. Without a peer address the header is not believed (unless
//! `trusted_proxies: "*"`), so requests count as plain HTTP: no HSTS, and with
//! `ssl_redirect: true`, a redirect.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::expect_used, clippy::indexing_slicing)]

pub mod checklist;
pub mod config;
pub mod domain;
pub mod enforce;
pub mod policy;
pub mod probe;
pub mod reports;
pub mod route;
pub mod service;

pub use enforce::{
    Check, Checks, Client, CsrfExempt, Decision, PeerAddr, Rejection, Security, TlsConnection,
    Upgrade, Verdict, peer_ip,
};
pub use service::{Observer, PolicySource, Record, SecurityBody, SecurityLayer, SecurityService};

#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
