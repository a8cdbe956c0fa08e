//! The integration tests of `hardened-gateway`, one test binary (one link) for all, with
//! what they share in `common`:
//!
//! - `gateway`: forwarding in process (streaming, headers, 502/504, HTTP/2, shutdown);
//! - `forward_holes`: what reaches real peers (Django under gunicorn, nginx);
//! - `websocket`: tunnels through the gateway;
//! - `timeouts`: connection deadlines;
//! - `policy_edges`: where the gateway meets the policy;
//! - `slow_clients`: slow clients against a worker-limited upstream, memory bounds;
//! - `reload`: policy reload while serving;
//! - `routes`: per-route policy from the file, and its reload;
//! - `admin`: the admin listener, metrics and request ids;
//! - `reports`: the violation report collector;
//! - `tls`: direct TLS.
//!
//! The memory tests of `slow_clients` measure this process's RSS: every other test
//! holds a share of [`common::EXCLUSIVE`] while it runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

mod admin;
mod forward_holes;
mod gateway;
mod policy_edges;
mod reload;
mod reports;
mod routes;
mod slow_clients;
mod timeouts;
mod tls;
mod websocket;
