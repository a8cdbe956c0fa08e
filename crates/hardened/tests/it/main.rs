//! The integration tests of `hardened`, one test binary (one link) for all:
//!
//! - `derivation`: config → policy, every row of the derivation tables;
//! - `http`: the layer over HTTP in front of axum, hyper and raw TCP clients;
//! - `nonce`: the CSP nonce in axum handlers, and its absence made explicit;
//! - `properties`: proptest properties of the public surface;
//! - `routes`: per-route policy from the file and the route layer, over HTTP;
//! - `reports`: the violation report collector (real Chromium uploads, hostile ones);
//! - `websocket`: the handshake Origin check with a real WebSocket client.

mod derivation;
mod http;
#[cfg(feature = "axum")]
mod nonce;
mod properties;
mod reports;
mod routes;
mod websocket;
