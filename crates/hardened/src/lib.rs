//! # hardened
//!
//! Environment-aware web security for Rust services. One `security_domains` list and
//! an environment switch derive and enforce allowed hosts, CORS, CSRF, TLS redirect
//! and HSTS behind reverse proxies, secure cookies and security headers.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::expect_used, clippy::indexing_slicing)]

pub mod config;
pub mod domain;
pub mod policy;
pub mod probe;
