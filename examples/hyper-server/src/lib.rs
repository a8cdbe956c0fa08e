//! # example-hyper-server
//!
//! A hyper 1 server with no framework: `hyper-util` serves each connection, and
//! `tower::ServiceBuilder` puts `hardened`'s [`Security::layer()`] in front of a plain
//! `service_fn` handler. The peer address is inserted into every request as
//! [`PeerAddr`], so `X-Forwarded-Proto` is believed from trusted proxies only.
//!
//! ```text
//! cargo run -p example-hyper-server        # ./config.yaml, else development defaults
//! curl -i http://127.0.0.1:8002/                          # 200
//! curl -i -H 'Host: evil.com' http://127.0.0.1:8002/      # 400: host not allowed
//! ```
//!
//! `main` returns `Result<(), Box<dyn Error>>` and loads with `Security::load()?`: a bad
//! `config.yaml` prints the readable report (`error: config.yaml:3: … fix: …`) and exits
//! non-zero before the port opens.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use hardened::{PeerAddr, Security};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The application: one handler, unaware of security.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("hello from {} {}\n", req.method(), req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Accepts connections forever, serving each with the security layer in front of
/// `hello`.
///
/// # Errors
/// Accepting a connection failed.
pub async fn serve(listener: TcpListener, security: Security) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = tower::ServiceBuilder::new()
            // Per connection: the layer reads the peer from this extension.
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                req
            })
            .layer(security.layer())
            .service_fn(hello);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}

/// The address to listen on: `$LISTEN`, else `127.0.0.1:8002`.
pub fn listen_addr() -> Result<SocketAddr, std::net::AddrParseError> {
    std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8002".to_owned())
        .parse()
}
