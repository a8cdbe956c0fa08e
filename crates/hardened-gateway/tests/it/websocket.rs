//! WebSockets through the gateway, in process: a tungstenite echo server on 127.0.0.1
//! as the upstream, a [`Gateway`] on 127.0.0.1 in front of it, and a tungstenite
//! client talking to the gateway.
//!
//! Only 127.0.0.1 is used. Every wait is bounded; every gateway is stopped when its
//! test ends, and every upstream's accept task (with its connection tasks) is aborted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::result_large_err
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hardened_gateway::{Gateway, GatewayOptions, parse_upstream};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{Running, security, shared};

/// The longest any single exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- the gateway

/// A gateway on 127.0.0.1 in front of `upstream`, with the development defaults.
async fn start(upstream: SocketAddr, options: GatewayOptions) -> Running {
    let upstream = parse_upstream(&format!("http://{upstream}")).unwrap();
    Running::serve(Gateway::new(security(None), upstream, options)).await
}

/// `ws://<gateway><path>`.
fn ws_url(gw: &Running, path: &str) -> String {
    format!("ws://{}{path}", gw.addr)
}

fn options() -> GatewayOptions {
    GatewayOptions::default().with_upstream_timeout(Duration::from_secs(5))
}

// ---------------------------------------------------------------- the upstream

/// A tungstenite echo server on 127.0.0.1: echoes text and binary messages, answers
/// the text `bye` by closing, and reports each WebSocket that ended.
struct Upstream {
    addr: SocketAddr,
    /// TCP connections accepted.
    accepted: Arc<AtomicUsize>,
    /// One message per WebSocket connection that ended.
    ended: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Waits (bounded) for one upstream WebSocket to end.
    async fn wait_ended(&mut self) {
        tokio::time::timeout(TIMEOUT, self.ended.recv())
            .await
            .expect("the upstream side is still open")
            .unwrap();
    }
}

/// The echo server; `reject` makes it refuse every handshake with that status.
async fn ws_upstream(reject: Option<StatusCode>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        // Dropped with this task when the test ends: aborts every connection.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let ended = ended_tx.clone();
            connections.spawn(async move {
                let callback = move |_req: &Request, resp: Response| match reject {
                    Some(status) => {
                        let mut refusal = ErrorResponse::new(Some("refused".to_owned()));
                        *refusal.status_mut() = status;
                        Err(refusal)
                    }
                    None => Ok(resp),
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Text(t) if t.as_str() == "bye" => {
                            let _ = ws.close(None).await;
                        }
                        Message::Text(_) | Message::Binary(_) => {
                            let sent = ws.send(msg).await;
                            if sent.is_err() {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let _ = ended.send(());
            });
        }
    });
    Upstream {
        addr,
        accepted,
        ended,
        task,
    }
}

