//! # hardened
//!
//! Environment-aware web security for Rust services. One `security_domains` list and
//! an environment switch derive and enforce allowed hosts, CORS, CSRF, TLS redirect
//! and HSTS behind reverse proxies, secure cookies and security headers: open for
//! localhost in development, strict in production, aware of Docker and Kubernetes.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::expect_used, clippy::indexing_slicing)]

pub mod config;
mod cookies;
pub mod domain;
mod matcher;
pub mod policy;
pub mod probe;
mod security;
pub mod service;

pub use security::{
    Allowed, Check, Checks, CsrfExempt, Decision, PeerAddr, Rejection, Security, TlsConnection,
    peer_ip,
};
pub use service::{SecurityBody, SecurityLayer, SecurityService};
