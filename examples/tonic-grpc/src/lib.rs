//! # example-tonic-grpc
//!
//! A tonic 0.14 gRPC service and its client, generated from
//! [`proto/greeter.proto`](../proto/greeter.proto) as tonic users write them
//! (`tonic-prost-build` in `build.rs`, with `protox` so no `protoc` is needed), behind
//! [`Security::layer()`]: the host check applies to HTTP/2's `:authority`, so a call
//! addressed to a name that is not in `security_domains` (or, in Docker/Kubernetes, not
//! an internal address, `*.svc`, `*.cluster.local` or the pod's host name) never
//! reaches the service.
//!
//! ```text
//! cargo run -p example-tonic-grpc                        # server: development, 127.0.0.1:50051
//! cargo run -p example-tonic-grpc --bin greet -- ada     # client: hello, ada
//! grpcurl -plaintext -import-path examples/tonic-grpc/proto -proto greeter.proto \
//!     -d '{"name": "ada"}' 127.0.0.1:50051 greeter.Greeter/SayHello
//! ```
//!
//! ## Behind a TLS-terminating proxy
//!
//! Use the full [`Security::layer()`] there too. gRPC clients send neither `Origin` nor
//! `Referer`; a request with `content-type: application/grpc*` cannot be sent
//! cross-site by a browser without a CORS preflight, so the CSRF check does not ask it
//! for a Referer, even when a trusted proxy marks it secure (`X-Forwarded-Proto:
//! https`). The tests show a call through such a proxy passing the full layer; nothing
//! needs to be turned off.
//!
//! Rejections are gRPC statuses: a foreign `:authority` gets `INVALID_ARGUMENT`, a CSRF
//! rejection `PERMISSION_DENIED`, each with the reason in `grpc-message`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hardened::{PeerAddr, Security, SecurityLayer};
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// The code generated from `proto/greeter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, reason = "generated code")]
pub mod proto {
    tonic::include_proto!("greeter");
}

use proto::greeter_client::GreeterClient;
use proto::greeter_server::GreeterServer;
use proto::{HelloReply, HelloRequest};

/// The `greeter.Greeter` service.
#[derive(Clone, Debug, Default)]
pub struct Greeter {
    calls: Arc<AtomicUsize>,
}

impl Greeter {
    /// A greeter counting its calls into `calls`.
    pub fn new(calls: Arc<AtomicUsize>) -> Greeter {
        Greeter { calls }
    }
}

#[tonic::async_trait]
impl proto::greeter_server::Greeter for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("hello, {name}"),
        }))
    }
}

/// Calls `SayHello` on `channel` with the generated client.
///
/// # Errors
/// The call's gRPC status: a rejection by the security layer arrives as one too.
pub async fn say_hello(channel: Channel, name: &str) -> Result<String, Status> {
    let request = Request::new(HelloRequest {
        name: name.to_owned(),
    });
    say_hello_with(channel, request).await
}

/// Calls `SayHello` with a prepared request (metadata included).
///
/// # Errors
/// The call's gRPC status.
pub async fn say_hello_with(
    channel: Channel,
    request: Request<HelloRequest>,
) -> Result<String, Status> {
    let reply = GreeterClient::new(channel).say_hello(request).await?;
    Ok(reply.into_inner().message)
}

/// Hands the security layer the peer address tonic records ([`TcpConnectInfo`]), so
/// `X-Forwarded-Proto` is believed from trusted proxies only.
fn peer_addr(mut req: http::Request<Body>) -> http::Request<Body> {
    let peer = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    if let Some(addr) = peer {
        req.extensions_mut().insert(PeerAddr(addr));
    }
    req
}

/// Serves [`Greeter`] on `listener` behind [`Security::layer()`] until `shutdown`.
///
/// # Errors
/// A transport error of the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    security: &Security,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    serve_greeter(listener, security.layer(), Greeter::default(), shutdown).await
}

/// Serves this `greeter` on `listener` behind `layer` until `shutdown`.
///
/// # Errors
/// A transport error of the server.
pub async fn serve_greeter(
    listener: tokio::net::TcpListener,
    layer: SecurityLayer,
    greeter: Greeter,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        // Outermost first: the peer address, then the security checks.
        .layer(tower::util::MapRequestLayer::new(peer_addr))
        .layer(layer)
        .add_service(GreeterServer::new(greeter))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
