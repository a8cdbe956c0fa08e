//! Cross-site WebSocket hijacking: an axum app using `axum::extract::ws` behind
//! `Security::layer()`, served on loopback and reached by a real WebSocket client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use hardened::Security;
use hardened::config::Config;
use hardened::probe::RuntimeProbe;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// An echo app behind the layer; counts the handshakes its handler saw.
async fn serve(security: Security) -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = Router::new()
        .route(
            "/ws",
            get(move |ws: WebSocketUpgrade| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { ws.on_upgrade(echo) }
            }),
        )
        .layer(security.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (addr, seen, task)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        if let AxumMessage::Text(_) | AxumMessage::Binary(_) = msg
            && socket.send(msg).await.is_err()
        {
            return;
        }
    }
}

/// Opens a WebSocket to `addr` with the given `Host` and `Origin`.
async fn connect(
    addr: SocketAddr,
    host: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let mut req = format!("ws://{addr}/ws")
        .into_client_request()
        .unwrap_or_else(|e| panic!("request: {e}"));
    req.headers_mut()
        .insert("host", host.parse().unwrap_or_else(|e| panic!("host: {e}")));
    if let Some(o) = origin {
        req.headers_mut().insert(
            "origin",
            o.parse().unwrap_or_else(|e| panic!("origin: {e}")),
        );
    }
    let fut = tokio_tungstenite::connect_async(req);
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r.map(|(ws, _)| ws),
        Err(_) => panic!("handshake timed out"),
    }
}

fn security() -> Security {
    let cfg = Config::production(["example.com", "https://app.example.com"])
        .unwrap_or_else(|e| panic!("{e}"));
    Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_allowed_page_opens_a_websocket() {
    let (addr, seen, task) = serve(security()).await;
    let mut ws = connect(addr, "example.com", Some("https://app.example.com"))
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}"));
    ws.send(Message::text("ping"))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match reply {
        Ok(Some(Ok(Message::Text(t)))) => assert_eq!(t.as_str(), "ping"),
        other => panic!("expected the echo, got {other:?}"),
    }
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    task.abort();
}

#[tokio::test]
async fn a_foreign_page_never_reaches_the_handler() {
    let (addr, seen, task) = serve(security()).await;
    for origin in ["https://evil.test", "null", "http://app.example.com"] {
        match connect(addr, "example.com", Some(origin)).await {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status(), 403, "{origin}");
                let body = resp
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                assert!(body.contains("WebSocket handshake refused"), "{body}");
            }
            other => panic!("{origin}: expected 403, got {other:?}"),
        }
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
    task.abort();
}

#[tokio::test]
async fn a_client_without_origin_is_not_a_browser_and_passes() {
    let (addr, seen, task) = serve(security()).await;
    let ws = connect(addr, "example.com", None).await;
    assert!(ws.is_ok(), "{:?}", ws.err());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    task.abort();
}
