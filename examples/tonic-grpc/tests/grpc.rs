//! gRPC over loopback through `Security::layer()`, with the client generated from
//! `proto/greeter.proto`: allowed calls pass, calls addressed (HTTP/2 `:authority`) to
//! a foreign host are rejected before the service runs.
//!
//! Policies are built in code with an injected runtime probe, never the real machine's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use example_tonic_grpc::proto::greeter_client::GreeterClient;
use example_tonic_grpc::proto::{HelloReply, HelloRequest};
use example_tonic_grpc::{Greeter, say_hello, say_hello_with, serve_greeter};
use hardened::config::Config;
use hardened::probe::RuntimeProbe;
use hardened::{Security, SecurityLayer};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A greeter served on 127.0.0.1:0; stopped when dropped.
struct Srv {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(layer: SecurityLayer) -> Srv {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let greeter = Greeter::new(calls.clone());
    let task = tokio::spawn(async move {
        serve_greeter(listener, layer, greeter, std::future::pending())
            .await
            .unwrap();
    });
    Srv { addr, calls, task }
}

fn production(domains: &[&str], probe: &RuntimeProbe) -> Security {
    Security::from_config(&Config::production(domains).unwrap(), probe).unwrap()
}

/// A channel to the server whose requests carry `authority` as `:authority`.
async fn channel(srv: &Srv, authority: &str) -> Channel {
    let endpoint = Endpoint::from_shared(format!("http://{}", srv.addr))
        .unwrap()
        .origin(format!("http://{authority}").parse().unwrap())
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT);
    tokio::time::timeout(TIMEOUT, endpoint.connect())
        .await
        .unwrap()
        .unwrap()
}

async fn hello(srv: &Srv, authority: &str) -> Result<String, tonic::Status> {
    let ch = channel(srv, authority).await;
    tokio::time::timeout(TIMEOUT, say_hello(ch, "ada"))
        .await
        .expect("no answer")
}

/// Asserts each `:authority` passes or is rejected (gRPC `INVALID_ARGUMENT` with the
/// reason) before the service runs.
async fn assert_authorities(srv: &Srv, cases: &[(&str, bool)]) {
    for (authority, allowed) in cases {
        let before = srv.calls.load(Ordering::SeqCst);
        let got = hello(srv, authority).await;
        let reached = srv.calls.load(Ordering::SeqCst) - before;
        if *allowed {
            assert_eq!(
                got.as_deref().ok(),
                Some("hello, ada"),
                "{authority}: {got:?}"
            );
            assert_eq!(reached, 1, "{authority}");
        } else {
            let status = got.expect_err(authority);
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{authority}: {status:?}"
            );
            assert!(
                status.message().contains("Invalid HTTP_HOST header"),
                "{authority}: {status:?}"
            );
            assert_eq!(
                reached, 0,
                "{authority}: a rejected call reached the service"
            );
        }
    }
}

#[tokio::test]
async fn production_allows_listed_authorities_only() {
    let security = production(&["grpc.example.com"], &RuntimeProbe::none());
    let srv = start(security.layer()).await;
    let own = srv.addr.to_string();
    assert_authorities(
        &srv,
        &[
            ("grpc.example.com", true),
            ("grpc.example.com:50051", true),
            ("GRPC.example.com.", true),
            ("evil.com", false),
            ("grpc.example.com.evil.com", false),
            ("localhost", false),
            (own.as_str(), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn development_allows_loopback() {
    let security = Security::from_config(&Config::development(), &RuntimeProbe::none()).unwrap();
    let srv = start(security.layer()).await;
    let own = srv.addr.to_string();
    assert_authorities(
        &srv,
        &[
            (own.as_str(), true),
            ("localhost:50051", true),
            ("[::1]:50051", true),
            ("evil.com", false),
            ("10.0.0.8:50051", false),
        ],
    )
    .await;
}

#[tokio::test]
async fn kubernetes_allows_in_cluster_names() {
    let security = production(
        &["api.example.com"],
        &RuntimeProbe::kubernetes(Some("greeter-5d8f9")),
    );
    let srv = start(security.layer()).await;
    assert_authorities(
        &srv,
        &[
            ("greeter.default.svc.cluster.local:50051", true),
            ("greeter.default.svc:50051", true),
            ("greeter-5d8f9:50051", true),
            ("10.96.0.12:50051", true),
            ("api.example.com", true),
            ("greeter", false),
            ("evil.com", false),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_method_reaches_the_service() {
    let security = production(&["grpc.example.com"], &RuntimeProbe::none());
    let srv = start(security.layer()).await;
    let ch = channel(&srv, "grpc.example.com").await;
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<HelloRequest, HelloReply, _>(
            Request::new(HelloRequest { name: "x".into() }),
            http::uri::PathAndQuery::from_static("/greeter.Greeter/Nope"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

/// A request the loopback proxy marks secure, as a TLS-terminating ingress would.
fn via_tls_proxy() -> Request<HelloRequest> {
    let mut req = Request::new(HelloRequest { name: "ada".into() });
    req.metadata_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    req
}

/// With the full `Security::layer()`, a gRPC call that a trusted TLS-terminating proxy
/// marks secure (`X-Forwarded-Proto: https`) passes: gRPC clients send no Origin and no
/// Referer, and `content-type: application/grpc` cannot be sent cross-site by a browser
/// without a CORS preflight, so the Referer requirement does not apply to it.
#[tokio::test]
async fn behind_a_tls_proxy_with_the_full_layer() {
    let security = production(&["grpc.example.com"], &RuntimeProbe::none());
    let srv = start(security.layer()).await;
    let ch = channel(&srv, "grpc.example.com").await;
    let got = tokio::time::timeout(TIMEOUT, say_hello_with(ch, via_tls_proxy()))
        .await
        .unwrap();
    assert_eq!(got.unwrap(), "hello, ada");
    // Still host-checked.
    let ch = channel(&srv, "evil.com").await;
    let got = tokio::time::timeout(TIMEOUT, say_hello_with(ch, via_tls_proxy()))
        .await
        .unwrap();
    assert_eq!(got.unwrap_err().code(), Code::InvalidArgument);
}

/// The generated client, used as a tonic user would.
#[tokio::test]
async fn the_generated_client_calls_the_service() {
    let security = production(&["grpc.example.com"], &RuntimeProbe::none());
    let srv = start(security.layer()).await;
    let mut client = GreeterClient::new(channel(&srv, "grpc.example.com").await);
    let reply = client
        .say_hello(HelloRequest {
            name: "grace".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "hello, grace");
    assert_eq!(srv.calls.load(Ordering::SeqCst), 1);
}

/// Rejections of `content-type: application/grpc*` requests are answered gRPC-style
/// (HTTP 200, trailers-only, `grpc-status` 3 `INVALID_ARGUMENT` for the host check or 7
/// `PERMISSION_DENIED` for CSRF, `grpc-message` with the reason), so clients see why.
#[tokio::test]
async fn rejections_are_grpc_statuses() {
    let security = production(&["grpc.example.com"], &RuntimeProbe::none());
    let srv = start(security.layer()).await;
    let status = hello(&srv, "evil.com").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("evil.com"), "{status:?}");
}