// ---------------------------------------------------------------- the client

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client connected through the gateway (bounded).
async fn connect(url: &str, headers: &[(&'static str, &str)]) -> Result<Ws, WsError> {
    let mut req = url.into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(*name, value.parse().unwrap());
    }
    tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .expect("the handshake hangs")
        .map(|(ws, _)| ws)
}

/// The next message (bounded).
async fn next(ws: &mut Ws) -> Option<Result<Message, WsError>> {
    tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("no message and no close")
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_binary_messages_echo() {
    let _shared = shared().await;
    let up = ws_upstream(None).await;
    let gw = start(up.addr, options()).await;
    let mut ws = connect(&ws_url(&gw, "/socket?room=1"), &[]).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::text("hello")
    );
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.close(None).await.unwrap();
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_passes() {
    let _shared = shared().await;
    let up = ws_upstream(None).await;
    let gw = start(up.addr, options()).await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match next(&mut ws).await.unwrap().unwrap() {
        Message::Binary(got) => assert!(got == big, "the 1 MiB message came back changed"),
        other => panic!("expected the binary message back, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_closing_closes_the_upstream_side() {
    let _shared = shared().await;
    let mut up = ws_upstream(None).await;
    let gw = start(up.addr, options()).await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    ws.send(Message::text("x")).await.unwrap();
    next(&mut ws).await.unwrap().unwrap();
    ws.close(None).await.unwrap();
    // The close handshake completes through the tunnel, then the stream ends.
    loop {
        match next(&mut ws).await {
            Some(Ok(Message::Close(_))) => {}
            None | Some(Err(WsError::ConnectionClosed)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    up.wait_ended().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_closing_closes_the_client_side() {
    let _shared = shared().await;
    let mut up = ws_upstream(None).await;
    let gw = start(up.addr, options()).await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    ws.send(Message::text("bye")).await.unwrap();
    assert!(matches!(next(&mut ws).await, Some(Ok(Message::Close(_)))));
    // tungstenite answers the close; then the connection ends on both sides.
    assert!(matches!(
        next(&mut ws).await,
        None | Some(Err(WsError::ConnectionClosed))
    ));
    up.wait_ended().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_is_closed_after_the_websocket_idle_timeout() {
    let _shared = shared().await;
    let mut up = ws_upstream(None).await;
    let gw = start(
        up.addr,
        options().with_websocket_idle_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    ws.send(Message::text("x")).await.unwrap();
    next(&mut ws).await.unwrap().unwrap();
    let idle_from = Instant::now();
    // No close frame (the gateway does not know where frames start): the TCP
    // connection just ends.
    match next(&mut ws).await {
        None | Some(Err(_)) => {}
        Some(Ok(m)) => panic!("unexpected message {m:?}"),
    }
    let waited = idle_from.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    up.wait_ended().await;
}

/// Upgraded connections are not HTTP connections any more: the HTTP idle timeout does
/// not apply to them, only the tunnel's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_outlives_the_http_idle_timeout() {
    let _shared = shared().await;
    let up = ws_upstream(None).await;
    let gw = start(
        up.addr,
        options()
            .with_idle_timeout(Duration::from_millis(500))
            .with_header_read_timeout(Duration::from_millis(500)),
    )
    .await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::text("still here")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_reaches_the_client_as_such() {
    let _shared = shared().await;
    let up = ws_upstream(Some(StatusCode::FORBIDDEN)).await;
    let gw = start(up.addr, options()).await;
    match connect(&ws_url(&gw, "/"), &[]).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
            // The upstream's own body (tungstenite's client does not decode chunks).
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(body.contains("refused"), "{body}");
        }
        other => panic!("expected the upstream's 403, got {other:?}"),
    }
}

/// `Upgrade: h2c` is never forwarded: the upstream sees a plain request without
/// `Upgrade` and `Connection`, and the client a plain answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_upgrade_is_not_forwarded() {
    let _shared = shared().await;
    use http_body_util::Full;
    // An HTTP upstream that answers with the Upgrade and Connection headers it saw.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| {
                let seen = format!(
                    "upgrade={:?} connection={:?}",
                    req.headers().get("upgrade"),
                    req.headers().get("connection")
                );
                async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        bytes::Bytes::from(seen),
                    )))
                }
            });
            connections.spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .with_upgrades(),
            );
        }
    });
    let gw = start(addr, options()).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("upgrade=None connection=None"), "{answer}");
    upstream.abort();
}

/// At shutdown an open tunnel may run for the drain timeout; then it is closed and
/// `serve` returns.
///
/// Timing, explicitly: the only thing that must be quick is one loopback echo through
/// the tunnel after the listener closed, within [`DRAIN`] (2 s); the failure message
/// says how long it took. The exit is checked not to come before [`DRAIN`] (a lower
/// bound, which a slow machine cannot break).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_tunnels_after_the_drain_timeout() {
    const DRAIN: Duration = Duration::from_secs(2);
    let _shared = shared().await;
    let mut up = ws_upstream(None).await;
    let mut gw = start(up.addr, options().with_drain_timeout(DRAIN)).await;
    let mut ws = connect(&ws_url(&gw, "/"), &[]).await.unwrap();
    ws.send(Message::text("x")).await.unwrap();
    next(&mut ws).await.unwrap().unwrap();
    gw.shutdown();
    let asked = Instant::now();
    // Draining has begun once the listener is closed: a new connection is refused.
    let start = Instant::now();
    while tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
        assert!(start.elapsed() < TIMEOUT, "the listener was not closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The tunnel is still open while the gateway drains.
    ws.send(Message::text("y")).await.unwrap();
    let echoed = next(&mut ws).await;
    let echo_at = asked.elapsed();
    assert!(
        matches!(&echoed, Some(Ok(m)) if *m == Message::text("y")),
        "no echo while draining: {echoed:?}, {echo_at:?} after the request to stop \
         (drain timeout {DRAIN:?})"
    );
    gw.wait_exit(TIMEOUT).await;
    let exit_at = asked.elapsed();
    assert!(
        exit_at >= DRAIN,
        "serve returned {exit_at:?} after the request to stop, before the drain timeout"
    );
    match next(&mut ws).await {
        None | Some(Err(_)) => {}
        Some(Ok(m)) => panic!("unexpected message {m:?}"),
    }
    up.wait_ended().await;
}

/// The layer refuses a cross-site WebSocket handshake (an `Origin` that is neither the
/// request's own nor an allowed CORS origin) before the upstream sees a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_handshake_never_reaches_the_upstream() {
    let _shared = shared().await;
    let up = ws_upstream(None).await;
    let gw = start(up.addr, options()).await;
    match connect(&ws_url(&gw, "/"), &[("origin", "https://evil.test")]).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::FORBIDDEN),
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 0);
}
