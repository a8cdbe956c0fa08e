//! # example-tonic-grpc
//!
//! A tonic 0.14 gRPC service behind [`Security::layer()`]: the host check applies to
//! HTTP/2's `:authority`, so a call addressed to a name that is not in
//! `security_domains` (or, in Docker/Kubernetes, not an internal address, `*.svc`,
//! `*.cluster.local` or the pod's host name) never reaches the service.
//!
//! No `.proto` file and no `protoc`: one unary method, `greeter.Greeter/SayHello`,
//! whose messages are UTF-8 strings carried by a hand-written [`Utf8Codec`], on tonic's
//! generic [`tonic::server::Grpc`] and [`tonic::client::Grpc`]. A generated service
//! (`tonic-prost`) plugs into the same [`serve_with`] unchanged.
//!
//! ```text
//! cargo run -p example-tonic-grpc                  # development, 127.0.0.1:50051
//! ```
//!
//! ## Behind a TLS-terminating proxy
//!
//! gRPC clients send neither `Origin` nor `Referer`. On a request that a trusted proxy
//! marks secure (`X-Forwarded-Proto: https`), the CSRF check demands a Referer, as
//! Django does, so every call through such a proxy would get `403` (gRPC status
//! `PERMISSION_DENIED`). gRPC cannot be sent cross-site by a browser without a CORS
//! preflight (`content-type: application/grpc` is not a simple request), so there use
//! [`grpc_checks`]: every check but CSRF.
//!
//! ```no_run
//! # async fn run(security: hardened::Security) -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! let layer = security.layer_with(example_tonic_grpc::grpc_checks());
//! example_tonic_grpc::serve_with(listener, layer, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut};
use hardened::{Checks, PeerAddr, Security, SecurityLayer};
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// The full gRPC path of the one method.
pub const SAY_HELLO: &str = "/greeter.Greeter/SayHello";

/// Messages are UTF-8 strings, sent as their bytes: the smallest codec there is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Codec;

impl Codec for Utf8Codec {
    type Encode = String;
    type Decode = String;
    type Encoder = Utf8Codec;
    type Decoder = Utf8Codec;

    fn encoder(&mut self) -> Utf8Codec {
        *self
    }

    fn decoder(&mut self) -> Utf8Codec {
        *self
    }
}

impl Encoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Status::invalid_argument("the message is not UTF-8"))
    }
}

/// The `greeter.Greeter` service, written as tonic's code generator would write it.
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

impl NamedService for Greeter {
    const NAME: &'static str = "greeter.Greeter";
}

/// The `SayHello` handler.
struct SayHello;

impl UnaryService<String> for SayHello {
    type Response = String;
    type Future = Ready<Result<Response<String>, Status>>;

    fn call(&mut self, request: Request<String>) -> Self::Future {
        ready(Ok(Response::new(format!(
            "hello, {}",
            request.into_inner()
        ))))
    }
}

impl tower::Service<http::Request<Body>> for Greeter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if req.uri().path() == SAY_HELLO {
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(Utf8Codec);
                Ok(grpc.unary(SayHello, req).await)
            })
        } else {
            Box::pin(ready(Ok(Status::unimplemented(format!(
                "no method {}",
                req.uri().path()
            ))
            .into_http())))
        }
    }
}

/// Calls `SayHello` on `channel`.
///
/// # Errors
/// The call's gRPC status: a rejection by the security layer arrives as one too
/// (`400` → `INTERNAL`, `403` → `PERMISSION_DENIED`).
pub async fn say_hello(channel: Channel, name: &str) -> Result<String, Status> {
    say_hello_with(channel, Request::new(name.to_owned())).await
}

/// Calls `SayHello` with a prepared request (metadata included).
///
/// # Errors
/// The call's gRPC status.
pub async fn say_hello_with(channel: Channel, request: Request<String>) -> Result<String, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let resp = grpc
        .unary(request, PathAndQuery::from_static(SAY_HELLO), Utf8Codec)
        .await?;
    Ok(resp.into_inner())
}

/// Every check but CSRF: for gRPC behind a TLS-terminating proxy (see the crate docs).
pub fn grpc_checks() -> Checks {
    Checks::ALL.with_csrf(false)
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
    serve_with(listener, security.layer(), shutdown).await
}

/// Serves [`Greeter`] on `listener` behind `layer` until `shutdown`.
///
/// # Errors
/// A transport error of the server.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    layer: SecurityLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    serve_greeter(listener, layer, Greeter::default(), shutdown).await
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
        .add_service(greeter)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
